// integer_test.cpp - ONNX's integer arithmetic through dz::onnx::import_model and `dzc run`:
// Div truncates toward zero and keeps the integer type, Mod with fmod = 0 takes the
// divisor's sign (Python's %) and with fmod = 1 the dividend's (C's %), Pow on integers is
// onnxruntime's (std::pow in float64, truncated), comparisons are exact, ReduceMean of
// integers truncates; a divisor of 0 gives 0. A shape computation (Shape, Gather, Div)
// feeding a Reshape, as PyTorch's transformer exports have, runs too.
#include "temp_dir.h"

#include <dzc/dzc.h>
#include <dzc/onnx.h>

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using dz::Tensor;

using dz::testing::TempDir;

namespace {

void value_info(::onnx::ValueInfoProto *v, const std::string &name, int32_t elem,
                const std::vector<int64_t> &dims) {
  v->set_name(name);
  auto *t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  t->mutable_shape(); // a 0-d tensor has a shape too, of no dimensions
  for (int64_t d : dims)
    t->mutable_shape()->add_dim()->set_dim_value(d);
}

::onnx::NodeProto *node(::onnx::GraphProto *g, const std::string &op,
                        const std::vector<std::string> &in, const std::string &out) {
  ::onnx::NodeProto *n = g->add_node();
  n->set_op_type(op);
  n->set_name(out);
  for (const std::string &i : in)
    n->add_input(i);
  n->add_output(out);
  return n;
}

void int_attr(::onnx::NodeProto *n, const std::string &name, int64_t v) {
  ::onnx::AttributeProto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}

/// a, b (n) of `elem` in; Div, Mod (both modes), Pow, Less, Equal, Greater out, and
/// ReduceMean of a.
std::string arithmetic_model(int32_t elem, int64_t n) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  ::onnx::GraphProto *g = m.mutable_graph();
  g->set_name("integers");
  value_info(g->add_input(), "a", elem, {n});
  value_info(g->add_input(), "b", elem, {n});
  node(g, "Div", {"a", "b"}, "div");
  int_attr(node(g, "Mod", {"a", "b"}, "mod"), "fmod", 0);
  int_attr(node(g, "Mod", {"a", "b"}, "fmod"), "fmod", 1);
  node(g, "Pow", {"a", "b"}, "pow");
  node(g, "Less", {"a", "b"}, "less");
  node(g, "Equal", {"a", "b"}, "equal");
  node(g, "Greater", {"a", "b"}, "greater");
  int_attr(node(g, "ReduceMean", {"a"}, "mean"), "keepdims", 0);
  for (const char *o : {"div", "mod", "fmod", "pow"})
    value_info(g->add_output(), o, elem, {n});
  for (const char *o : {"less", "equal", "greater"})
    value_info(g->add_output(), o, ::onnx::TensorProto::BOOL, {n});
  value_info(g->add_output(), "mean", elem, {});
  return m.SerializeAsString();
}

std::vector<int64_t> ints_of(const Tensor &t) {
  Tensor c = t.to(dz::i64);
  return std::vector<int64_t>(c.data<int64_t>(), c.data<int64_t>() + c.size());
}

// The references: C's / and %, Python's % (b of 0: 0), and onnxruntime's integer Pow.
int64_t trunc_q(int64_t a, int64_t b) { return b == 0 ? 0 : a / b; }
int64_t py_mod(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  int64_t r = a % b;
  return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}
int64_t c_mod(int64_t a, int64_t b) { return b == 0 ? 0 : a % b; }
int64_t ort_pow(int64_t a, int64_t b) { return int64_t(std::pow(double(a), double(b))); }

const std::vector<int64_t> kA = {7, -7, 7, -7, 9, -9, 5, 0, 3, -2, 2, 1};
const std::vector<int64_t> kB = {2, 2, -2, -2, 3, 3, 0, 4, 3, 3, -1, -3};

void expect_arithmetic(const std::vector<Tensor> &y, dz::DType dt) {
  ASSERT_EQ(y.size(), 8u);
  std::vector<int64_t> div, mod, fmod, pow, less, equal, greater;
  int64_t sum = 0;
  for (size_t i = 0; i < kA.size(); ++i) {
    const int64_t a = kA[i], b = kB[i];
    div.push_back(trunc_q(a, b));
    mod.push_back(py_mod(a, b));
    fmod.push_back(c_mod(a, b));
    pow.push_back(ort_pow(a, b));
    less.push_back(a < b);
    equal.push_back(a == b);
    greater.push_back(a > b);
    sum += a;
  }
  for (size_t k = 0; k < 4; ++k)
    EXPECT_EQ(y[k].dtype(), dt) << "output " << k;
  for (size_t k = 4; k < 7; ++k)
    EXPECT_EQ(y[k].dtype(), dz::b8) << "output " << k;
  EXPECT_EQ(ints_of(y[0]), div) << "Div truncates toward zero";
  EXPECT_EQ(ints_of(y[1]), mod) << "Mod fmod = 0: the divisor's sign";
  EXPECT_EQ(ints_of(y[2]), fmod) << "Mod fmod = 1: the dividend's sign";
  EXPECT_EQ(ints_of(y[3]), pow) << "Pow: float64 power truncated";
  EXPECT_EQ(ints_of(y[4]), less);
  EXPECT_EQ(ints_of(y[5]), equal);
  EXPECT_EQ(ints_of(y[6]), greater);
  EXPECT_EQ(y[7].dtype(), dt);
  EXPECT_EQ(ints_of(y[7]), std::vector<int64_t>{trunc_q(sum, int64_t(kA.size()))});
}

