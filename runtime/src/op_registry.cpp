// op_registry.cpp - dzc/ops.def as data (op_registry.h): the table of ops, the float64
// evaluation and the CUDA device functions of each op's value.
#include "scalar_ops.h"

#include <dzc/op_registry.h>
#include <dzc/tensor.h>

#include <array>

namespace dz {

namespace {

// NONE in a gradient column: no gradient flows.
constexpr bool has_grad(std::string_view text) { return text != "NONE"; }

#define DZ_GRAD_TEXT(...) #__VA_ARGS__
#define DZ_UNARY(name, Title, domain, summary, value, grad, onnx)                                  \
  OpInfo{MapOp::name, #name,  #Title, 1, OpDomain::domain, {has_grad(DZ_GRAD_TEXT(grad)), false},  \
         summary,     #value, onnx},
#define DZ_BINARY(name, Title, domain, traits, summary, value, grad_a, grad_b, onnx)               \
  OpInfo{MapOp::name,                                                                              \
         #name,                                                                                    \
         #Title,                                                                                   \
         2,                                                                                        \
         OpDomain::domain,                                                                         \
         {has_grad(DZ_GRAD_TEXT(grad_a)), has_grad(DZ_GRAD_TEXT(grad_b))},                         \
         summary,                                                                                  \
         #value,                                                                                   \
         onnx},
constexpr OpInfo kOps[] = {
#include <dzc/ops.def>
};
#undef DZ_GRAD_TEXT

constexpr OpInfo kCast{
    MapOp::cast, "cast", "Cast", 1, OpDomain::Other, {true, false}, "conversion to another dtype",
    "x",         "Cast"};
constexpr OpInfo kWhere{
    MapOp::where,          "where",          "Where", 3, OpDomain::Other, {false, true},
    "choice cond ? a : b", "(cond ? a : b)", "Where"};

constexpr bool in_order() {
  for (size_t i = 0; i < std::size(kOps); ++i)
    if (size_t(kOps[i].op) != i + 1)
      return false;
  return size_t(MapOp::where) == std::size(kOps) + 1;
}
static_assert(in_order(), "MapOp follows dzc/ops.def");

} // namespace

std::span<const OpInfo> registry_ops() { return kOps; }

const OpInfo &op_info(MapOp op) {
  if (op == MapOp::cast)
    return kCast;
  if (op == MapOp::where)
    return kWhere;
  return kOps[size_t(op) - 1];
}

std::optional<MapOp> find_op(std::string_view name) {
  for (const OpInfo &i : kOps)
    if (name == i.name)
      return i.op;
  return std::nullopt;
}

int map_arity(MapOp op) { return op_info(op).arity; }
const char *map_op_name(MapOp op) { return op_info(op).name; }

double evaluate_op(MapOp op, double a, double b) {
  switch (op) {
#define DZ_UNARY(name, ...)                                                                        \
  case MapOp::name:                                                                                \
    return double(ops::name::apply(a));
#define DZ_BINARY(name, ...)                                                                       \
  case MapOp::name:                                                                                \
    return double(ops::name::apply(a, b));
#include <dzc/ops.def>
  case MapOp::cast:
  case MapOp::where:
    break;
  }
  (void)b;
  throw Error(std::string("evaluate_op: ") + map_op_name(op) + " is not a registry op");
}

namespace {

/// The scalar vocabulary in CUDA C++ (also compiled by the host emulation's C++ compiler):
/// overloads for float and double, templates for the integer types.
constexpr const char *kCudaVocabulary = R"(#ifndef DZ_OP_VOCABULARY
#define DZ_OP_VOCABULARY
template <class C> __device__ inline C Sel(bool c, C a, C b) { return c ? a : b; }
template <class C> __device__ inline bool IsNan(C x) { return x != x; }
template <class C> __device__ inline bool IsInf(C x) { return x == x && x - x != x - x; }
template <class C> __device__ inline C Abs(C x) { return x < (C)0 ? (C)-x : x; }
__device__ inline float Abs(float x) { return fabsf(x); }
__device__ inline double Abs(double x) { return fabs(x); }
template <class C> __device__ inline C Mod(C a, C b) {
  if (b == (C)0 || ((C)-1 < (C)0 && b == (C)-1)) return (C)0;
  C r = (C)(a % b);
  return r != (C)0 && ((r < (C)0) != (b < (C)0)) ? (C)(r + b) : r;
}
__device__ inline float Mod(float a, float b) {
  float r = fmodf(a, b);
  return r != 0.0f ? ((b < 0.0f) != (r < 0.0f) ? r + b : r) : copysignf(0.0f, b);
}
__device__ inline double Mod(double a, double b) {
  double r = fmod(a, b);
  return r != 0.0 ? ((b < 0.0) != (r < 0.0) ? r + b : r) : copysign(0.0, b);
}
template <class C> __device__ inline C Fmod(C a, C b) {
  return b == (C)0 || ((C)-1 < (C)0 && b == (C)-1) ? (C)0 : (C)(a % b);
}
__device__ inline float Fmod(float a, float b) { return fmodf(a, b); }
__device__ inline double Fmod(double a, double b) { return fmod(a, b); }
template <class C> __device__ inline C TruncDiv(C a, C b) {
  if (b == (C)0) return (C)0;
  if ((C)-1 < (C)0 && b == (C)-1) return (C)(0ull - (unsigned long long)a);
  return (C)(a / b);
}
template <class C> __device__ inline C FloorDiv(C a, C b) {
  C q = TruncDiv(a, b);
  bool adjust = (C)-1 < (C)0 && b != (C)0 && b != (C)-1 && (C)(a % b) != (C)0 &&
                ((a < (C)0) != (b < (C)0));
  return adjust ? (C)(q - (C)1) : q;
}
__device__ inline float TruncDiv(float a, float b) { return truncf(a / b); }
__device__ inline double TruncDiv(double a, double b) { return trunc(a / b); }
__device__ inline float Pow(float a, float b) { return powf(a, b); }
__device__ inline double Pow(double a, double b) { return pow(a, b); }
#define DZ_OP_MATH(Name, fn) \
  __device__ inline float Name(float x) { return fn##f(x); } \
  __device__ inline double Name(double x) { return fn(x); }
DZ_OP_MATH(Exp, exp) DZ_OP_MATH(Log, log) DZ_OP_MATH(Sin, sin) DZ_OP_MATH(Cos, cos)
DZ_OP_MATH(Tan, tan) DZ_OP_MATH(Tanh, tanh) DZ_OP_MATH(Sqrt, sqrt) DZ_OP_MATH(Erf, erf)
DZ_OP_MATH(Asin, asin) DZ_OP_MATH(Acos, acos) DZ_OP_MATH(Atan, atan) DZ_OP_MATH(Sinh, sinh)
DZ_OP_MATH(Cosh, cosh) DZ_OP_MATH(Asinh, asinh) DZ_OP_MATH(Acosh, acosh)
DZ_OP_MATH(Atanh, atanh) DZ_OP_MATH(Ceil, ceil) DZ_OP_MATH(Floor, floor) DZ_OP_MATH(Rint, rint)
#undef DZ_OP_MATH
#define DZ_OP_FLOOR_DIV(F, suffix) \
  __device__ inline F FloorDiv(F a, F b) { \
    if (b == (F)0) return a / b; \
    F mod = fmod##suffix(a, b); \
    F div = (a - mod) / b; \
    if (mod != (F)0 && ((b < (F)0) != (mod < (F)0))) div -= (F)1; \
    if (div == (F)0) return copysign##suffix((F)0, a / b); \
    F floordiv = floor##suffix(div); \
    return div - floordiv > (F)0.5 ? floordiv + (F)1 : floordiv; \
  }
DZ_OP_FLOOR_DIV(float, f) DZ_OP_FLOOR_DIV(double, )
#undef DZ_OP_FLOOR_DIV
#endif
)";

} // namespace

std::string cuda_op_source(const std::vector<MapOp> &ops) {
  std::string s;
  for (MapOp op : ops) {
    const OpInfo &info = op_info(op);
    if (info.domain == OpDomain::Other)
      continue;
    if (s.empty())
      s = kCudaVocabulary;
    const std::string guard = std::string("DZ_OP_") + info.name;
    s += "#ifndef " + guard + "\n#define " + guard + "\n#define K(v) ((C)(v))\n";
    s += "template <class C> __device__ inline auto dz_op_" + std::string(info.name);
    s += info.arity == 1 ? "(C x) " : "(C a, C b) ";
    s += "{ return " + std::string(info.value) + "; }\n#undef K\n#endif\n";
  }
  return s;
}

} // namespace dz
