// ort.h - runs ONNX models in onnxruntime (CPU) from a test, as a reference for dzc.
//
// onnxruntime is the npm package onnxruntime-node, installed by scripts/install-deps.sh
// outside the repo (/opt/dzc/onnxruntime-node unless DZ_ORT_DIR says otherwise), and run
// by node with tools/ort/run.mjs. A test target gets the three paths as compile
// definitions from CMake with `dz_use_ort(target)` (tests/onnx/CMakeLists.txt):
//   DZ_NODE        the node executable, "" when CMake found none
//   DZ_ORT_RUNNER  tools/ort/run.mjs
//   DZ_ORT_DIR     the directory holding node_modules/onnxruntime-node
// The environment variables DZ_NODE and DZ_ORT_DIR override the built-in paths at run time.
//
// run_ort writes the inputs as .npy files (dz::save_npy) into a fresh temporary directory,
// runs `node run.mjs MODEL --input ... --output-dir DIR`, reads DIR/output_<i>.npy back and
// removes the directory. A test calls ort_unavailable_reason() first and GTEST_SKIPs with
// the reason when it is not empty.
#pragma once

#include "temp_dir.h"

#include <dzc/io.h>
#include <dzc/tensor.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#if !defined(DZ_NODE) || !defined(DZ_ORT_RUNNER) || !defined(DZ_ORT_DIR)
#error "ort.h needs DZ_NODE, DZ_ORT_RUNNER and DZ_ORT_DIR: call dz_use_ort(<target>) in CMake"
#endif

namespace dz::testing {

namespace ort_detail {

inline std::string env_or(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v && *v ? std::string(v) : std::string(fallback);
}

inline std::string node_path() { return env_or("DZ_NODE", DZ_NODE); }
inline std::string ort_dir() { return env_or("DZ_ORT_DIR", DZ_ORT_DIR); }

/// `s` quoted for /bin/sh.
inline std::string shell_quote(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// The command line that runs the runner with `args` (already quoted).
inline std::string runner_command(const std::string &args) {
  return "DZ_ORT_DIR=" + shell_quote(ort_dir()) + " " + shell_quote(node_path()) + " " +
         shell_quote(DZ_ORT_RUNNER) + " " + args;
}

/// Runs `cmd` with /bin/sh, stdout and stderr into `log`; the exit status, or -1 when the
/// shell could not run or the command was killed by a signal.
inline int run_command(const std::string &cmd, const std::string &log) {
  const int st = std::system((cmd + " >" + shell_quote(log) + " 2>&1").c_str());
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/// The last non-empty line of `path` (the runner's one-line error), or "" when none.
inline std::string last_line(const std::string &path) {
  std::string text;
  try {
    text = dz::read_file(path, "reading the onnxruntime log");
  } catch (const dz::Error &) {
    return "";
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  const size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

inline std::string probe() {
  const std::string node = node_path();
  if (node.empty())
    return "node not found (install nodejs, e.g. with scripts/install-deps.sh)";
  if (access(node.c_str(), X_OK) != 0)
    return "node not found at '" + node + "'";
  if (access(DZ_ORT_RUNNER, R_OK) != 0)
    return std::string("the onnxruntime runner '") + DZ_ORT_RUNNER + "' is missing";
  const std::string pkg = ort_dir() + "/node_modules/onnxruntime-node";
  if (!std::filesystem::exists(pkg + "/package.json"))
    return "onnxruntime-node not installed at '" + pkg +
           "' (scripts/install-deps.sh installs it; DZ_ORT_DIR overrides the place)";
  // Loading the package catches a binary that does not fit this node or machine.
  TempDir dir("dz-ort");
  const std::string log = (dir.path() / "probe.log").string();
  if (run_command(runner_command("--check"), log) != 0) {
    const std::string why = last_line(log);
    return "onnxruntime-node at '" + pkg + "' does not load" + (why.empty() ? "" : ": " + why);
  }
  return "";
}

} // namespace ort_detail

/// Why onnxruntime cannot run here ("node not found", "onnxruntime-node not installed at
/// ..."), or "" when it can. Checked once per process (the check starts node once).
inline std::string ort_unavailable_reason() {
  static const std::string reason = [] {
    try {
      return ort_detail::probe();
    } catch (const dz::Error &e) {
      return std::string(e.what());
    }
  }();
  return reason;
}

/// Runs `model` in onnxruntime (CPU) with `inputs` (float32/int64; any dtype .npy holds),
/// given in the order of the graph's inputs (initializers excluded), and returns its
/// outputs in graph order. Throws dz::Error on failure, with onnxruntime's message.
inline std::vector<dz::Tensor> run_ort(const std::string &model,
                                       const std::vector<dz::Tensor> &inputs) {
  const std::string reason = ort_unavailable_reason();
  if (!reason.empty())
    throw dz::Error("run_ort('" + model + "'): onnxruntime is unavailable: " + reason);
  TempDir dir("dz-ort");
  std::string args = ort_detail::shell_quote(model);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string p = (dir.path() / ("input_" + std::to_string(i) + ".npy")).string();
    dz::save_npy(p, inputs[i]);
    args += " --input " + ort_detail::shell_quote(p);
  }
  const std::filesystem::path out = dir.path() / "out";
  args += " --output-dir " + ort_detail::shell_quote(out.string());
  const std::string log = (dir.path() / "run.log").string();
  if (ort_detail::run_command(ort_detail::runner_command(args), log) != 0) {
    const std::string why = ort_detail::last_line(log);
    throw dz::Error("run_ort('" + model + "'): onnxruntime failed" +
                    (why.empty() ? std::string() : ": " + why));
  }
  std::vector<dz::Tensor> outputs;
  for (int i = 0;; ++i) {
    const std::filesystem::path p = out / ("output_" + std::to_string(i) + ".npy");
    if (!std::filesystem::exists(p))
      break;
    outputs.push_back(dz::load_npy(p.string()));
  }
  if (outputs.empty())
    throw dz::Error("run_ort('" + model + "'): onnxruntime wrote no output");
  return outputs;
}

} // namespace dz::testing
