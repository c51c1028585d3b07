// Model.cpp - the protobuf side of the ONNX front end: reading and validating a
// ModelProto (Proto.h), TensorProto files as dz::Tensor and the op statistics of a model
// (dzc/onnx/Model.h). No MLIR here.
#include "Proto.h"

#include <dzc/onnx/Model.h>

#include <onnx/checker.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace dz::onnx {

namespace {

// The newest IR version and default-domain opset that ONNX 1.12's checker knows.
constexpr int64_t kCheckerIrVersion = 8, kCheckerOpset = 17;

int64_t element_count(const ::onnx::TensorProto &proto, const std::string &what) {
  int64_t n = 1;
  for (int64_t d : proto.dims())
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 40))
      throw dz::Error(what + ": invalid shape (a negative or too large dimension)");
  return n;
}

template <typename T, typename Field> void copy_as(const Field &field, int64_t n, Tensor &t) {
  T *p = static_cast<T *>(t.raw());
  for (int64_t i = 0; i < n; ++i)
    p[i] = T(field.Get(int(i)));
}

/// The values of a typed field into t. The 16-bit floats come as their bits (ONNX keeps
/// them in int32_data); the narrower integers wrap as C++ conversions do.
template <typename Field> void copy_typed(const Field &field, int64_t n, Tensor &t) {
  switch (t.dtype()) {
  case DType::f32:
    return copy_as<float>(field, n, t);
  case DType::f64:
    return copy_as<double>(field, n, t);
  case DType::i64:
    return copy_as<int64_t>(field, n, t);
  case DType::i32:
    return copy_as<int32_t>(field, n, t);
  case DType::u8:
    return copy_as<uint8_t>(field, n, t);
  case DType::b8: // stored in int32_data: any nonzero value is true
    for (int64_t i = 0; i < n; ++i)
      t.data<bool>()[i] = field.Get(int(i)) != 0;
    return;
  case DType::i8:
    return copy_as<int8_t>(field, n, t);
  case DType::i16:
    return copy_as<int16_t>(field, n, t);
  case DType::u16:
  case DType::f16:
  case DType::bf16:
    return copy_as<uint16_t>(field, n, t);
  case DType::u32:
    return copy_as<uint32_t>(field, n, t);
  case DType::u64:
    return copy_as<uint64_t>(field, n, t);
  }
}

} // namespace

std::string read_file(const std::string &path, const std::string &what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw dz::Error(what + " '" + path + "': cannot open the file: " + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad())
    throw dz::Error(what + " '" + path + "': cannot read the file");
  return std::move(bytes).str();
}

::onnx::ModelProto parse_model(const std::string &bytes, const std::string &name, bool check) {
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    throw dz::Error("'" + name +
                    "' is not an ONNX model (it does not parse as a "
                    "onnx.ModelProto; truncated or another format?)");
  if (!model.has_graph())
    throw dz::Error("'" + name + "' has no graph");
  if (model.ir_version() > kCheckerIrVersion || opset_of(model, "") > kCheckerOpset)
    return model; // newer than ONNX 1.12: imported as it is, unchecked
  if (!check)
    return model;
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    throw dz::Error("'" + name + "' is not a valid ONNX model: " + e.what());
  }
  return model;
}

int64_t opset_of(const ::onnx::ModelProto &model, const std::string &domain) {
  const bool is_default = domain.empty() || domain == "ai.onnx";
  for (const ::onnx::OperatorSetIdProto &id : model.opset_import()) {
    const bool id_default = id.domain().empty() || id.domain() == "ai.onnx";
    if (is_default ? id_default : id.domain() == domain)
      return id.version();
  }
  return 0;
}

std::string op_key(const ::onnx::NodeProto &node) {
  if (node.domain().empty() || node.domain() == "ai.onnx")
    return node.op_type();
  return node.domain() + "." + node.op_type();
}

