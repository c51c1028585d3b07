// registry_ranges.h - where each op of the registry (dzc/ops.def) is smooth and defined, for
// the tests that sample its inputs (finite differences, compiled against eager). An op with
// a smaller domain than [-1.5, 1.5) adds its range here.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace dz::testing {

/// [lo, hi) for operand `operand` of the registry op `op`.
inline std::pair<double, double> registry_range(const std::string &op, int operand) {
  if (op == "log" || op == "sqrt")
    return {0.3, 2.0};
  if (op == "asin" || op == "acos" || op == "atanh")
    return {-0.8, 0.8};
  if (op == "acosh")
    return {1.3, 3.0};
  if (op == "tan")
    return {-1.2, 1.2};
  if (op == "div" || op == "pow")
    return {0.5, 2.0};
  if (op == "mod" || op == "fmod") // a in (0.3, 0.7) * b: away from the jumps
    return operand == 0 ? std::pair{0.6, 1.4} : std::pair{2.0, 2.1};
  return {-1.5, 1.5};
}

/// n values of `op`'s range for operand `operand`, 0.137 apart (wrapped), none within 0.05 of
/// 0: no kinks of relu/abs/step/sign, and the two operands of a binary op never tie.
inline std::vector<double> registry_values(const std::string &op, int operand, size_t n) {
  auto [lo, hi] = registry_range(op, operand);
  std::vector<double> v;
  for (int k = 0; v.size() < n; ++k) {
    double x = lo + std::fmod(0.137 * (k * 5 + operand * 3 + 1), hi - lo);
    if (std::abs(x) > 0.05)
      v.push_back(x);
  }
  return v;
}

} // namespace dz::testing
