// dzc.cpp - the dzc command line (docs/dzc.md): `dzc FILE.mlir|FILE.onnx --emit=dz|opt|fused
// [-o FILE]` prints a module of the dz dialect as parsed (or imported) or after the
// pipeline; `dzc run FILE --input x.npy|x.pb ... --output-dir DIR` runs one of its
// functions on the CPU; `dzc --op-stats FILE.onnx` lists a model's ops and whether dz
// supports them.
//
// Exit status: 0 success; 1 an error in what the user gave (a file, the IR, the inputs,
// the output); 2 a usage error or a feature that this version does not have yet. Every
// error is one message on stderr; no exception leaves main.
#include "Session.h"

#include <dzc/device_backend.h>
#include <dzc/io.h>
#include <dzc/onnx/Model.h>
#include <dzc/tensor.h>
#include <dzc/version.h>

#include <CLI/CLI.hpp>
#include <llvm/Config/llvm-config.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace dz::cli {
namespace {

constexpr int kOk = 0, kError = 1, kUsage = 2;

// What --emit accepts.
const std::vector<std::string> kEmit = {"dz", "opt", "fused", "memplan", "llvm", "cuda", "onnx"};

int fail(int status, const std::string &message) {
  std::cerr << "dzc: error: " << message << "\n";
  return status;
}

bool isOnnx(const std::string &path) { return std::filesystem::path(path).extension() == ".onnx"; }

struct EmitOptions {
  std::string file, emit = "opt", output = "-", function;
  int opset = dz::onnx::kMinExportOpset;
  bool static_batch = false;
  bool print_ir_after_all = false;
  bool print_memory_plan = false;
  bool op_stats = false;
};

struct RunOptions {
  std::string file, output_dir, function, device = "cpu";
  std::vector<std::string> inputs;
  int bench = 0;
  bool print_ir_after_all = false;
};

int emit(const EmitOptions &o) {
  if (std::find(kEmit.begin(), kEmit.end(), o.emit) == kEmit.end())
    return fail(kUsage,
                "unknown --emit=" + o.emit + "; valid: dz, opt, fused, memplan, llvm, cuda, onnx");
  if (o.print_memory_plan && (o.emit == "dz" || o.emit == "onnx"))
    return fail(kUsage, "--print-memory-plan plans the module after the pipeline (--emit=opt "
                        "or fused), not --emit=" +
                            o.emit);
  const bool onnx = o.emit == "onnx";
  if (onnx && (o.opset < dz::onnx::kMinExportOpset || o.opset > dz::onnx::kMaxExportOpset))
    return fail(kUsage, "--opset " + std::to_string(o.opset) + ": dzc writes opsets " +
                            std::to_string(dz::onnx::kMinExportOpset) + " to " +
                            std::to_string(dz::onnx::kMaxExportOpset));
  if (onnx && o.output == "-" && isatty(STDOUT_FILENO))
    return fail(kUsage, "--emit=onnx writes a binary file: give -o FILE.onnx (or redirect "
                        "stdout)");

  Session session;
  if (!(isOnnx(o.file) ? session.importOnnx(o.file, {}) : session.load(o.file)))
    return kError;
  // ONNX is written from the function as traced; only dz.grad ops need the pipeline's
  // first part (dz-autodiff, canonicalize, cse) before.
  const bool pipeline = onnx ? session.hasGradOps() : o.emit != "dz";
  if (pipeline && !session.runPipeline(o.print_ir_after_all, !onnx && o.emit != "opt"))
    return kError;
  std::optional<std::string> text;
  if (onnx) {
    dz::onnx::ExportOptions options;
    options.opset = o.opset;
    options.dynamic_batch = !o.static_batch;
    text = session.onnxModel(o.function, options);
  } else if (o.print_memory_plan || o.emit == "memplan")
    text = session.memoryPlan();
  else if (o.emit == "llvm")
    text = session.llvmIR();
  else if (o.emit == "cuda")
    text = session.cudaSource();
  else
    text = session.str();
  if (!text)
    return kError;
  if (o.output == "-") {
    std::cout << *text << std::flush;
    if (!std::cout)
      return fail(kError, "cannot write the output to stdout");
  } else {
    dz::write_file_atomic(o.output, *text, "-o"); // throws dz::Error naming the path
  }
  return kOk;
}

/// The type of a tensor as MLIR writes it, for messages: "tensor<3xf32>".
std::string typeOf(const Tensor &t) { return codegen::type_str({t.shape(), t.dtype()}); }

/// The tensors of the --input files, each an onnx.TensorProto (.pb) or a .npy file; the
/// message naming the input that cannot be read otherwise.
std::optional<std::string> readInputs(const std::vector<std::string> &paths,
                                      std::vector<Tensor> &out) {
  for (size_t i = 0; i < paths.size(); ++i) {
    try {
      const bool pb = std::filesystem::path(paths[i]).extension() == ".pb";
      out.push_back(pb ? dz::onnx::load_tensor_pb(paths[i]) : dz::load_npy(paths[i]));
    } catch (const dz::Error &e) {
      return "--input #" + std::to_string(i + 1) + " ('" + paths[i] + "'): " + e.what();
    }
  }
  return std::nullopt;
}

int run(const RunOptions &o) {
  const Device device = o.device == "cuda" ? Device::cuda(0) : Device::cpu();
  if (std::string why; !device_available(device, &why))
    return fail(kError, "--device cuda: " + why);

  Session session;
  std::vector<Tensor> args;
  std::optional<std::string> unreadable;
  if (isOnnx(o.file)) {
    // Read first: the importer bakes in inputs that an op needs as constants (the shape
    // of a Reshape given as a graph input) and takes symbolic dimensions from them.
    if ((unreadable = readInputs(o.inputs, args)))
      return fail(kError, *unreadable);
    if (!session.importOnnx(o.file, args))
      return kError;
  } else if (!session.load(o.file)) {
    return kError;
  }
  if (!session.runPipeline(o.print_ir_after_all, /*optimize=*/true))
    return kError;
  std::optional<codegen::Program> program = session.buildProgram(o.function, device);
  if (!program)
    return kError;

  const std::vector<codegen::TensorSpec> &want = program->arg_types();
  if (o.inputs.size() != want.size()) {
    std::string sig;
    for (const codegen::TensorSpec &t : want)
      sig += (sig.empty() ? "" : ", ") + codegen::type_str(t);
    return fail(kError, "@" + program->name() + " takes " + std::to_string(want.size()) +
                            " input(s) (" + sig + "), got " + std::to_string(o.inputs.size()) +
                            " --input");
  }
  if (!isOnnx(o.file) && (unreadable = readInputs(o.inputs, args)))
    return fail(kError, *unreadable);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string which = "--input #" + std::to_string(i + 1) + " ('" + o.inputs[i] + "')";
    if (args[i].dtype() == u16 && want[i].dtype == bf16) { // bfloat16's bits, as .npy holds them
      Tensor bits(args[i].shape(), bf16);
      if (bits.nbytes() > 0)
        std::memcpy(bits.raw(), args[i].raw(), bits.nbytes());
      args[i] = bits;
    }
    if (args[i].shape() != want[i].shape || args[i].dtype() != want[i].dtype)
      return fail(kError, which + " is " + typeOf(args[i]) + ", but argument " + std::to_string(i) +
                              " of @" + program->name() + " is " + codegen::type_str(want[i]));
  }

