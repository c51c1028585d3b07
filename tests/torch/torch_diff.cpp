// The differential suite: every differentiable F:: function and the dz:: tensor ops on a
// shared table of cases (broadcasting, 0-d, size-1 and empty shapes; ties, boundaries,
// +-inf and NaN; second derivatives), in float64:
//   - TorchDiff.EagerMatchesPyTorch: values, d sum(y g)/dx and the second derivatives
//     against PyTorch, computed at test time by one Python process for all cases
//     (torch_reference.py). A case whose difference is deliberate names it and its reason
//     (docs/eager.md, "Where dzc differs from PyTorch"): the differing part must then
//     really differ, and dz must match the book's semantics written in PyTorch.
//   - TorchDiff.CompiledMatchesEager: the same cases through dz::compile equal eager; a
//     case that cannot compile must be refused with a dz::Error, listed in the table.
// Without PyTorch (Debian's python3-torch) the first test skips and says so.
#include "cases.h"

#include <dzc/compile.h>
#include <dzc/npz.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace dz::torchdiff {
namespace {

namespace fs = std::filesystem;

// ---- running a case in dz ------------------------------------------------------------------

/// The outputs of one run: the value, then the gradients of the grad arguments, then
/// their second-order gradients (zeros where no gradient flows).
struct Outputs {
  Tensor y;
  std::vector<Tensor> g, gg;
};

/// The cotangent of case `index`'s output: d sum(y g) / dx is compared, so that a
/// permuted or mis-broadcast gradient shows (ones would hide it).
Tensor cotangent(size_t index, const Shape &shape) { return dz::randn(shape, f64, 1000 + index); }

std::vector<size_t> grad_args(const Case &c) {
  std::vector<size_t> r;
  for (size_t j = 0; j < c.args.size(); ++j)
    if (c.args[j].grad)
      r.push_back(j);
  return r;
}

std::vector<Variable> make_vars(const Case &c) {
  std::vector<Variable> vs;
  for (const Arg &a : c.args)
    vs.push_back(a.grad ? Variable(a.t.copy()) : Variable::constant(a.t.copy()));
  return vs;
}

/// y = c.fn(vs); with order >= 1 the gradients of sum(y * g), with order 2 those of
/// sum_j sum(g_j * h_j) again. `g` and `hs` are the weights (shapes known after a first
/// run). Returns {y, g..., gg...} as Variables (usable inside a trace).
std::vector<Variable> run_case(const Case &c, const std::vector<Variable> &vs, const Tensor &g,
                               const std::vector<Tensor> &hs) {
  Variable y = c.fn(vs);
  std::vector<Variable> out{y};
  if (c.order < 1)
    return out;
  const std::vector<size_t> ga = grad_args(c);
  for (Variable v : vs)
    v.cleargrad();
  Variable total = functions::sum(y * Variable::constant(g));
  total.backward({.create_graph = c.order >= 2});
  std::vector<Variable> gs;
  for (size_t j : ga) {
    Variable gj = vs[j].grad();
    gs.push_back(gj.defined() ? gj : Variable::constant(zeros_like(vs[j].data())));
  }
  for (Variable v : vs)
    v.cleargrad();
  out.insert(out.end(), gs.begin(), gs.end());
  if (c.order < 2)
    return out;
  Variable s;
  for (size_t k = 0; k < gs.size(); ++k) {
    Variable term = functions::sum(gs[k] * Variable::constant(hs[k]));
    s = s.defined() ? s + term : term;
  }
  if (s.defined())
    s.backward();
  for (size_t j : ga) {
    Variable gj = vs[j].grad();
    out.push_back(gj.defined() ? Variable::constant(gj.data())
                               : Variable::constant(zeros_like(vs[j].data())));
  }
  for (Variable v : vs)
    v.cleargrad();
  return out;
}

Outputs to_outputs(const Case &c, const std::vector<Variable> &vs) {
  Outputs o;
  o.y = vs.at(0).data();
  const size_t n = grad_args(c).size();
  for (size_t k = 0; c.order >= 1 && k < n; ++k)
    o.g.push_back(vs.at(1 + k).data());
  for (size_t k = 0; c.order >= 2 && k < n; ++k)
    o.gg.push_back(vs.at(1 + n + k).data());
  return o;
}

/// The weights of a case: the cotangent of y and the h_j, from a first eager run.
struct Weights {
  Tensor g;
  std::vector<Tensor> hs;
  bool ok = false;
  std::string error;    // the dz::Error of the eager run
  bool foreign = false; // the eager run threw something other than a dz::Error
};

Weights weights_of(const Case &c, size_t index) {
  Weights w;
  try {
    std::vector<Variable> vs = make_vars(c);
    Variable y = c.fn(vs);
    w.g = cotangent(index, y.shape());
    for (size_t k = 0; k < grad_args(c).size(); ++k)
      w.hs.push_back(dz::randn(c.args[grad_args(c)[k]].t.shape(), f64, 5000 + index * 16 + k));
    w.ok = true;
  } catch (const Error &e) {
    w.error = e.what();
  } catch (const std::exception &e) {
    w.error = std::string("not a dz::Error: ") + e.what();
    w.foreign = true;
  }
  return w;
}

Outputs run_eager(const Case &c, const Weights &w) {
  std::vector<Variable> vs = make_vars(c);
  return to_outputs(c, run_case(c, vs, w.g, w.hs));
}

// ---- comparing -----------------------------------------------------------------------------

/// "" when a and b agree (shapes equal; NaN where the other is NaN; infinities equal;
/// elsewhere |a - b| <= atol + rtol |b|), else where and how they differ.
std::string compare(const Tensor &a0, const Tensor &b0, double rtol, double atol) {
  if (a0.shape() != b0.shape())
    return "shape " + shape_str(a0.shape()) + " vs " + shape_str(b0.shape());
  Tensor a = a0.to(f64), b = b0.to(f64);
  for (int64_t i = 0; i < a.size(); ++i) {
    const double x = a.at(i), y = b.at(i);
    bool same =
        (std::isnan(x) && std::isnan(y)) || x == y ||
        (std::isfinite(x) && std::isfinite(y) && std::abs(x - y) <= atol + rtol * std::abs(y));
    if (!same) {
      std::ostringstream os;
      os.precision(17);
      os << "element " << i << ": " << x << " vs " << y;
      return os.str();
    }
  }
  return "";
}

/// The parts of two outputs that differ: "value", "gradient", "second derivative".
std::map<Part, std::string> differences(const Outputs &a, const Outputs &b, double rtol,
                                        double atol) {
  std::map<Part, std::string> d;
  if (std::string m = compare(a.y, b.y, rtol, atol); !m.empty())
    d[Part::Value] = m;
  for (size_t k = 0; k < a.g.size() && k < b.g.size(); ++k)
    if (std::string m = compare(a.g[k], b.g[k], rtol, atol); !m.empty() && !d.count(Part::Grad))
      d[Part::Grad] = "input " + std::to_string(k) + " " + m;
  for (size_t k = 0; k < a.gg.size() && k < b.gg.size(); ++k)
    if (std::string m = compare(a.gg[k], b.gg[k], rtol, atol); !m.empty() && !d.count(Part::Grad2))
      d[Part::Grad2] = "input " + std::to_string(k) + " " + m;
  return d;
}

const char *part_name(Part p) {
  switch (p) {
  case Part::Value:
    return "value";
  case Part::Grad:
    return "gradient";
  case Part::Grad2:
    return "second derivative";
  }
  return "?";
}

// ---- PyTorch ---------------------------------------------------------------------------------

std::string json_string(const std::string &s) {
  std::string r = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      r += '\\';
    r += ch;
  }
  return r + "\"";
}

