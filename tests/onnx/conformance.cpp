// conformance.cpp - dz-onnx-conformance: runs the ONNX backend node tests (Debian's
// libonnx-testdata) through the importer, the dz pipeline and the CPU executor.
//
//   dz-onnx-conformance DATA_DIR [EXPECTED_PASS_FILE] [--filter TEXT] [--write-expected FILE]
//
// Each case is DATA_DIR/<name>/model.onnx with test_data_set_0/{input,output}_N.pb. A case
// passes when every output has the expected dtype and shape and each value is within
// ONNX's tolerance |a - b| <= 1e-7 + 1e-3 |b| (integers and bool exactly; bfloat16 data,
// which ONNX stores as the uint16 of its bits, compared as bfloat16); it is skipped when the
// model is valid but dz cannot express it (an unsupported op, attribute or dtype:
// UnsupportedError), and fails otherwise. Prints one line per skip and failure, the
// counts and a summary of the skip reasons. Exit status 1 when a case of the expected-pass
// list does not pass; the cases that pass but are not listed are printed as candidates.
#include <dzc/codegen/ExecutorBuild.h>
#include <dzc/onnx/Import.h>
#include <dzc/passes/Passes.h>

#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Pass/PassManager.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

enum class Outcome { Pass, Fail, Skip };

struct Result {
  Outcome outcome;
  std::string reason; // the category: "op Det", "dtype float16", "values differ"
  std::string detail; // the message
};

/// A message on one line, without the "'<path>': " the importer puts first.
std::string one_line(std::string s) {
  if (s.rfind("'/", 0) == 0 && s.find("': ") != std::string::npos)
    s = s.substr(s.find("': ") + 3);
  std::replace(s.begin(), s.end(), '\n', ';');
  return s;
}

/// The same bytes as another dtype of the same size (bfloat16 <-> its uint16 bits).
dz::Tensor with_dtype(const dz::Tensor &t, dz::DType dtype) {
  dz::Tensor out(t.shape(), dtype);
  if (t.nbytes() > 0)
    std::memcpy(out.raw(), t.raw(), t.nbytes());
  return out;
}

std::vector<dz::Tensor> load_all(const fs::path &dir, const std::string &prefix) {
  std::vector<dz::Tensor> out;
  for (int i = 0;; ++i) {
    const fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p))
      return out;
    out.push_back(dz::onnx::load_tensor_pb(p.string()));
  }
}

template <typename T> double value_at(const dz::Tensor &t, int64_t i) {
  return double(t.data<T>()[i]);
}

/// Empty when `got` matches `want` by ONNX's rule, else what differs.
std::string compare(const dz::Tensor &got, const dz::Tensor &want_given) {
  // ONNX's test data store bfloat16 as the uint16 of its bits.
  const dz::Tensor want = got.dtype() == dz::bf16 && want_given.dtype() == dz::u16
                              ? with_dtype(want_given, dz::bf16)
                              : want_given;
  if (got.dtype() != want.dtype())
    return std::string("dtype ") + dz::dtype_name(got.dtype()) + ", expected " +
           dz::dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return "shape " + dz::codegen::type_str({got.shape(), got.dtype()}) + ", expected " +
           dz::codegen::type_str({want.shape(), want.dtype()});
  if (!dz::is_floating(want.dtype())) { // integers and bool: exact (uint64 as its int64 bits)
    const dz::Tensor g = got.to(dz::i64), w = want.to(dz::i64);
    for (int64_t i = 0; i < want.size(); ++i)
      if (g.data<int64_t>()[i] != w.data<int64_t>()[i])
        return "element " + std::to_string(i) + " is " + std::to_string(g.data<int64_t>()[i]) +
               ", expected " + std::to_string(w.data<int64_t>()[i]);
    return "";
  }
  const dz::Tensor g = got.to(dz::f64), w = want.to(dz::f64);
  for (int64_t i = 0; i < want.size(); ++i) {
    const double a = g.data<double>()[i], b = w.data<double>()[i];
    const bool same =
        (std::isnan(a) && std::isnan(b)) || a == b || std::abs(a - b) <= 1e-7 + 1e-3 * std::abs(b);
    if (!same)
      return "element " + std::to_string(i) + " is " + std::to_string(a) + ", expected " +
             std::to_string(b);
  }
  return "";
}