int dzc(const std::string &args) {
  return std::system((std::string(DZ_DZC) + " " + args + " 2>/dev/null").c_str());
}

} // namespace

TEST(OnnxIntegers, DivModPowAndComparisonsFollowOnnxInInt64AndInt32) {
  TempDir dir("dz-int");
  for (auto [elem, dt] : {std::pair{int32_t(::onnx::TensorProto::INT64), dz::i64},
                          std::pair{int32_t(::onnx::TensorProto::INT32), dz::i32}}) {
    SCOPED_TRACE(dz::dtype_name(dt));
    const std::string path = dir.file(std::string("int_") + dz::dtype_name(dt) + ".onnx");
    std::ofstream(path, std::ios::binary) << arithmetic_model(elem, int64_t(kA.size()));
    Tensor a = Tensor::from_i64(kA).to(dt), b = Tensor::from_i64(kB).to(dt);
    dz::onnx::ImportedModel model = dz::onnx::import_model(path);
    expect_arithmetic(model({a, b}), dt);
    EXPECT_NE(model.optimized_ir().find("dz.trunc_divide"), std::string::npos);
  }
}

TEST(OnnxIntegers, DzcRunGivesTheSameIntegers) {
  TempDir dir("dz-int");
  std::ofstream(dir.file("m.onnx"), std::ios::binary)
      << arithmetic_model(::onnx::TensorProto::INT64, int64_t(kA.size()));
  dz::save_npy(dir.file("a.npy"), Tensor::from_i64(kA));
  dz::save_npy(dir.file("b.npy"), Tensor::from_i64(kB));
  ASSERT_EQ(dzc("run " + dir.file("m.onnx") + " --input " + dir.file("a.npy") + " --input " +
                dir.file("b.npy") + " --output-dir " + dir.file("out")),
            0);
  std::vector<Tensor> y;
  for (int k = 0; k < 8; ++k)
    y.push_back(dz::load_npy(dir.file("out/output_" + std::to_string(k) + ".npy")));
  expect_arithmetic(y, dz::i64);
}

// x (2, 3, 8) reshaped to (2, 3, 2, 4) by a shape computed from Shape(x): the last
// dimension divided by 4 heads, the shape arithmetic of an exported attention layer.
TEST(OnnxIntegers, ShapeArithmeticWithDivFeedsAReshape) {
  TempDir dir("dz-int");
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  ::onnx::GraphProto *g = m.mutable_graph();
  g->set_name("heads");
  value_info(g->add_input(), "x", ::onnx::TensorProto::FLOAT, {2, 3, 8});
  auto constant = [&](const std::string &name, const std::vector<int64_t> &v, bool scalar) {
    ::onnx::TensorProto *t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    if (!scalar)
      t->add_dims(int64_t(v.size()));
    for (int64_t e : v)
      t->add_int64_data(e);
  };
  constant("two", {2}, true);
  constant("heads", {4}, true);
  constant("lead", {0, 1}, false);
  constant("axes", {0}, false);
  node(g, "Shape", {"x"}, "shape");
  node(g, "Gather", {"shape", "two"}, "last");
  node(g, "Div", {"last", "heads"}, "per_head");
  node(g, "Unsqueeze", {"per_head", "axes"}, "per_head_1");
  node(g, "Unsqueeze", {"heads", "axes"}, "heads_1");
  node(g, "Gather", {"shape", "lead"}, "lead_dims");
  int_attr(node(g, "Concat", {"lead_dims", "per_head_1", "heads_1"}, "to"), "axis", 0);
  node(g, "Reshape", {"x", "to"}, "y");
  value_info(g->add_output(), "y", ::onnx::TensorProto::FLOAT, {2, 3, 2, 4});
  std::ofstream(dir.file("heads.onnx"), std::ios::binary) << m.SerializeAsString();
  Tensor x = dz::randn({2, 3, 8}, dz::f32, 3);
  std::vector<Tensor> y = dz::onnx::import_model(dir.file("heads.onnx"))({x});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0].shape(), (dz::Shape{2, 3, 2, 4}));
  EXPECT_EQ(dz::max_abs_diff(y[0], x.reshape({2, 3, 2, 4})), 0.0);
}

