// Proto.h - internal to dzc_onnx: the protobuf side of the importer (no MLIR). Reading
// and validating a ModelProto, and TensorProto <-> dz::Tensor.
#pragma once

#include <dzc/tensor.h>

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>
#include <string>

namespace dz::onnx {

/// The bytes of `path`; dz::Error naming `what` and the path when it cannot be read.
std::string read_file(const std::string &path, const std::string &what);

/// Parses a serialized ModelProto and, when `check` and for files ONNX 1.12 knows (IR
/// version <= 8, opset <= 17), runs onnx::checker. dz::Error naming `name` and the problem
/// otherwise.
///
/// onnx::shape_inference is not run: the importer infers every shape itself from the
/// static input shapes (dz ops infer their result types), and ONNX 1.12's InferShapes
/// crashes on some malformed models the checker accepts (a segfault in
/// convPoolShapeInference found by tests/onnx's mutation test).
::onnx::ModelProto parse_model(const std::string &bytes, const std::string &name, bool check);

/// The model's opset for `domain` ("" and "ai.onnx" are the default domain); 0 if none.
int64_t opset_of(const ::onnx::ModelProto &model, const std::string &domain);

/// "Conv" for the default domain, "com.microsoft.Gelu" elsewhere.
std::string op_key(const ::onnx::NodeProto &node);

/// ONNX's name of an element type: "float", "int32", "float16", ...
std::string dtype_name(int32_t elem_type);

/// The dz::Tensor dtype of an ONNX element type; nullopt when Tensor has none.
std::optional<DType> tensor_dtype(int32_t elem_type);

/// The tensor of a TensorProto (raw_data or the typed fields). `what` names it in errors
/// ("initializer 'w'"): UnsupportedError for a dtype Tensor lacks or external data,
/// dz::Error when its data does not match its shape.
Tensor tensor_from_proto(const ::onnx::TensorProto &proto, const std::string &what);

} // namespace dz::onnx
