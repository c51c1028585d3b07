// cases.h - the case table of the differential suite (torch_diff.cpp, cases.cpp).
#pragma once

#include <dzc/dzc.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace dz::torchdiff {

/// The parts of a case's result that are compared.
enum class Part { Value, Grad, Grad2 };

struct Arg {
  Tensor t;
  bool grad = true; // differentiated (float64); false: a constant (labels, targets, ids)
};

struct Case {
  std::string name; // unique: "function/what"
  std::vector<Arg> args;
  std::function<Variable(const std::vector<Variable> &)> fn; // dz: args in, one output
  std::string torch; // PyTorch's expression of a0, a1, ... (torch, F = torch.nn.functional)
  int order = 1;     // 0: values; 1: and d sum(y g)/dx; 2: and second derivatives

  // A deliberate difference (docs/eager.md): the parts that differ from PyTorch's
  // expression, why, and the book's semantics in PyTorch (which dz must then match).
  std::set<Part> differs;
  std::string reason;
  std::string book;

  std::string refuse; // why dz::compile refuses this case (it must throw dz::Error)
  bool error = false; // dz must throw dz::Error, PyTorch must raise

  double rtol = 1e-9, atol = 1e-12;                    // against PyTorch
  double compiled_rtol = 1e-12, compiled_atol = 1e-14; // compiled against eager
};

std::vector<Case> all_cases();

} // namespace dz::torchdiff
