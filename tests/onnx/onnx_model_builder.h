// onnx_model_builder.h - ONNX models built in the tests with ONNX's protobuf classes (no
// MLIR): a builder of graphs (float32 or float64 tensors, int64 initializers, symbolic
// batch dimensions), attribute setters and seeded data.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace dz::onnx_test {

using Dims = std::vector<int64_t>;

/// A model built field by field: float32 or float64 tensors (`elem`) unless an input or
/// output says otherwise; a dimension -1 of an input or output is the symbolic "N".
class ModelBuilder {
public:
  explicit ModelBuilder(int32_t elem = ::onnx::TensorProto::FLOAT, int64_t opset = 13)
      : elem_(elem) {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(opset);
    model_.mutable_graph()->set_name("test_model");
  }
  ModelBuilder &input(const std::string &name, const Dims &dims, int32_t elem = -1) {
    value_info(model_.mutable_graph()->add_input(), name, dims, elem < 0 ? elem_ : elem);
    return *this;
  }
  ModelBuilder &output(const std::string &name, const Dims &dims, int32_t elem = -1) {
    value_info(model_.mutable_graph()->add_output(), name, dims, elem < 0 ? elem_ : elem);
    return *this;
  }
  ModelBuilder &initializer(const std::string &name, const Dims &dims,
                            const std::vector<double> &values) {
    ::onnx::TensorProto *t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_);
    for (int64_t d : dims)
      t->add_dims(d);
    for (double v : values)
      elem_ == ::onnx::TensorProto::FLOAT ? t->add_float_data(float(v)) : t->add_double_data(v);
    return *this;
  }
  /// An int64 initializer (indices, axes, repeats).
  ModelBuilder &int_initializer(const std::string &name, const Dims &dims,
                                const std::vector<int64_t> &values) {
    ::onnx::TensorProto *t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    for (int64_t d : dims)
      t->add_dims(d);
    for (int64_t v : values)
      t->add_int64_data(v);
    return *this;
  }
  ::onnx::NodeProto &node(const std::string &op, const std::vector<std::string> &inputs,
                          const std::vector<std::string> &outputs, const std::string &name) {
    ::onnx::NodeProto *n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string &i : inputs)
      n->add_input(i);
    for (const std::string &o : outputs)
      n->add_output(o);
    return *n;
  }
  /// The graph's name (the imported function's name).
  ModelBuilder &name(const std::string &graph_name) {
    model_.mutable_graph()->set_name(graph_name);
    return *this;
  }
  /// A graph input of one dimension, its type to be set by the caller.
  ::onnx::ValueInfoProto *mutable_input(const std::string &name) {
    ::onnx::ValueInfoProto *v = model_.mutable_graph()->add_input();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(2);
    return v;
  }
  std::string bytes() const { return model_.SerializeAsString(); }
  void save(const std::string &path) const { std::ofstream(path, std::ios::binary) << bytes(); }
  ::onnx::ModelProto &model() { return model_; }

private:
  static void value_info(::onnx::ValueInfoProto *v, const std::string &name, const Dims &dims,
                         int32_t elem) {
    v->set_name(name);
    auto *t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem);
    for (int64_t d : dims) {
      auto *dim = t->mutable_shape()->add_dim();
      d < 0 ? dim->set_dim_param("N") : dim->set_dim_value(d);
    }
  }
  int32_t elem_;
  ::onnx::ModelProto model_;
};

inline void ints(::onnx::NodeProto &n, const std::string &name, const Dims &values) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t v : values)
    a->add_ints(v);
}
inline void int_attr(::onnx::NodeProto &n, const std::string &name, int64_t value) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(value);
}
inline void string_attr(::onnx::NodeProto &n, const std::string &name, const std::string &value) {
  ::onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(value);
}

inline std::vector<double> uniform(size_t n, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double &e : v)
    e = u(gen);
  return v;
}

inline int64_t numel(const Dims &d) {
  int64_t n = 1;
  for (int64_t e : d)
    n *= e;
  return n;
}

} // namespace dz::onnx_test