std::string python() {
  const char *env = std::getenv("DZ_TORCH_PYTHON");
  return env && *env ? env : DZ_TORCH_PYTHON;
}

/// Why PyTorch cannot be used here, or "".
std::string torch_unavailable() {
  const std::string cmd = python() + " -c 'import torch' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    return "PyTorch is not installed for " + python() +
           " (Debian's python3-torch: scripts/install-deps.sh installs it; or set "
           "DZ_TORCH_PYTHON to a python with torch): the differential test against PyTorch is "
           "skipped";
  return "";
}

struct TorchResults {
  NamedTensors arrays;
  std::map<std::string, Tensor> by_key;
  std::map<std::string, std::string> errors;
  std::string version;
  bool has(const std::string &k) const { return by_key.count(k) > 0; }
};

TorchResults run_torch(const std::vector<Case> &cases, const std::vector<Weights> &ws) {
  const fs::path dir = fs::current_path() / "torch-diff";
  fs::create_directories(dir);
  NamedTensors inputs;
  std::ostringstream js;
  js << "[";
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    const std::string p = "c" + std::to_string(i) + "_";
    js << (i ? ",\n" : "\n") << "{\"name\": " << json_string(c.name)
       << ", \"expr\": " << json_string(c.torch) << ", \"book\": " << json_string(c.book)
       << ", \"order\": " << (ws[i].ok ? c.order : 0) << ", \"args\": [";
    for (size_t j = 0; j < c.args.size(); ++j) {
      js << (j ? ", " : "") << "{\"grad\": " << (c.args[j].grad ? "true" : "false") << "}";
      inputs.emplace_back(p + "a" + std::to_string(j), c.args[j].t);
    }
    js << "]}";
    if (ws[i].ok && c.order >= 1)
      inputs.emplace_back(p + "g", ws[i].g);
    for (size_t k = 0; ws[i].ok && c.order >= 2 && k < ws[i].hs.size(); ++k)
      inputs.emplace_back(p + "h" + std::to_string(k), ws[i].hs[k]);
  }
  js << "\n]\n";
  std::ofstream(dir / "cases.json") << js.str();
  save_npz((dir / "inputs.npz").string(), inputs);
  const std::string out = (dir / "torch.npz").string();
  const std::string cmd = python() + " " + DZ_TORCH_SCRIPT + " " + (dir / "cases.json").string() +
                          " " + (dir / "inputs.npz").string() + " " + out;
  if (std::system(cmd.c_str()) != 0)
    throw Error("torch_reference.py failed: " + cmd);
  TorchResults r;
  r.arrays = load_npz(out);
  for (auto &[k, t] : r.arrays)
    r.by_key[k] = t;
  std::ifstream ef(out + ".errors");
  std::string line;
  std::getline(ef, r.version);
  while (std::getline(ef, line)) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos)
      r.errors[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return r;
}

