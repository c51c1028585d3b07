// utils.cpp - numerical differentiation, gradient checking and DOT export of graphs.
#include <dzc/utils.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <unordered_set>

namespace dz::utils {

namespace {

/// A float64 copy of a floating tensor that the caller may write to; other dtypes
/// (integer labels, masks) are passed through unchanged.
Tensor writable_f64(const Tensor &t) {
  if (!is_floating(t.dtype()))
    return t;
  Tensor cpu = t.device().is_cpu() ? t : t.to(Device::cpu());
  return cpu.dtype() == f64 ? cpu.copy() : cpu.to(f64);
}

double sum_f64(const Variable &y, const char *who) {
  if (!y.defined())
    throw Error(std::string(who) + ": the function returned a null Variable");
  Tensor t = y.data();
  if (!t.device().is_cpu())
    t = t.to(Device::cpu());
  t = t.to(f64);
  const double *p = t.data<double>();
  double s = 0;
  for (int64_t k = 0; k < t.size(); ++k)
    s += p[k];
  return s;
}

/// "(1, 2)": the multi-index of flat element `flat` in `shape`.
std::string unravel(int64_t flat, const Shape &shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string s = "(";
  for (size_t d = 0; d < idx.size(); ++d)
    s += (d ? ", " : "") + std::to_string(idx[d]);
  return s + (idx.size() == 1 ? ",)" : ")");
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

} // namespace

Tensor numerical_diff(const MultiFn &f, const std::vector<Tensor> &xs, size_t i, double eps) {
  if (i >= xs.size())
    throw Error("numerical_diff: input " + std::to_string(i) + " requested but f takes " +
                std::to_string(xs.size()) + " inputs");
  if (!is_floating(xs[i].dtype()))
    throw Error(std::string("numerical_diff: input ") + std::to_string(i) + " has dtype " +
                dtype_name(xs[i].dtype()) + "; only floating inputs can be differentiated");
  std::vector<Tensor> base;
  base.reserve(xs.size());
  for (const Tensor &x : xs)
    base.push_back(writable_f64(x));
  const Device dev = xs[i].device();

  auto eval = [&] {
    std::vector<Variable> vars;
    vars.reserve(base.size());
    for (size_t k = 0; k < base.size(); ++k)
      vars.emplace_back(k == i && !dev.is_cpu() ? base[k].to(dev) : base[k]);
    return sum_f64(f(vars), "numerical_diff");
  };

  // Backprop stays as the caller has it (as DeZero's numerical_diff): f may itself call
  // backward (a gradient penalty, a Hessian-vector product), which needs the graph.
  Tensor grad = zeros(base[i].shape(), f64);
  double *x = base[i].data<double>();
  double *g = grad.data<double>();
  for (int64_t k = 0; k < base[i].size(); ++k) {
    const double orig = x[k];
    x[k] = orig + eps;
    const double s_plus = eval();
    x[k] = orig - eps;
    const double s_minus = eval();
    x[k] = orig;
    g[k] = (s_plus - s_minus) / (2 * eps);
  }
  return grad;
}

Tensor numerical_diff(const UnaryFn &f, const Tensor &x, double eps) {
  MultiFn g = [&f](const std::vector<Variable> &xs) { return f(xs[0]); };
  return numerical_diff(g, {x}, 0, eps);
}

GradCheckResult gradient_check(const MultiFn &f, const std::vector<Tensor> &xs,
                               GradCheckOptions opts) {
  UsingConfig backprop_on("enable_backprop", true);
  std::vector<Tensor> base;
  std::vector<Variable> vars;
  for (const Tensor &x : xs) {
    base.push_back(writable_f64(x));
    vars.emplace_back(base.back().device() == x.device() ? base.back()
                                                         : base.back().to(x.device()));
  }
  Variable y = f(vars);
  if (!y.defined())
    throw Error("gradient_check: the function returned a null Variable");
  y.backward();

  GradCheckResult result;
  std::ostringstream report;
  for (size_t i = 0; i < base.size(); ++i) {
    if (!is_floating(base[i].dtype()))
      continue;
    const Shape &shape = base[i].shape();
    Variable gv = vars[i].grad();
    Tensor bp = gv.defined() ? gv.data() : zeros(shape, f64);
    if (!bp.device().is_cpu())
      bp = bp.to(Device::cpu());
    bp = bp.to(f64);
    if (bp.shape() != shape) {
      result.ok = false;
      report << "input " << i << " " << shape_str(shape) << ": backprop gradient has shape "
             << shape_str(bp.shape()) << "\n";
      continue;
    }
    Tensor num = numerical_diff(f, base, i, opts.eps);
    const double *b = bp.data<double>();
    const double *n = num.data<double>();
    int64_t worst = -1;
    double worst_excess = 0;
    for (int64_t k = 0; k < bp.size(); ++k) {
      const double diff = std::abs(b[k] - n[k]);
      const double tol = opts.atol + opts.rtol * std::abs(n[k]);
      result.max_abs_error = std::isnan(diff) ? INFINITY : std::max(result.max_abs_error, diff);
      if (!(diff <= tol)) {
        const double excess = std::isnan(diff) ? INFINITY : diff - tol;
        if (worst < 0 || excess > worst_excess)
          worst = k, worst_excess = excess;
      }
    }
    if (worst >= 0) {
      result.ok = false;
      report << "input " << i << " " << shape_str(shape) << ": element " << unravel(worst, shape)
             << " backprop " << fmt(b[worst]) << " vs numerical " << fmt(n[worst]) << " (|diff| "
             << fmt(std::abs(b[worst] - n[worst])) << " > atol " << opts.atol << " + rtol "
             << opts.rtol << " * |numerical|)\n";
    }
  }
  result.report = report.str();
  return result;
}

GradCheckResult gradient_check(const UnaryFn &f, const Tensor &x, GradCheckOptions opts) {
  MultiFn g = [&f](const std::vector<Variable> &xs) { return f(xs[0]); };
  return gradient_check(g, std::vector<Tensor>{x}, opts);
}

// ---- DOT export (book step 26) ----------------------------------------------------------

namespace {

uintptr_t id_of(const void *p) { return reinterpret_cast<uintptr_t>(p); }

std::string dot_var(const Variable &v, bool verbose) {
  std::string label = v.name();
  if (verbose) {
    if (!label.empty())
      label += ": ";
    label += shape_str(v.shape()) + " " + dtype_name(v.dtype());
  }
  return std::to_string(id_of(v.node().get())) + " [label=\"" + label +
         "\", color=orange, style=filled]\n";
}

std::string dot_func(const Function &f) {
  const std::string fid = std::to_string(id_of(&f));
  std::string txt =
      fid + " [label=\"" + f.name() + "\", color=lightblue, style=filled, shape=box]\n";
  for (const Variable &x : f.inputs())
    txt += std::to_string(id_of(x.node().get())) + " -> " + fid + "\n";
  for (size_t i = 0; i < f.num_outputs(); ++i)
    if (Variable y = f.output(i))
      txt += fid + " -> " + std::to_string(id_of(y.node().get())) + "\n";
  return txt;
}

} // namespace

std::string get_dot_graph(const Variable &output, bool verbose) {
  if (!output.defined())
    throw Error("get_dot_graph: the output Variable is null");
  std::string txt = dot_var(output, verbose);
  std::vector<std::shared_ptr<Function>> funcs;
  std::unordered_set<const Function *> seen_funcs;
  std::unordered_set<const VariableNode *> seen_vars{output.node().get()};
  auto add_func = [&](const std::shared_ptr<Function> &f) {
    if (f && seen_funcs.insert(f.get()).second)
      funcs.push_back(f);
  };
  add_func(output.creator());
  while (!funcs.empty()) {
    std::shared_ptr<Function> f = funcs.back();
    funcs.pop_back();
    txt += dot_func(*f);
    for (const Variable &x : f->inputs()) {
      if (!x.defined())
        continue;
      if (seen_vars.insert(x.node().get()).second)
        txt += dot_var(x, verbose);
      add_func(x.creator());
    }
  }
  return "digraph g {\n" + txt + "}";
}

namespace {

std::string shell_quote(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

} // namespace

void plot_dot_graph(const Variable &output, bool verbose, const std::string &to_file) {
  const std::string dot = get_dot_graph(output, verbose);
  const size_t slash = to_file.find_last_of('/');
  const size_t dot_pos = to_file.find_last_of('.');
  const bool has_ext =
      dot_pos != std::string::npos && (slash == std::string::npos || dot_pos > slash);
  const std::string stem = has_ext ? to_file.substr(0, dot_pos) : to_file;
  const std::string ext = has_ext ? to_file.substr(dot_pos + 1) : "png";
  const std::string dot_file = stem + ".dot";

  {
    FILE *fp = std::fopen(dot_file.c_str(), "w");
    if (!fp)
      throw Error("plot_dot_graph: cannot write " + dot_file);
    const bool written = std::fwrite(dot.data(), 1, dot.size(), fp) == dot.size();
    if (std::fclose(fp) != 0 || !written)
      throw Error("plot_dot_graph: cannot write " + dot_file);
  }
  if (ext == "dot")
    return;
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    throw Error("plot_dot_graph: Graphviz is not installed (no `dot` on PATH); the DOT source "
                "was written to " +
                dot_file + " (install the graphviz package to render it)");
  const std::string cmd =
      "dot -T" + shell_quote(ext) + " " + shell_quote(dot_file) + " -o " + shell_quote(to_file);
  if (std::system(cmd.c_str()) != 0)
    throw Error("plot_dot_graph: `" + cmd + "` failed; the DOT source is in " + dot_file);
}

} // namespace dz::utils
