// models/cli.h - the command line every program of models/ and bench/ shares (CLI11).
//
// The common options mean the same in every program that has them (README, "Example
// models"); --help lists each option with its default; a bad value is one line on stderr and
// exit status 2, before any work starts; an error while the program runs is one line on
// stderr and exit status 1. A program reads:
//
//   int main(int argc, char **argv) try {
//     example::Cli cli("spiral", "step 48: an MLP classifies the spiral data set");
//     cli.training(/*epochs=*/300, /*batch_size=*/30, /*lr=*/1.0); // the common options
//     int hidden = 10;
//     cli.app().add_option("--hidden", hidden, "units of the hidden layer"); // its own
//     const example::Options &o = cli.parse(argc, argv);
//     ...
//   } catch (...) {
//     return example::exit_status("spiral");
//   }
#pragma once

#include <dzc/device_backend.h>
#include <dzc/tensor.h>

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include <unistd.h>

namespace example {

inline constexpr int kRuntimeError = 1, kUsageError = 2;

/// The common options. A program offers those that mean something for it (Cli::epochs,
/// Cli::lr, ...); the others keep these values.
struct Options {
  int epochs = 1;          // --epochs N: passes over the training data
  int iters = 1;           // --iters N: update steps (the programs without a data set)
  int64_t batch_size = 32; // --batch-size N: samples per training step
  double lr = 0.01;        // --lr X: the optimizer's learning rate
  dz::Device device;       // --device cpu|cuda|cuda:N: where the model and the batches live
  bool eager = false;      // --eager: train eagerly instead of through dz::compile
  std::string out = ".";   // --out DIR: where the result files go (made when missing)
  uint64_t seed = 0;       // --seed N: dz::manual_seed and the data loader's shuffling
  bool quiet = false;      // --quiet: only the final result (and errors), no progress
  std::string data;        // --data DIR: the data set's directory ("" = its default)
};

/// Thrown by Cli after --help (status 0) or a usage error (status 2, already reported);
/// exit_status() turns it into main's return value.
struct Exit {
  int status;
};

/// One line: the message with its line breaks folded into "; ".
inline std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\n') {
      r += s[i];
      continue;
    }
    while (i + 1 < s.size() && (s[i + 1] == ' ' || s[i + 1] == '\n'))
      ++i;
    r += !r.empty() && r.back() == ':' ? " " : "; ";
  }
  return r;
}

/// For main's catch (...): reports the exception in flight as one line on stderr
/// ("PROGRAM: error: ...") and returns the exit status: 1 for dz::Error and any other
/// exception, Exit's status for --help and usage errors.
inline int exit_status(const char *program) noexcept {
  try {
    throw;
  } catch (const Exit &e) {
    return e.status;
  } catch (const dz::Error &e) {
    std::fprintf(stderr, "%s: error: %s\n", program, one_line(e.what()).c_str());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: error: %s\n", program, one_line(e.what()).c_str());
  } catch (...) {
    std::fprintf(stderr, "%s: error: an unknown exception (a bug; please report it)\n", program);
  }
  std::fflush(stderr);
  return kRuntimeError;
}

/// A program's command line: the common options it offers (epochs(), lr(), training(),
/// ...), its own (app(), CLI11's interface), then parse().
class Cli {
public:
  Cli(std::string program, const std::string &description)
      : program_(std::move(program)), app_(description, program_) {
    app_.option_defaults()->always_capture_default();
    app_.get_formatter()->column_width(30);
    app_.failure_message([this](const CLI::App *, const CLI::Error &e) {
      return program_ + ": error: " + one_line(e.what()) + " (" + program_ +
             " --help lists the options)\n";
    });
  }

  // The options are bound to this object's members: it stays where it was made.
  Cli(const Cli &) = delete;
  Cli &operator=(const Cli &) = delete;

  /// The CLI11 app, for the program's own options.
  CLI::App &app() { return app_; }

