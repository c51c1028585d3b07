// dzc/op_registry.h - the elementwise ops of dzc/ops.def as data: MapOp (the ops a device's
// map kernel runs), each op's name, arity, dtype domain, ONNX twin and the C text of its
// value, and a float64 evaluation of every op (the reference of tests). No MLIR here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dz {

/// The elementwise operations of DeviceBackend::map: `cast` (one operand converted to the
/// output's dtype), every op of dzc/ops.def in its order, and `where` (a bool condition and
/// two values).
enum class MapOp : uint8_t {
  cast,
#define DZ_UNARY(name, ...) name,
#define DZ_BINARY(name, ...) name,
#include <dzc/ops.def>
  where,
};

/// The dtypes an op takes and gives (dzc/ops.def describes each).
enum class OpDomain : uint8_t { Float, Numeric, Predicate, Compare, Mask, Other };

struct OpInfo {
  MapOp op;
  const char *name;  // "exp": dz::exp, dz::F::exp, dz.exp
  const char *title; // "Exp": dz::ir::ExpOp, the Function's name
  int arity;         // 1, 2 (3 for where)
  OpDomain domain;
  bool grad[2];        // whether a gradient flows to operand k
  const char *summary; // for the op reference
  const char *value;   // the value's expression in the scalar vocabulary (C syntax)
  const char *onnx;    // the ONNX operator with the same semantics, or ""
  /// Whether the result is bool (Predicate, Compare).
  bool bool_result() const { return domain == OpDomain::Predicate || domain == OpDomain::Compare; }
};

/// Every op of dzc/ops.def, in its order (cast and where excluded).
std::span<const OpInfo> registry_ops();
/// The entry of `op` (cast and where have entries of domain Other).
const OpInfo &op_info(MapOp op);
/// The op named `name` ("exp"), or nullopt.
std::optional<MapOp> find_op(std::string_view name);

/// The number of operands of `op` (1, 2 or 3) and its name ("add").
int map_arity(MapOp op);
const char *map_op_name(MapOp op);

/// The op's value at (a, b) computed in float64 with the runtime's scalar code (b is
/// ignored by unary ops; a bool result is 1 or 0). Not for cast and where.
double evaluate_op(MapOp op, double a, double b = 0);

/// CUDA C++ that defines the scalar vocabulary (once) and, for each op of `ops`,
/// `dz_op_NAME(x)` / `dz_op_NAME(a, b)`: a device function template of the op's value over
/// its compute type; empty when `ops` holds no registry op. The eager CUDA kernels and the
/// generated kernels both call it: one expression on both paths.
std::string cuda_op_source(const std::vector<MapOp> &ops);

} // namespace dz
