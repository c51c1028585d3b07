// dzc/onnx/Model.h - the parts of the ONNX front end that need no MLIR: reading
// TensorProto files into dz::Tensor, the op statistics of a model, and the error kind
// that says "valid ONNX, but beyond what dz can express".
//
// The tools (dzc --op-stats, the conformance runner) use these; Import.h is the importer.
#pragma once

#include <dzc/tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dz::onnx {

/// A model that is valid ONNX but uses an op, an attribute value or a dtype the dz
/// dialect cannot express. `reason()` is a short category for summaries ("op Det",
/// "dtype float16", "Conv group != 1"); `what()` is the full message.
class UnsupportedError : public dz::Error {
public:
  UnsupportedError(const std::string &message, std::string reason)
      : dz::Error(message), reason_(std::move(reason)) {}
  const std::string &reason() const { return reason_; }

private:
  std::string reason_;
};

/// A serialized onnx.TensorProto file (the node tests' input_0.pb) as a tensor. Reads the
/// dtypes dz::Tensor has (float, double, int64, int32, uint8, bool); others throw
/// UnsupportedError; an unreadable or inconsistent file throws dz::Error.
Tensor load_tensor_pb(const std::string &path);

/// How a model uses one op type.
struct OpUse {
  std::string op_type; // "Conv", or "domain.Op" outside the default domain
  int64_t opset = 0;   // the model's opset for the op's domain
  int64_t count = 0;   // nodes of this type in the main graph
  bool supported = false;
};

/// The op types of the model at `path` in order of first use. Throws dz::Error when the
/// file cannot be read or parsed.
std::vector<OpUse> op_stats(const std::string &path);

/// True when the importer has a mapping for `op_type` of the default ONNX domain.
bool is_supported_op(const std::string &op_type);

} // namespace dz::onnx