// uint8, int8 and float16 nodes compute in a wide type and convert back: integer results
// wrap around (also in an intermediate without a declared type), float16 rounds to nearest
// even with NaN and infinity kept; BitShift's LEFT wraps too. Through import_model and
// through `dzc run` with `.npy` files (`|u1`, `<f2`).
TEST(OnnxIntegers, NarrowTypesWrapAroundAndRoundAsOnnxSays) {
  TempDir dir("dz-int");
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  ::onnx::GraphProto *g = m.mutable_graph();
  g->set_name("narrow");
  value_info(g->add_input(), "a", ::onnx::TensorProto::UINT8, {4});
  value_info(g->add_input(), "b", ::onnx::TensorProto::UINT8, {4});
  value_info(g->add_input(), "p", ::onnx::TensorProto::INT8, {4});
  value_info(g->add_input(), "h", ::onnx::TensorProto::FLOAT16, {4});
  ::onnx::TensorProto *s = g->add_initializer();
  s->set_name("s");
  s->set_data_type(::onnx::TensorProto::UINT8);
  s->add_dims(4);
  for (int v : {1, 1, 7, 8})
    s->add_int32_data(v);
  node(g, "Add", {"a", "b"}, "add");
  node(g, "Mul", {"add", "b"}, "mul"); // no declared type: the inputs' uint8
  node(g, "Sub", {"mul", "a"}, "sub");
  ::onnx::NodeProto *shl = node(g, "BitShift", {"a", "s"}, "shl");
  ::onnx::AttributeProto *dir_attr = shl->add_attribute();
  dir_attr->set_name("direction");
  dir_attr->set_type(::onnx::AttributeProto::STRING);
  dir_attr->set_s("LEFT");
  node(g, "Sub", {"p", "p2"}, "psub");
  node(g, "Neg", {"p"}, "p2");
  node(g, "Add", {"h", "h"}, "hadd");
  int_attr(node(g, "Cast", {"h"}, "hf"), "to", ::onnx::TensorProto::FLOAT);
  for (const char *o : {"add", "sub", "shl"})
    value_info(g->add_output(), o, ::onnx::TensorProto::UINT8, {4});
  value_info(g->add_output(), "psub", ::onnx::TensorProto::INT8, {4});
  value_info(g->add_output(), "hadd", ::onnx::TensorProto::FLOAT16, {4});
  value_info(g->add_output(), "hf", ::onnx::TensorProto::FLOAT, {4});
  // p2 is defined after its use above: move Neg first.
  g->mutable_node()->SwapElements(4, 5);
  const std::string path = dir.file("narrow.onnx");
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();

  const Tensor a = Tensor::from({200, 255, 3, 0}, {4}, dz::u8);
  const Tensor b = Tensor::from({100, 1, 250, 1}, {4}, dz::u8);
  const Tensor p = Tensor::from({100, -128, 5, 127}, {4}, dz::i8);
  const Tensor h = Tensor::from({1.0, 65504.0, 0.1, NAN}, {4}, dz::f16);
  auto check = [&](const std::vector<Tensor> &y) {
    ASSERT_EQ(y.size(), 6u);
    EXPECT_EQ(y[0].dtype(), dz::u8);
    EXPECT_EQ(ints_of(y[0]), (std::vector<int64_t>{44, 0, 253, 1}));
    // (a + b) * b wraps to [48, 0, 18, 1], minus a wraps again.
    EXPECT_EQ(ints_of(y[1]), (std::vector<int64_t>{104, 1, 15, 1}));
    EXPECT_EQ(ints_of(y[2]), (std::vector<int64_t>{144, 254, 128, 0}));
    EXPECT_EQ(y[3].dtype(), dz::i8);
    EXPECT_EQ(ints_of(y[3]), (std::vector<int64_t>{-56, 0, 10, -2})); // p - (-p)
    EXPECT_EQ(y[4].dtype(), dz::f16);
    EXPECT_EQ(y[4].at(0), 2.0);
    EXPECT_EQ(y[4].at(1), INFINITY); // 131008 overflows float16
    EXPECT_EQ(y[4].at(2), double(dz::f16_bits_to_float(dz::float_to_f16_bits(
                              2 * dz::f16_bits_to_float(dz::float_to_f16_bits(0.1f))))));
    EXPECT_TRUE(std::isnan(y[4].at(3)));
    EXPECT_EQ(y[5].dtype(), dz::f32);
    EXPECT_EQ(y[5].at(2), 0.0999755859375);
  };
  check(dz::onnx::import_model(path)({a, b, p, h}));

  int k = 0;
  std::string inputs;
  for (const Tensor &t : {a, b, p, h}) {
    const std::string f = dir.file("in" + std::to_string(k++) + ".npy");
    dz::save_npy(f, t);
    inputs += " --input " + f;
  }
  ASSERT_EQ(dzc("run " + path + inputs + " --output-dir " + dir.file("out")), 0);
  std::vector<Tensor> y;
  for (int i = 0; i < 6; ++i)
    y.push_back(dz::load_npy(dir.file("out/output_" + std::to_string(i) + ".npy")));
  check(y);
}