  // The common options, each with the program's default. A program adds those that mean
  // something for it.
  Cli &epochs(int def) {
    o_.epochs = defaults_.epochs = def;
    app_.add_option("--epochs", o_.epochs, "passes over the training data")
        ->type_name("N")
        ->check(whole<int>(1));
    return *this;
  }
  Cli &iters(int def) {
    o_.iters = defaults_.iters = def;
    app_.add_option("--iters", o_.iters, "update steps")->type_name("N")->check(whole<int>(1));
    return *this;
  }
  Cli &batch_size(int64_t def) {
    o_.batch_size = defaults_.batch_size = def;
    app_.add_option("--batch-size", o_.batch_size, "samples per training step")
        ->type_name("N")
        ->check(whole<int64_t>(1));
    return *this;
  }
  Cli &lr(double def) {
    o_.lr = defaults_.lr = def;
    app_.add_option("--lr", o_.lr, "learning rate of the optimizer")
        ->type_name("X")
        ->check(finite_positive());
    return *this;
  }
  Cli &device() {
    app_.add_option("--device", device_,
                    "where the model and the batches live: cpu, cuda (= cuda:0) or cuda:N")
        ->type_name("DEVICE");
    return *this;
  }
  Cli &eager() {
    app_.add_flag("--eager", o_.eager, "train eagerly instead of through dz::compile");
    return *this;
  }
  Cli &out() {
    app_.add_option("--out", o_.out, "directory for the result files (made when missing)")
        ->type_name("DIR");
    return *this;
  }
  Cli &seed(uint64_t def = 0) {
    o_.seed = defaults_.seed = def;
    app_.add_option("--seed", o_.seed,
                    "seed of dz::manual_seed and of the data loader's "
                    "shuffling")
        ->type_name("N")
        ->check(whole<uint64_t>(0));
    return *this;
  }
  Cli &quiet() {
    app_.add_flag("--quiet", o_.quiet, "print only the final result, no progress");
    return *this;
  }
  Cli &data() {
    app_.add_option("--data", o_.data,
                    "directory of the data set (default: where Debian's package puts it)")
        ->type_name("DIR");
    return *this;
  }
  /// What a program that trains a model on a data set offers: --epochs, --batch-size and
  /// --lr with these defaults, --device, --eager, --out, --seed and --quiet.
  Cli &training(int epochs_default, int64_t batch_size_default, double lr_default) {
    return epochs(epochs_default)
        .batch_size(batch_size_default)
        .lr(lr_default)
        .device()
        .eager()
        .out()
        .seed()
        .quiet();
  }

  /// Parses the command line. --help prints the options and throws Exit{0}; a bad option
  /// or value, a --device that is not available or an --out that cannot be made prints
  /// one line and throws Exit{2}.
  const Options &parse(int argc, char **argv) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      const int status = app_.exit(e);
      throw Exit{status == 0 ? 0 : kUsageError};
    }
    if (app_.get_option_no_throw("--device"))
      o_.device = parse_device(device_);
    if (app_.get_option_no_throw("--out"))
      make_out_dir(o_.out);
    return o_;
  }

  const Options &options() const { return o_; }

  /// Whether `name` (e.g. "--lr") was given on the command line.
  bool given(const std::string &name) const {
    const CLI::Option *opt = app_.get_option_no_throw(name);
    return opt && opt->count() > 0;
  }

  /// Whether this run uses the settings a program documents its result for: at least the
  /// default epochs (or iterations), with the default learning rate, batch size and seed.
  /// The programs check their result only then.
  bool documented_settings() const {
    return o_.epochs >= defaults_.epochs && o_.iters >= defaults_.iters && !given("--lr") &&
           !given("--batch-size") && !given("--seed");
  }

  /// Reports a usage error found after parsing (one line) and throws Exit{2}.
  [[noreturn]] void usage_error(const std::string &message) const {
    std::fprintf(stderr, "%s: error: %s (%s --help lists the options)\n", program_.c_str(),
                 one_line(message).c_str(), program_.c_str());
    throw Exit{kUsageError};
  }

  /// Validators of values, for a program's own options too: a whole number of type T
  /// that is at least `min`; a finite number > 0.
  template <typename T> static CLI::Validator whole(T min) {
    return CLI::Validator(
        [min](std::string &s) -> std::string {
          T v{};
          const char *end = s.data() + s.size();
          auto [ptr, ec] = std::from_chars(s.data(), end, v);
          if (ec == std::errc::result_out_of_range)
            return "'" + s + "' is too large";
          if (s.empty() || ec != std::errc() || ptr != end)
            return "'" + s + "' is not a whole number";
          if (v < min)
            return "'" + s + "' is less than " + std::to_string(min);
          return {};
        },
        "");
  }
  static CLI::Validator finite_positive() {
    return CLI::Validator(
        [](std::string &s) -> std::string {
          double v = 0;
          const char *end = s.data() + s.size();
          auto [ptr, ec] = std::from_chars(s.data(), end, v);
          if (s.empty() || ec != std::errc() || ptr != end)
            return "'" + s + "' is not a number";
          if (!std::isfinite(v) || v <= 0)
            return "'" + s + "' is not a finite number > 0";
          return {};
        },
        "");
  }

private:
  dz::Device parse_device(const std::string &s) const {
    dz::Device dev;
    if (s == "cpu")
      dev = dz::Device::cpu();
    else if (s == "cuda")
      dev = dz::Device::cuda(0);
    else if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 9 &&
             s.find_first_not_of("0123456789", 5) == std::string::npos)
      dev = dz::Device::cuda(std::stoi(s.substr(5)));
    else
      usage_error("--device " + s + ": unknown device (valid: cpu, cuda, cuda:N)");
    std::string why;
    if (!dz::device_available(dev, &why))
      usage_error("--device " + s + ": " + why);
    return dev;
  }

  void make_out_dir(const std::string &dir) const {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      usage_error("--out " + dir + ": cannot make the directory: " + ec.message());
    if (!std::filesystem::is_directory(dir))
      usage_error("--out " + dir + ": not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      usage_error("--out " + dir + ": the directory is not writable");
  }

  std::string program_;
  CLI::App app_;
  Options o_, defaults_;
  std::string device_ = "cpu";
};

} // namespace example