/// PyTorch's outputs of case i (prefix "" for the case's expression, "b" for the book's).
Outputs torch_outputs(const TorchResults &r, const Case &c, size_t i, const std::string &prefix) {
  const std::string p = prefix + "c" + std::to_string(i) + "_";
  Outputs o;
  o.y = r.by_key.at(p + "y");
  const size_t n = grad_args(c).size();
  for (size_t k = 0; c.order >= 1 && k < n; ++k)
    o.g.push_back(r.by_key.at(p + "g" + std::to_string(k)));
  for (size_t k = 0; c.order >= 2 && k < n; ++k)
    o.gg.push_back(r.by_key.at(p + "gg" + std::to_string(k)));
  return o;
}

struct Counts {
  size_t cases = 0, values = 0, grads = 0, grads2 = 0, differences = 0, errors = 0, refusals = 0;
  std::string str(bool compiled) const {
    std::ostringstream os;
    os << cases << " cases (" << values << " compared: " << grads << " with gradients, " << grads2
       << " with second derivatives; " << errors << " errors in both; ";
    if (compiled)
      os << refusals << " refused by dz::compile, as listed)";
    else
      os << differences << " documented differences)";
    return os.str();
  }
};

const std::vector<Case> &cases() {
  static const std::vector<Case> all = all_cases();
  return all;
}

} // namespace

TEST(TorchDiff, CaseTableIsWellFormed) {
  std::map<std::string, int> names;
  for (const Case &c : cases()) {
    EXPECT_EQ(names[c.name]++, 0) << "case name repeated: " << c.name;
    EXPECT_EQ(c.differs.empty(), c.reason.empty()) << c.name << ": a difference needs its reason";
    if (!c.book.empty()) {
      EXPECT_FALSE(c.differs.empty()) << c.name << ": a book expression belongs to a difference";
    }
  }
  EXPECT_GT(cases().size(), 200u);
}