  for (Tensor &a : args)
    a = a.to(device);

  // Make the output folder before running, so that a bad path costs no run.
  std::error_code ec;
  std::filesystem::create_directories(o.output_dir, ec);
  if (ec || !std::filesystem::is_directory(o.output_dir))
    return fail(kError, "--output-dir '" + o.output_dir + "': cannot create the folder: " +
                            (ec ? ec.message() : std::string("it exists and is not a folder")));

  std::vector<Tensor> outs;
  using Clock = std::chrono::steady_clock;
  std::vector<double> ms;
  if (o.bench > 0)
    outs = program->run(args); // warm-up: first-touch page faults, OpenMP's thread start
  for (int i = 0; i < std::max(o.bench, 1); ++i) {
    const Clock::time_point start = Clock::now();
    outs = program->run(args); // throws dz::Error naming the op that failed
    synchronize(device);       // a device runs asynchronously: the time is the device's
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  for (size_t i = 0; i < outs.size(); ++i)
    dz::save_npy(
        (std::filesystem::path(o.output_dir) / ("output_" + std::to_string(i) + ".npy")).string(),
        outs[i]);
  if (o.bench > 0) {
    const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
    std::sort(ms.begin(), ms.end());
    char line[200];
    std::snprintf(line, sizeof line,
                  "@%s: %d runs, median %.4f ms, mean %.4f ms, min %.4f ms per run\n",
                  program->name().c_str(), o.bench, ms[ms.size() / 2], mean, ms.front());
    std::cout << line << std::flush;
  }
  return kOk;
}

/// dzc --op-stats: one line per op type of the model, with its count and whether the
/// importer supports it; exit status 0 even when some are unsupported.
int opStats(const std::string &file) {
  if (!isOnnx(file))
    return fail(kUsage, "--op-stats reads an ONNX model (FILE.onnx), got '" + file + "'");
  std::vector<dz::onnx::OpUse> uses;
  try {
    uses = dz::onnx::op_stats(file);
  } catch (const dz::Error &e) {
    return fail(kError, e.what());
  }
  int64_t nodes = 0, unsupported = 0;
  char line[200];
  std::snprintf(line, sizeof line, "%-32s %5s %6s  %s\n", "op", "opset", "nodes", "supported");
  std::cout << line;
  for (const dz::onnx::OpUse &u : uses) {
    std::snprintf(line, sizeof line, "%-32s %5lld %6lld  %s\n", u.op_type.c_str(),
                  (long long)u.opset, (long long)u.count, u.supported ? "yes" : "no");
    std::cout << line;
    nodes += u.count;
    unsupported += u.supported ? 0 : 1;
  }
  std::cout << uses.size() << " op types, " << nodes << " nodes, " << unsupported
            << " op types unsupported\n"
            << std::flush;
  return kOk;
}

int dzcMain(int argc, char **argv) {
  CLI::App app{"dzc - the compiler of dzc: reads a module of the dz dialect (.mlir) or an ONNX "
               "model (.onnx), prints it after a stage of the pipeline or runs one of its "
               "functions.",
               "dzc"};
  app.set_version_flag("--version",
                       std::string("dzc ") + dz::version() + " (MLIR " + LLVM_VERSION_STRING + ")");
  app.require_subcommand(0, 1);
  app.failure_message([](const CLI::App *, const CLI::Error &err) {
    return "dzc: error: " + std::string(err.what()) +
           " (dzc --help and dzc run --help list the options)\n";
  });
  app.footer("Exit status: 0 success; 1 an error in the input, the IR, the --input files or "
             "the output; 2 a usage error or a feature not implemented yet in this version.\n"
             "Examples:\n"
             "  dzc step.mlir --emit=opt -o step.opt.mlir\n"
             "  dzc run step.mlir --input x.npy --input t.npy --output-dir out --bench 100\n"
             "  dzc model.onnx --emit=dz\n"
             "  dzc step.mlir --emit=onnx -o step.onnx\n"
             "  dzc --op-stats model.onnx\n"
             "See docs/dzc.md.");

  EmitOptions e;
  app.add_option("FILE", e.file,
                 "the .mlir file to compile (a module of func.func ops of the "
                 "dz dialect; - reads stdin) or a .onnx model to import");
  app.add_option("--emit", e.emit,
                 "what to print: dz (the module as parsed and verified), opt (after "
                 "dz-autodiff, canonicalize, cse), fused (after the whole pipeline: opt, then "
                 "dz-lower-conv, canonicalize, cse, dz-fuse), memplan (the memory plan of each "
                 "function after the pipeline), llvm (the optimised LLVM IR of the fused "
                 "kernels), cuda (CUDA C of the kernels for the GPU back end), onnx (the "
                 "function as an ONNX model, binary: give -o FILE.onnx)")
      ->capture_default_str();
  app.add_option("-o,--output", e.output, "write the output to this file instead of stdout");
  app.add_flag("--print-ir-after-all", e.print_ir_after_all,
               "print the module after each pass of the pipeline to stderr");
  app.add_flag("--print-memory-plan", e.print_memory_plan,
               "print the memory plan of each function after the pipeline (values, sizes, "
               "arena offsets, live ranges, peak) instead of the module (not with --emit=dz)");
  app.add_option("--function", e.function,
                 "--emit=onnx: the func.func to write (needed when the module has several)");
  app.add_option("--opset", e.opset, "--emit=onnx: the ONNX opset to write, 13 to 17")
      ->capture_default_str();
  app.add_flag("--static-batch", e.static_batch,
               "--emit=onnx: keep dimension 0 of the inputs and outputs fixed (default: a "
               "symbolic batch dimension N)");
  app.add_flag("--op-stats", e.op_stats,
               "list the op types of FILE.onnx with their counts and whether dz supports them");

  RunOptions r;
  CLI::App *run_cmd = app.add_subcommand(
      "run", "run a function of FILE.mlir (or the graph of FILE.onnx) on the CPU: the "
             "pipeline, then the program, on the --input tensors; writes DIR/output_<i>.npy");
  run_cmd->add_option("FILE", r.file, "the .mlir or .onnx file")->required();
  run_cmd
      ->add_option("--input", r.inputs,
                   "a .npy file (or an onnx.TensorProto .pb) per argument of the function, in "
                   "order (repeat the option)")
      ->allow_extra_args(false);
  run_cmd
      ->add_option("--output-dir", r.output_dir,
                   "where output_<i>.npy are written (made if "
                   "missing)")
      ->required();
  run_cmd->add_option("--function", r.function,
                      "the func.func to run (needed when the module has several)");
  run_cmd
      ->add_option(
          "--bench", r.bench,
          "run N times after a warm-up run and print the median, mean and min time per run")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  run_cmd->add_option("--device", r.device, "cpu (cuda comes later)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  run_cmd->add_flag("--print-ir-after-all", r.print_ir_after_all,
                    "print the module after each pass of the pipeline to stderr");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &err) {
    const int status = app.exit(err); // prints help/version (status 0) or the error
    return status == 0 ? kOk : kUsage;
  }

  if (run_cmd->parsed())
    return run(r);
  if (e.file.empty())
    return fail(kUsage, "no input file (dzc FILE.mlir --emit=dz|opt, or dzc run ...; see "
                        "dzc --help)");
  return e.op_stats ? opStats(e.file) : emit(e);
}

} // namespace
} // namespace dz::cli

int main(int argc, char **argv) {
  try {
    return dz::cli::dzcMain(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "dzc: error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "dzc: error: an unknown exception (a bug in dzc; please report it)\n";
  }
  return 1;
}
