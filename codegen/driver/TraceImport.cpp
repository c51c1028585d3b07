// TraceImport.cpp - builds the dz module of a traced graph: one op per node, created by
// name (so a node is exactly the op of docs/ir.md), then verified.
#include "TraceImport.h"

#include <dzc/ir/DzOps.h>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinAttributes.h>

#include <unordered_map>

namespace dz::codegen {

mlir::Type elementType(mlir::MLIRContext &ctx, DType dtype) {
  mlir::Builder b(&ctx);
  switch (dtype) {
  case f32:
    return b.getF32Type();
  case f64:
    return b.getF64Type();
  case i64:
    return b.getI64Type();
  case i32:
    return b.getI32Type();
  case u8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case b8:
    return b.getI1Type();
  case i8:
    return b.getIntegerType(8);
  case i16:
    return b.getIntegerType(16);
  case u16:
    return b.getIntegerType(16, /*isSigned=*/false);
  case u32:
    return b.getIntegerType(32, /*isSigned=*/false);
  case u64:
    return b.getIntegerType(64, /*isSigned=*/false);
  case f16:
    return b.getF16Type();
  case bf16:
    return b.getBF16Type();
  }
  return b.getF32Type();
}

namespace {

mlir::RankedTensorType tensorType(mlir::MLIRContext &ctx, const trace::ValueType &t) {
  return mlir::RankedTensorType::get(llvm::ArrayRef<int64_t>(t.shape.data(), t.shape.size()),
                                     elementType(ctx, t.dtype));
}

mlir::Attribute attribute(mlir::MLIRContext &ctx, const trace::AttrValue &v) {
  mlir::Builder b(&ctx);
  return std::visit(
      [&](const auto &x) -> mlir::Attribute {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>)
          return b.getBoolAttr(x);
        else if constexpr (std::is_same_v<T, int64_t>)
          return b.getI64IntegerAttr(x);
        else if constexpr (std::is_same_v<T, double>)
          return b.getF64FloatAttr(x);
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
          return b.getDenseI64ArrayAttr(llvm::ArrayRef<int64_t>(x.data(), x.size()));
        else if constexpr (std::is_same_v<T, std::string>)
          return b.getStringAttr(x);
        else
          return mlir::TypeAttr::get(elementType(ctx, x));
      },
      v);
}

/// The tensor's values as a DenseElementsAttr of `type` (a splat when all are equal).
mlir::DenseElementsAttr constantAttr(mlir::RankedTensorType type, const Tensor &t0) {
  const Tensor t = t0.to(Device::cpu()); // a device tensor's values come to the host once
  const size_t bytes = t.nbytes();
  llvm::ArrayRef<char> raw(static_cast<const char *>(t.raw()), bytes);
  if (t.dtype() == b8) {
    llvm::SmallVector<bool> bits;
    for (double v : t.to_vector())
      bits.push_back(v != 0);
    return mlir::DenseElementsAttr::get(type, llvm::ArrayRef<bool>(bits));
  }
  // getFromRawBuffer wants the exact byte layout of the element type: ours is the same
  // (little-endian, dense, row-major).
  return mlir::DenseElementsAttr::getFromRawBuffer(type, raw);
}

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> importTrace(mlir::MLIRContext &ctx, const trace::Graph &g,
                                              const std::string &name) {
  mlir::OpBuilder b(&ctx);
  mlir::Location loc = mlir::NameLoc::get(b.getStringAttr(name));
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);

  llvm::SmallVector<mlir::Type> arg_types, result_types;
  for (int v : g.arguments)
    arg_types.push_back(tensorType(ctx, g.values[size_t(v)]));
  for (int v : g.results)
    result_types.push_back(tensorType(ctx, g.values[size_t(v)]));
  b.setInsertionPointToEnd(module->getBody());
  auto fn = mlir::func::FuncOp::create(b, loc, name, b.getFunctionType(arg_types, result_types));
  mlir::Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);

  std::unordered_map<int, mlir::Value> values;
  for (size_t i = 0; i < g.arguments.size(); ++i)
    values[g.arguments[i]] = body->getArgument(unsigned(i));

  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const trace::Node &node = g.nodes[n];
    mlir::Location at = mlir::NameLoc::get(b.getStringAttr(name + ":" + std::to_string(n)));
    mlir::OperationState state(at, "dz." + node.op);
    for (int v : node.inputs)
      state.addOperands(values.at(v));
    for (int v : node.outputs)
      state.addTypes(tensorType(ctx, g.values[size_t(v)]));
    for (const trace::Attr &a : node.attrs)
      state.addAttribute(a.name, attribute(ctx, a.value));
    if (node.op == "constant")
      state.addAttribute(
          "value", constantAttr(tensorType(ctx, g.values[size_t(node.outputs[0])]), node.constant));
    mlir::Operation *op = b.create(state);
    for (size_t i = 0; i < node.outputs.size(); ++i)
      values[node.outputs[i]] = op->getResult(unsigned(i));
  }
  llvm::SmallVector<mlir::Value> results;
  for (int v : g.results)
    results.push_back(values.at(v));
  mlir::func::ReturnOp::create(b, loc, results);
  return module;
}

} // namespace dz::codegen