TEST(TorchDiff, EagerMatchesPyTorch) {
  const std::string why = torch_unavailable();
  if (!why.empty())
    GTEST_SKIP() << why;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Case> &cs = cases();
  std::vector<Weights> ws;
  for (size_t i = 0; i < cs.size(); ++i)
    ws.push_back(weights_of(cs[i], i));
  TorchResults tr = run_torch(cs, ws);
  Counts n;
  for (size_t i = 0; i < cs.size(); ++i) {
    const Case &c = cs[i];
    SCOPED_TRACE("case " + c.name + " (torch: " + c.torch + ")");
    ++n.cases;
    const std::string key = "c" + std::to_string(i);
    if (c.error) {
      EXPECT_FALSE(ws[i].ok) << "dz did not raise a dz::Error";
      EXPECT_FALSE(ws[i].foreign) << ws[i].error;
      EXPECT_TRUE(tr.errors.count(key)) << "PyTorch did not raise";
      ++n.errors;
      continue;
    }
    if (!ws[i].ok || tr.errors.count(key)) {
      ADD_FAILURE() << (ws[i].ok ? "PyTorch raised: " + tr.errors[key]
                                 : "dz raised: " + ws[i].error);
      continue;
    }
    Outputs dz_out;
    try {
      dz_out = run_eager(c, ws[i]);
    } catch (const std::exception &e) {
      ADD_FAILURE() << "dz raised in backward: " << e.what();
      continue;
    }
    ++n.values;
    n.grads += c.order >= 1;
    n.grads2 += c.order >= 2;
    Outputs ref = torch_outputs(tr, c, i, "");
    std::map<Part, std::string> d = differences(dz_out, ref, c.rtol, c.atol);
    for (auto &[part, msg] : d)
      if (!c.differs.count(part))
        ADD_FAILURE() << part_name(part) << " differs from PyTorch: " << msg;
    if (!c.differs.empty()) {
      ++n.differences;
      for (Part part : c.differs)
        EXPECT_TRUE(d.count(part))
            << "listed as a deliberate difference in the " << part_name(part) << " (" << c.reason
            << ") but equal to PyTorch's: update the table";
      if (!c.book.empty()) {
        if (tr.errors.count("b" + key)) {
          ADD_FAILURE() << "PyTorch raised: " << tr.errors["b" + key];
          continue;
        }
        for (auto &[part, msg] : differences(dz_out, torch_outputs(tr, c, i, "b"), c.rtol, c.atol))
          ADD_FAILURE() << part_name(part) << " differs from the book's semantics (" << c.book
                        << "): " << msg;
      }
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("torch differential (%s, float64): %s in %.1f s\n", tr.version.c_str(),
              n.str(false).c_str(), s);
  RecordProperty("cases", int(n.cases));
}

TEST(TorchDiff, CompiledMatchesEager) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Case> &cs = cases();
  Counts n;
  for (size_t i = 0; i < cs.size(); ++i) {
    const Case &c = cs[i];
    SCOPED_TRACE("case " + c.name);
    ++n.cases;
    Weights w = weights_of(c, i);
    if (c.error) {
      ++n.errors;
      continue; // the eager call throws; the trace runs it eagerly first
    }
    if (!w.ok) {
      ADD_FAILURE() << "dz raised: " << w.error;
      continue;
    }
    Outputs eager = run_eager(c, w);
    CompiledFunction f;
    auto body = [&](const std::vector<Variable> &vs) { return run_case(c, vs, w.g, w.hs); };
    std::string refused;
    Outputs compiled;
    try {
      f.call(make_vars(c), body); // traces (and runs eagerly)
      compiled = to_outputs(c, f.call(make_vars(c), body));
      EXPECT_EQ(f.retraces(), 1);
    } catch (const Error &e) {
      refused = e.what();
    }
    if (!c.refuse.empty()) {
      ++n.refusals;
      EXPECT_FALSE(refused.empty()) << "listed as refused by dz::compile (" << c.refuse
                                    << ") but it compiled: update the table";
      continue;
    }
    if (!refused.empty()) {
      ADD_FAILURE() << "dz::compile refused it: " << refused;
      continue;
    }
    ++n.values;
    n.grads += c.order >= 1;
    n.grads2 += c.order >= 2;
    for (auto &[part, msg] : differences(compiled, eager, c.compiled_rtol, c.compiled_atol))
      ADD_FAILURE() << "compiled " << part_name(part) << " differs from eager: " << msg;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("compiled vs eager: %s in %.1f s\n", n.str(true).c_str(), s);
}

} // namespace dz::torchdiff
