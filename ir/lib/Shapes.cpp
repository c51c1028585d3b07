// Shapes.cpp - the NumPy shape rules of the dz ops (broadcast, reduce, sum_to).
#include "dzc/ir/DzOps.h"

#include <algorithm>

namespace dz::ir {

std::optional<llvm::SmallVector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                          llvm::ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  llvm::SmallVector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      return std::nullopt;
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

mlir::RankedTensorType broadcastTypes(mlir::RankedTensorType a, mlir::RankedTensorType b) {
  auto shape = broadcastShapes(a.getShape(), b.getShape());
  if (!shape)
    return {};
  return mlir::RankedTensorType::get(*shape, a.getElementType());
}

bool isBroadcastableTo(llvm::ArrayRef<int64_t> from, llvm::ArrayRef<int64_t> to) {
  if (from.size() > to.size())
    return false;
  auto shape = broadcastShapes(from, to);
  return shape && llvm::ArrayRef<int64_t>(*shape) == to;
}

std::optional<llvm::SmallVector<int64_t>> normalizeAxes(llvm::ArrayRef<int64_t> axes,
                                                        int64_t rank) {
  llvm::SmallVector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i)
      out.push_back(i);
    return out;
  }
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank)
      return std::nullopt;
    out.push_back(axis < 0 ? axis + rank : axis);
  }
  llvm::sort(out);
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    return std::nullopt;
  return out;
}

llvm::SmallVector<int64_t> reducedShape(llvm::ArrayRef<int64_t> shape,
                                        llvm::ArrayRef<int64_t> normalizedAxes, bool keepdims) {
  llvm::SmallVector<int64_t> out;
  for (int64_t i = 0, e = shape.size(); i < e; ++i) {
    bool reduced = llvm::is_contained(normalizedAxes, i);
    if (!reduced)
      out.push_back(shape[i]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

llvm::SmallVector<int64_t> sumToAxes(llvm::ArrayRef<int64_t> from, llvm::ArrayRef<int64_t> to) {
  llvm::SmallVector<int64_t> axes;
  int64_t lead = from.size() - to.size();
  for (int64_t i = 0, e = from.size(); i < e; ++i)
    if (i < lead || (to[i - lead] == 1 && from[i] != 1))
      axes.push_back(i);
  return axes;
}

} // namespace dz::ir