std::string dtype_name(int32_t elem_type) {
  if (!::onnx::TensorProto_DataType_IsValid(elem_type))
    return "<element type " + std::to_string(elem_type) + ">";
  std::string name = ::onnx::TensorProto_DataType_Name(elem_type);
  for (char &c : name)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::optional<DType> tensor_dtype(int32_t elem_type) {
  switch (elem_type) {
  case ::onnx::TensorProto::FLOAT:
    return f32;
  case ::onnx::TensorProto::DOUBLE:
    return f64;
  case ::onnx::TensorProto::INT64:
    return i64;
  case ::onnx::TensorProto::INT32:
    return i32;
  case ::onnx::TensorProto::UINT8:
    return u8;
  case ::onnx::TensorProto::BOOL:
    return b8;
  case ::onnx::TensorProto::INT8:
    return i8;
  case ::onnx::TensorProto::INT16:
    return i16;
  case ::onnx::TensorProto::UINT16:
    return u16;
  case ::onnx::TensorProto::UINT32:
    return u32;
  case ::onnx::TensorProto::UINT64:
    return u64;
  case ::onnx::TensorProto::FLOAT16:
    return f16;
  case ::onnx::TensorProto::BFLOAT16:
    return bf16;
  default:
    return std::nullopt;
  }
}

Tensor tensor_from_proto(const ::onnx::TensorProto &proto, const std::string &what) {
  std::optional<DType> dtype = tensor_dtype(proto.data_type());
  if (!dtype)
    throw UnsupportedError(
        what + " has element type " + dtype_name(proto.data_type()) +
            " (dz tensors hold float, double, float16, bfloat16, int8 to int64, uint8 to uint64, "
            "bool)",
        "dtype " + dtype_name(proto.data_type()));
  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL)
    throw UnsupportedError(what + " keeps its data in an external file", "external data");
  if (proto.has_segment())
    throw UnsupportedError(what + " is a segment of a tensor", "tensor segments");
  const int64_t n = element_count(proto, what);
  Tensor t(Shape(proto.dims().begin(), proto.dims().end()), *dtype);
  auto need = [&](int64_t have, const char *field) {
    if (have != n)
      throw dz::Error(what + ": " + field + " has " + std::to_string(have) +
                      " values, its shape needs " + std::to_string(n));
  };
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != t.nbytes())
      throw dz::Error(what + ": raw_data has " + std::to_string(proto.raw_data().size()) +
                      " bytes, its shape and dtype need " + std::to_string(t.nbytes()));
    if (t.nbytes() > 0)
      std::memcpy(t.raw(), proto.raw_data().data(), t.nbytes());
    return t;
  }
  switch (*dtype) {
  case DType::f32:
    need(proto.float_data_size(), "float_data");
    copy_typed(proto.float_data(), n, t);
    break;
  case DType::f64:
    need(proto.double_data_size(), "double_data");
    copy_typed(proto.double_data(), n, t);
    break;
  case DType::i64:
    need(proto.int64_data_size(), "int64_data");
    copy_typed(proto.int64_data(), n, t);
    break;
  case DType::u32:
  case DType::u64:
    need(proto.uint64_data_size(), "uint64_data");
    copy_typed(proto.uint64_data(), n, t);
    break;
  default:
    need(proto.int32_data_size(), "int32_data");
    copy_typed(proto.int32_data(), n, t);
    break;
  }
  return t;
}

Tensor load_tensor_pb(const std::string &path) {
  const std::string bytes = read_file(path, "tensor file");
  ::onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes))
    throw dz::Error("tensor file '" + path + "' does not parse as an onnx.TensorProto");
  return tensor_from_proto(proto, "tensor file '" + path + "'");
}

std::vector<OpUse> op_stats(const std::string &path) {
  const ::onnx::ModelProto model = parse_model(read_file(path, "ONNX model"), path, false);
  std::vector<OpUse> uses;
  std::map<std::string, size_t> index;
  for (const ::onnx::NodeProto &node : model.graph().node()) {
    const std::string key = op_key(node);
    auto [it, inserted] = index.try_emplace(key, uses.size());
    if (inserted)
      uses.push_back({key, opset_of(model, node.domain()), 0, is_supported_op(key)});
    ++uses[it->second].count;
  }
  return uses;
}

} // namespace dz::onnx