Result run_case(const fs::path &dir) {
  const fs::path data = dir / "test_data_set_0";
  std::vector<dz::Tensor> inputs, expected;
  try {
    inputs = load_all(data, "input_");
    expected = load_all(data, "output_");
  } catch (const dz::onnx::UnsupportedError &e) {
    // A SequenceProto or OptionalProto read as a TensorProto looks like a tensor segment.
    const bool dtype = e.reason().rfind("dtype", 0) == 0;
    return {Outcome::Skip, dtype ? e.reason() : "test data not a tensor", one_line(e.what())};
  } catch (const dz::Error &e) {
    return {Outcome::Skip, "test data not a tensor", one_line(e.what())};
  }
  mlir::MLIRContext ctx(mlir::MLIRContext::Threading::DISABLED);
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler collect(&ctx, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  try {
    dz::onnx::ImportOptions options;
    options.input_values = inputs;
    options.evaluate = [](mlir::func::FuncOp fn) {
      return dz::codegen::buildProgramOrThrow(fn).run({}).at(0);
    };
    mlir::OwningOpRef<mlir::ModuleOp> module =
        dz::onnx::importOnnx(ctx, (dir / "model.onnx").string(), options);
    mlir::PassManager pm(&ctx);
    dz::passes::buildPipeline(pm);
    if (mlir::failed(pm.run(*module)))
      return {Outcome::Fail, "pipeline", one_line(diagnostics)};
    auto fn = *module->getOps<mlir::func::FuncOp>().begin();
    for (size_t i = 0; i < inputs.size() && i < fn.getNumArguments(); ++i)
      if (inputs[i].dtype() == dz::u16 &&
          llvm::cast<mlir::RankedTensorType>(fn.getArgumentTypes()[i]).getElementType().isBF16())
        inputs[i] = with_dtype(inputs[i], dz::bf16);
    dz::codegen::Program program = dz::codegen::buildProgramOrThrow(fn);
    std::vector<dz::Tensor> got = program.run(inputs);
    if (got.size() != expected.size())
      return {Outcome::Fail, "output count",
              std::to_string(got.size()) + " outputs, expected " + std::to_string(expected.size())};
    for (size_t i = 0; i < got.size(); ++i)
      if (std::string why = compare(got[i], expected[i]); !why.empty())
        return {Outcome::Fail, "values differ", "output " + std::to_string(i) + ": " + why};
    return {Outcome::Pass, "", ""};
  } catch (const dz::onnx::UnsupportedError &e) {
    return {Outcome::Skip, e.reason(), one_line(e.what())};
  } catch (const std::exception &e) {
    return {Outcome::Fail, "error", one_line(e.what())};
  }
}

std::set<std::string> read_list(const std::string &path) {
  std::set<std::string> names;
  std::ifstream in(path);
  if (!in)
    throw dz::Error("cannot read the expected-pass list '" + path + "'");
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#')
      names.insert(line);
  return names;
}

int conformance(int argc, char **argv) {
  std::string data_dir, expected_file, filter, write_file;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--filter" || arg == "--write-expected") && i + 1 < argc)
      (arg == "--filter" ? filter : write_file) = argv[++i];
    else if (data_dir.empty())
      data_dir = arg;
    else if (expected_file.empty())
      expected_file = arg;
    else
      throw dz::Error("unexpected argument '" + arg + "'");
  }
  if (data_dir.empty())
    throw dz::Error("usage: dz-onnx-conformance DATA_DIR [EXPECTED_PASS_FILE] [--filter TEXT] "
                    "[--write-expected FILE]");
  if (!fs::is_directory(data_dir)) {
    std::cout << "dz-onnx-conformance: no node tests at '" << data_dir
              << "' (apt-get install libonnx-testdata); skipped\n";
    return 77; // ctest's SKIP_RETURN_CODE
  }
  const std::set<std::string> expected_pass =
      expected_file.empty() ? std::set<std::string>{} : read_list(expected_file);

  std::vector<fs::path> cases;
  for (const fs::directory_entry &e : fs::directory_iterator(data_dir))
    if (fs::exists(e.path() / "model.onnx") &&
        e.path().filename().string().find(filter) != std::string::npos)
      cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());

  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> skip_reasons;
  std::vector<std::string> passing, regressions;
  for (const fs::path &dir : cases) {
    const std::string name = dir.filename().string();
    const Result r = run_case(dir);
    if (r.outcome == Outcome::Pass) {
      ++passed;
      passing.push_back(name);
      continue;
    }
    (r.outcome == Outcome::Fail ? failed : skipped)++;
    if (r.outcome == Outcome::Skip)
      ++skip_reasons[r.reason];
    std::cout << (r.outcome == Outcome::Fail ? "FAIL " : "SKIP ") << name << ": " << r.reason
              << (r.detail.empty() ? "" : " (" + r.detail + ")") << "\n";
    if (expected_pass.count(name))
      regressions.push_back(name);
  }

  std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
  std::vector<std::pair<int, std::string>> reasons;
  for (const auto &[reason, n] : skip_reasons)
    reasons.push_back({-n, reason});
  std::sort(reasons.begin(), reasons.end());
  std::cout << "skip reasons:\n";
  for (const auto &[n, reason] : reasons)
    std::cout << "  " << -n << "  " << reason << "\n";

  if (!write_file.empty()) {
    std::ofstream out(write_file);
    out << "# ONNX node tests that dz passes (tests/onnx/conformance.cpp); one per line.\n";
    for (const std::string &name : passing)
      out << name << "\n";
  }
  std::vector<std::string> candidates;
  for (const std::string &name : passing)
    if (!expected_file.empty() && !expected_pass.count(name))
      candidates.push_back(name);
  if (!candidates.empty()) {
    std::cout << candidates.size() << " passing cases are not in " << expected_file
              << " (add them):\n";
    for (const std::string &name : candidates)
      std::cout << "  " << name << "\n";
  }
  for (const std::string &name : expected_pass)
    if (std::none_of(cases.begin(), cases.end(),
                     [&](const fs::path &p) { return p.filename() == name; }) &&
        filter.empty())
      regressions.push_back(name + " (missing from the data)");
  if (!regressions.empty()) {
    std::cout << regressions.size() << " expected-pass cases do not pass:\n";
    for (const std::string &name : regressions)
      std::cout << "  " << name << "\n";
    return 1;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return conformance(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "dz-onnx-conformance: " << e.what() << "\n";
    return 2;
  }
}
