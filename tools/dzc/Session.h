// Session.h - one compilation of a .mlir file by the dzc CLI: parse and verify, run the
// pipeline, print the module, build the CPU program of one function.
//
// Every step reports its problems on stderr (MLIR diagnostics with the file position and
// the source line; other problems as "dzc: error: ...") and returns false / nullopt; no
// step throws. This header has no MLIR in it: the MLIR context lives behind a pointer.
#pragma once

#include <dzc/codegen/Executor.h>

#include <memory>
#include <optional>
#include <string>

namespace dz::cli {

class Session {
public:
  Session();
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Parses and verifies `path` ("-" is stdin). False after the diagnostics.
  bool load(const std::string &path);
  /// The pipeline of compiled mode (autodiff, canonicalize, CSE) over the whole module;
  /// with `print_ir_after_all`, the module after each pass goes to stderr; with `fuse`,
  /// dz-fuse after it (dzc --emit=fused).
  bool runPipeline(bool print_ir_after_all, bool fuse = false);
  /// The module as MLIR text, ending in a newline.
  std::string str() const;
  /// The memory plan of every function (dzc/passes/MemoryPlan.h) as text; nullopt after
  /// the error.
  std::optional<std::string> memoryPlan() const;
  /// The CPU program of the func.func named `function`, or of the only one when
  /// `function` is empty. nullopt after the error.
  std::optional<codegen::Program> buildProgram(const std::string &function);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace dz::cli
