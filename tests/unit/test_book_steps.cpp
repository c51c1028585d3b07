// test_book_steps.cpp - the examples of "Deep Learning from Scratch 3" (DeZero, stages 1-3)
// as tests, with the values the book prints.
#include <dzc/dzc.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

namespace F = dz::functions;
using dz::Tensor;
using dz::Variable;

namespace {

/// The value of x's gradient; NaN (and a test failure) when x has none.
double grad_of(const Variable &x) {
  EXPECT_TRUE(x.has_grad()) << "variable has no gradient";
  return x.has_grad() ? x.grad().item<double>() : NAN;
}

double value(const Variable &x) { return x.item<double>(); }

Variable sphere(const Variable &x, const Variable &y) { return dz::pow(x, 2) + dz::pow(y, 2); }

Variable matyas(const Variable &x, const Variable &y) {
  return 0.26 * (dz::pow(x, 2) + dz::pow(y, 2)) - 0.48 * x * y;
}

Variable goldstein(const Variable &x, const Variable &y) {
  return (1.0 + dz::pow(x + y + 1.0, 2) * (19.0 - 14.0 * x + 3.0 * dz::pow(x, 2) - 14.0 * y +
                                           6.0 * x * y + 3.0 * dz::pow(y, 2))) *
         (30.0 + dz::pow(2.0 * x - 3.0 * y, 2) * (18.0 - 32.0 * x + 12.0 * dz::pow(x, 2) +
                                                  48.0 * y - 36.0 * x * y + 27.0 * dz::pow(y, 2)));
}

Variable rosenbrock(const Variable &x0, const Variable &x1) {
  return 100.0 * dz::pow(x1 - dz::pow(x0, 2), 2) + dz::pow(1.0 - x0, 2);
}

/// Step 29/33: f(x) = x^4 - 2x^2.
Variable quartic(const Variable &x) { return dz::pow(x, 4) - 2.0 * dz::pow(x, 2); }

/// x after each of the 7 Newton updates of step 29 (the book's printout).
const std::vector<double> kNewtonSteps = {2.0,
                                          1.4545454545454546,
                                          1.1510467893775467,
                                          1.0253259289766978,
                                          1.0009084519430513,
                                          1.0000012353089454,
                                          1.000000000002289,
                                          1.0};

uintptr_t id_of(const void *p) { return reinterpret_cast<uintptr_t>(p); }

} // namespace

// ---- stage 1: automatic differentiation -------------------------------------------------

TEST(BookSteps, Step09SquareOfTwoIsFour) {
  Variable x(2.0);
  Variable y = F::square(x);
  EXPECT_EQ(value(y), 4.0);
  EXPECT_EQ(y.dtype(), dz::f64);
  EXPECT_EQ(y.ndim(), 0);
}

TEST(BookSteps, Step10GradientOfSquareAtThreeIsSix) {
  Variable x(3.0);
  Variable y = F::square(x);
  y.backward();
  EXPECT_EQ(grad_of(x), 6.0);
}

TEST(BookSteps, Step10NumericalDiffOfSquareMatchesBackprop) {
  Tensor x = dz::randn({1}, dz::f64, 0);
  Variable xv(x);
  Variable y = F::square(xv);
  y.backward();
  Tensor num = dz::utils::numerical_diff([](const Variable &v) { return F::square(v); }, x);
  EXPECT_TRUE(dz::allclose(xv.grad().data(), num)) << xv.grad().data() << " vs " << num;
}

TEST(BookSteps, Step04CompositeSquareExpSquareNumericalDiff) {
  auto f = [](const Variable &x) { return F::square(F::exp(F::square(x))); };
  Tensor dy = dz::utils::numerical_diff(f, Tensor::scalar(0.5), 1e-4);
  EXPECT_EQ(dy.dtype(), dz::f64);
  EXPECT_NEAR(dy.item<double>(), 3.2974426293330694, 1e-9);
}

TEST(BookSteps, Step07CompositeSquareExpSquareBackpropIs3_2974425414) {
  Variable x(0.5);
  Variable a = F::square(x);
  Variable b = F::exp(a);
  Variable y = F::square(b);
  y.backward();
  EXPECT_NEAR(grad_of(x), 3.297442541400256, 1e-12);
}

// ---- variables used more than once (steps 13-14, Appendix A) ----------------------------

TEST(BookSteps, Step14VariableUsedTwiceGetsGradientTwo) {
  Variable x(3.0);
  Variable y = F::add(x, x);
  y.backward();
  EXPECT_EQ(value(y), 6.0);
  EXPECT_EQ(grad_of(x), 2.0);
}

TEST(BookSteps, Step14VariableUsedThreeTimesGetsGradientThree) {
  Variable x(3.0);
  Variable y = x + x + x;
  y.backward();
  EXPECT_EQ(value(y), 9.0);
  EXPECT_EQ(grad_of(x), 3.0);
}

TEST(BookSteps, Step14CleargradResetsAccumulation) {
  Variable x(3.0);
  Variable y = F::add(x, x);
  y.backward();
  EXPECT_EQ(grad_of(x), 2.0);

  x.cleargrad();
  EXPECT_FALSE(x.has_grad());
  y = F::add(F::add(x, x), x);
  y.backward();
  EXPECT_EQ(grad_of(x), 3.0);
}

TEST(BookSteps, Step14WithoutCleargradGradientsAccumulateToFive) {
  Variable x(3.0);
  Variable y = F::add(x, x);
  y.backward();
  y = F::add(F::add(x, x), x);
  y.backward();
  EXPECT_EQ(grad_of(x), 5.0);
}

TEST(BookSteps, AppendixAGradAccumulationIsOutOfPlace) {
  // With an in-place `x.grad += gx`, y.grad (the very Variable Add passes to both of its
  // inputs) would become 2 as well.
  Variable x(3.0);
  Variable y = F::add(x, x);
  y.backward({.retain_grad = true});
  ASSERT_TRUE(x.has_grad());
  ASSERT_TRUE(y.has_grad());
  EXPECT_FALSE(x.grad().same_node(y.grad()));
  EXPECT_FALSE(x.grad().data().shares_storage(y.grad().data()));
  EXPECT_EQ(grad_of(x), 2.0);
  EXPECT_EQ(grad_of(y), 1.0);
}

TEST(BookSteps, AppendixAGradientSharedByTwoInputsStaysIndependent) {
  // Add's backward hands the same gy to both inputs; a later accumulation into one of
  // them must not show up in the other.
  Variable x0(1.0), x1(1.0);
  Variable y = F::add(x0, x1);
  y.backward();
  EXPECT_EQ(grad_of(x0), 1.0);
  EXPECT_EQ(grad_of(x1), 1.0);
  Variable g1 = x1.grad();

  Variable z = F::mul(x0, Variable(3.0));
  z.backward();
  EXPECT_EQ(grad_of(x0), 4.0);
  EXPECT_EQ(grad_of(x1), 1.0);
  EXPECT_EQ(g1.item<double>(), 1.0);
}

TEST(BookSteps, AppendixAHeldGradientDoesNotChangeOnLaterAccumulation) {
  Variable x(3.0);
  F::square(x).backward();
  Variable g = x.grad();
  EXPECT_EQ(g.item<double>(), 6.0);
  F::square(x).backward();
  EXPECT_EQ(grad_of(x), 12.0);
  EXPECT_EQ(g.item<double>(), 6.0);
}

// ---- generations (steps 15-16) ----------------------------------------------------------

TEST(BookSteps, Step16DiamondGraphGradientIs64) {
  Variable x(2.0);
  Variable a = F::square(x);
  Variable y = F::add(F::square(a), F::square(a));
  y.backward();
  EXPECT_EQ(value(y), 32.0);
  EXPECT_EQ(grad_of(x), 64.0);
}

TEST(BookSteps, Step16GenerationsCountFromTheInputs) {
  Variable x(2.0);
  EXPECT_EQ(x.generation(), 0);
  Variable a = F::square(x);
  EXPECT_EQ(a.creator()->generation(), 0);
  EXPECT_EQ(a.generation(), 1);
  Variable b = F::exp(a);
  EXPECT_EQ(b.generation(), 2);
  Variable c = F::add(a, b);
  EXPECT_EQ(c.creator()->generation(), 2);
  EXPECT_EQ(c.generation(), 3);
  c.backward();
  // dc/dx = (1 + exp(x^2)) * 2x
  EXPECT_NEAR(grad_of(x), (1 + std::exp(4.0)) * 4.0, 1e-12);
}

// ---- memory and configuration (steps 17-18) ---------------------------------------------

TEST(BookSteps, Step17GraphIsFreedWhenTheOutputDies) {
  std::weak_ptr<dz::Function> wf_square, wf_exp;
  std::weak_ptr<dz::VariableNode> wa;
  Variable x(Tensor::from({1.0, 2.0, 3.0}));
  {
    Variable a = F::square(x);
    Variable y = F::exp(a);
    wf_square = a.creator();
    wf_exp = y.creator();
    wa = a.node();
    EXPECT_FALSE(wf_square.expired());
  }
  EXPECT_TRUE(wf_square.expired());
  EXPECT_TRUE(wf_exp.expired());
  EXPECT_TRUE(wa.expired());
}

TEST(BookSteps, Step17FunctionHoldsItsOutputsWeakly) {
  Variable x(2.0);
  std::shared_ptr<dz::Function> f;
  {
    Variable y = F::square(x);
    f = y.creator();
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->output(0).defined());
    EXPECT_TRUE(f->output(0).same_node(y));
  }
  EXPECT_EQ(f->num_outputs(), 1u);
  EXPECT_FALSE(f->output(0).defined());
  EXPECT_TRUE(f->input(0).same_node(x));
}

TEST(BookSteps, Step18IntermediateGradsAreDroppedUnlessRetained) {
  Variable x0(1.0), x1(1.0);
  Variable t = F::add(x0, x1);
  Variable y = F::add(x0, t);
  y.backward();
  EXPECT_FALSE(y.has_grad());
  EXPECT_FALSE(t.has_grad());
  EXPECT_EQ(grad_of(x0), 2.0);
  EXPECT_EQ(grad_of(x1), 1.0);
}

TEST(BookSteps, Step18RetainGradKeepsIntermediateGrads) {
  Variable x0(1.0), x1(1.0);
  Variable t = F::add(x0, x1);
  Variable y = F::add(x0, t);
  y.backward({.retain_grad = true});
  EXPECT_EQ(grad_of(y), 1.0);
  EXPECT_EQ(grad_of(t), 1.0);
  EXPECT_EQ(grad_of(x0), 2.0);
  EXPECT_EQ(grad_of(x1), 1.0);
}

TEST(BookSteps, Step18NoGradRecordsNoCreator) {
  Variable x(Tensor::from({1.0, 2.0, 3.0}));
  EXPECT_TRUE(dz::Config::enable_backprop());
  {
    dz::NoGrad no_grad;
    EXPECT_FALSE(dz::Config::enable_backprop());
    Variable y = F::square(x);
    EXPECT_EQ(y.creator(), nullptr);
    EXPECT_EQ(y.data().at(2), 9.0);
  }
  EXPECT_TRUE(dz::Config::enable_backprop());
  Variable y = F::square(x);
  EXPECT_NE(y.creator(), nullptr);
}

TEST(BookSteps, Step18TestModeTogglesTrain) {
  EXPECT_TRUE(dz::Config::train());
  {
    dz::TestMode test_mode;
    EXPECT_FALSE(dz::Config::train());
    EXPECT_TRUE(dz::Config::enable_backprop());
  }
  EXPECT_TRUE(dz::Config::train());
}

TEST(BookSteps, Step18UsingConfigRestoresThePreviousValue) {
  {
    auto outer = dz::using_config("enable_backprop", false);
    EXPECT_FALSE(dz::Config::enable_backprop());
    {
      auto inner = dz::using_config("enable_backprop", true);
      EXPECT_TRUE(dz::Config::enable_backprop());
      Variable y = F::exp(Variable(1.0));
      EXPECT_NE(y.creator(), nullptr);
    }
    EXPECT_FALSE(dz::Config::enable_backprop());
    auto train_off = dz::using_config("train", false);
    EXPECT_FALSE(dz::Config::train());
  }
  EXPECT_TRUE(dz::Config::enable_backprop());
  EXPECT_TRUE(dz::Config::train());
}

// ---- operators and shapes (steps 20-24, 40) ---------------------------------------------

TEST(BookSteps, Step22OperatorsWithScalarsOnEitherSide) {
  Variable x(2.0);
  Variable y = 3.0 * x + 1.0;
  EXPECT_EQ(value(y), 7.0);
  EXPECT_EQ(value(x - 1.0), 1.0);
  EXPECT_EQ(value(1.0 - x), -1.0);
  EXPECT_EQ(value(x / 4.0), 0.5);
  EXPECT_EQ(value(4.0 / x), 2.0);
  EXPECT_EQ(value(-x), -2.0);
  EXPECT_EQ(value(x.pow(3)), 8.0);
  Variable z = x * x * x + 2.0 * x - 1.0; // API.md's example
  z.backward();
  EXPECT_EQ(value(z), 11.0);
  EXPECT_EQ(grad_of(x), 14.0);
}

TEST(BookSteps, Step22OperatorsWithTensorsOnEitherSide) {
  Variable x(Tensor::from({1.0, 2.0}));
  Tensor t = Tensor::from({10.0, 20.0});
  Variable y = x * t + t;
  Variable z = t - x;
  EXPECT_EQ(y.data().at(1), 60.0);
  EXPECT_EQ(z.data().at(0), 9.0);
  F::sum(y).backward();
  EXPECT_EQ(x.grad().data().at(0), 10.0);
  EXPECT_EQ(x.grad().data().at(1), 20.0);
}

TEST(BookSteps, Step24SphereGradientAtOneOneIsTwoTwo) {
  Variable x(1.0), y(1.0);
  Variable z = sphere(x, y);
  z.backward();
  EXPECT_EQ(grad_of(x), 2.0);
  EXPECT_EQ(grad_of(y), 2.0);
}

TEST(BookSteps, Step24MatyasGradientAtOneOne) {
  Variable x(1.0), y(1.0);
  Variable z = matyas(x, y);
  z.backward();
  const double expected = 0.26 * 2.0 - 0.48; // 0.040000000000000036, as the book prints
  EXPECT_NEAR(expected, 0.040000000000000036, 1e-18);
  EXPECT_NEAR(grad_of(x), expected, 1e-15);
  EXPECT_NEAR(grad_of(y), expected, 1e-15);
}

TEST(BookSteps, Step24GoldsteinPriceGradientAtOneOne) {
  Variable x(1.0), y(1.0);
  Variable z = goldstein(x, y);
  z.backward();
  EXPECT_EQ(value(z), 1876.0);
  EXPECT_NEAR(grad_of(x), -5376.0, 1e-9);
  EXPECT_NEAR(grad_of(y), 8064.0, 1e-9);
}

TEST(BookSteps, Step40BroadcastAddSumsTheGradientBack) {
  Variable x0(Tensor::from({1.0, 2.0, 3.0}));
  Variable x1(Tensor::from({10.0}));
  Variable y = x0 + x1;
  EXPECT_EQ(y.shape(), (dz::Shape{3}));
  EXPECT_EQ(y.data().at(2), 13.0);
  y.backward();
  ASSERT_TRUE(x1.has_grad());
  EXPECT_EQ(x1.grad().shape(), (dz::Shape{1}));
  EXPECT_EQ(x1.grad().data().at(0), 3.0);
  EXPECT_EQ(x0.grad().shape(), (dz::Shape{3}));
}

// ---- DOT export (steps 25-26) -----------------------------------------------------------

TEST(BookSteps, Step26DotGraphDrawsVariablesAndFunctions) {
  Variable x0(Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}), "x0");
  Variable x1(Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}));
  Variable y = x0 + x1;
  y.set_name("y");
  const std::string id_x0 = std::to_string(id_of(x0.node().get()));
  const std::string id_x1 = std::to_string(id_of(x1.node().get()));
  const std::string id_y = std::to_string(id_of(y.node().get()));
  const std::string id_f = std::to_string(id_of(y.creator().get()));

  const std::string dot = dz::utils::get_dot_graph(y, true);
  EXPECT_EQ(dot.rfind("digraph g {\n", 0), 0u) << dot;
  EXPECT_EQ(dot.back(), '}') << dot;
  EXPECT_NE(dot.find(id_x0 + " [label=\"x0: (2, 3) float64\", color=orange, style=filled]"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find(id_x1 + " [label=\"(2, 3) float64\", color=orange, style=filled]"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find(id_y + " [label=\"y: (2, 3) float64\", color=orange, style=filled]"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find(id_f + " [label=\"" + y.creator()->name() +
                     "\", color=lightblue, style=filled, shape=box]"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find(id_x0 + " -> " + id_f + "\n"), std::string::npos) << dot;
  EXPECT_NE(dot.find(id_x1 + " -> " + id_f + "\n"), std::string::npos) << dot;
  EXPECT_NE(dot.find(id_f + " -> " + id_y + "\n"), std::string::npos) << dot;
  EXPECT_EQ(y.creator()->name(), "Add");

  const std::string terse = dz::utils::get_dot_graph(y, false);
  EXPECT_NE(terse.find(id_x0 + " [label=\"x0\", color=orange"), std::string::npos) << terse;
  EXPECT_NE(terse.find(id_x1 + " [label=\"\", color=orange"), std::string::npos) << terse;
}

TEST(BookSteps, Step26DotGraphOfGoldsteinPriceHasEveryFunctionOnce) {
  Variable x(1.0), y(1.0);
  x.set_name("x");
  y.set_name("y");
  Variable z = goldstein(x, y);
  z.set_name("z");
  const std::string dot = dz::utils::get_dot_graph(z, false);
  // Count distinct functions by walking the graph ourselves.
  std::vector<std::shared_ptr<dz::Function>> todo{z.creator()};
  std::vector<const dz::Function *> seen;
  while (!todo.empty()) {
    auto f = todo.back();
    todo.pop_back();
    if (std::find(seen.begin(), seen.end(), f.get()) != seen.end())
      continue;
    seen.push_back(f.get());
    for (const Variable &in : f->inputs())
      if (in.creator())
        todo.push_back(in.creator());
  }
  size_t boxes = 0;
  for (size_t p = dot.find("shape=box"); p != std::string::npos; p = dot.find("shape=box", p + 1))
    ++boxes;
  EXPECT_EQ(boxes, seen.size());
  EXPECT_GT(boxes, 20u);
  for (const dz::Function *f : seen)
    EXPECT_NE(dot.find(std::to_string(id_of(f)) + " [label="), std::string::npos);
  EXPECT_NE(dot.find("[label=\"x\", color=orange, style=filled]"), std::string::npos);
  EXPECT_NE(dot.find("[label=\"z\", color=orange, style=filled]"), std::string::npos);
}

TEST(BookSteps, Step26PlotDotGraphWritesTheDotFileAndRendersWithGraphviz) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("dzc_dot_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path png = dir / "goldstein.png";
  Variable x(1.0), y(1.0);
  Variable z = goldstein(x, y);
  const bool have_dot = std::system("command -v dot >/dev/null 2>&1") == 0;
  if (have_dot) {
    dz::utils::plot_dot_graph(z, true, png.string());
    EXPECT_TRUE(fs::exists(dir / "goldstein.dot"));
    ASSERT_TRUE(fs::exists(png));
    EXPECT_GT(fs::file_size(png), 0u);
  } else {
    try {
      dz::utils::plot_dot_graph(z, true, png.string());
      ADD_FAILURE() << "expected dz::Error without Graphviz";
    } catch (const dz::Error &e) {
      EXPECT_NE(std::string(e.what()).find("goldstein.dot"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::exists(dir / "goldstein.dot"));
  }
  std::ifstream in(dir / "goldstein.dot");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "digraph g {");
  fs::remove_all(dir);
}

// ---- Taylor series and optimisation (steps 27-29) ---------------------------------------

TEST(BookSteps, Step27TaylorSeriesSinAtPiOver4) {
  auto my_sin = [](const Variable &x, double threshold = 0.0001) {
    Variable y;
    double factorial = 1; // (2i + 1)!
    for (int i = 0; i < 100000; ++i) {
      if (i > 0)
        factorial *= double(2 * i) * double(2 * i + 1);
      const double c = (i % 2 ? -1.0 : 1.0) / factorial;
      Variable t = c * dz::pow(x, 2 * i + 1);
      y = y.defined() ? y + t : t;
      if (std::abs(t.item<double>()) < threshold)
        break;
    }
    return y;
  };
  Variable x(std::numbers::pi / 4);
  Variable y = my_sin(x);
  y.backward();
  EXPECT_NEAR(value(y), 0.7071064695751781, 1e-15);
  EXPECT_NEAR(grad_of(x), 0.7071032148228457, 1e-15);

  Variable x2(std::numbers::pi / 4);
  Variable y2 = F::sin(x2);
  y2.backward();
  EXPECT_NEAR(value(y2), 0.7071067811865476, 1e-15);
  EXPECT_NEAR(grad_of(x2), 0.7071067811865476, 1e-15);
}

TEST(BookSteps, Step28RosenbrockGradientAtZeroTwo) {
  Variable x0(0.0), x1(2.0);
  Variable y = rosenbrock(x0, x1);
  y.backward();
  EXPECT_EQ(value(y), 401.0);
  EXPECT_EQ(grad_of(x0), -2.0);
  EXPECT_EQ(grad_of(x1), 400.0);
}

TEST(BookSteps, Step28RosenbrockGradientDescentReachesOneOne) {
  Variable x0(0.0), x1(2.0);
  const double lr = 0.001;
  auto step = [&] {
    Variable y = rosenbrock(x0, x1);
    x0.cleargrad();
    x1.cleargrad();
    y.backward();
    x0.set_data(x0.data() - lr * x0.grad().data());
    x1.set_data(x1.data() - lr * x1.grad().data());
  };
  // The book prints x before each update: its last line (iters = 10000) is x after 9999.
  for (int i = 0; i < 9999; ++i)
    step();
  EXPECT_NEAR(value(x0), 0.99449622, 1e-6);
  EXPECT_NEAR(value(x1), 0.98900063, 1e-6);
  for (int i = 9999; i < 50000; ++i)
    step();
  EXPECT_NEAR(value(x0), 1.0, 1e-6);
  EXPECT_NEAR(value(x1), 1.0, 1e-6);
}

TEST(BookSteps, Step29NewtonWithAnalyticSecondDerivativeReachesOneIn7Updates) {
  Variable x(2.0);
  for (size_t i = 0; i < kNewtonSteps.size(); ++i) {
    EXPECT_NEAR(value(x), kNewtonSteps[i], 1e-12) << "after " << i << " updates";
    Variable y = quartic(x);
    x.cleargrad();
    y.backward();
    const double xv = value(x);
    const double gx2 = 12 * xv * xv - 4;
    x.set_data(x.data() - x.grad().data() / gx2);
  }
  EXPECT_DOUBLE_EQ(value(x), 1.0);
}

// ---- higher-order derivatives (steps 33-36) ---------------------------------------------

TEST(BookSteps, Step33SecondDerivativeIs44WithCleargrad) {
  Variable x(2.0);
  Variable y = quartic(x);
  y.backward({.create_graph = true});
  Variable gx = x.grad();
  EXPECT_EQ(gx.item<double>(), 24.0);
  EXPECT_NE(gx.creator(), nullptr);
  x.cleargrad();
  gx.backward();
  EXPECT_EQ(grad_of(x), 44.0);
}

TEST(BookSteps, Step33SecondDerivativeIs68WithoutCleargrad) {
  Variable x(2.0);
  Variable y = quartic(x);
  y.backward({.create_graph = true});
  Variable gx = x.grad();
  gx.backward();
  EXPECT_EQ(grad_of(x), 68.0);
  EXPECT_EQ(gx.item<double>(), 24.0); // the first gradient was not modified in place
}

TEST(BookSteps, Step33BackwardWithoutCreateGraphRecordsNoGraph) {
  Variable x(2.0);
  quartic(x).backward();
  ASSERT_TRUE(x.has_grad());
  EXPECT_EQ(x.grad().creator(), nullptr);
}

TEST(BookSteps, Step33NewtonWithCreateGraphReachesOneIn7Updates) {
  Variable x(2.0);
  for (size_t i = 0; i < kNewtonSteps.size(); ++i) {
    EXPECT_NEAR(value(x), kNewtonSteps[i], 1e-12) << "after " << i << " updates";
    Variable y = quartic(x);
    x.cleargrad();
    y.backward({.create_graph = true});
    Variable gx = x.grad();
    x.cleargrad();
    gx.backward();
    Variable gx2 = x.grad();
    x.set_data(x.data() - gx.data() / gx2.data());
  }
  EXPECT_DOUBLE_EQ(value(x), 1.0);
}

TEST(BookSteps, Step34HigherDerivativesOfSin) {
  Variable x(1.0);
  Variable y = F::sin(x);
  y.backward({.create_graph = true});
  EXPECT_NEAR(grad_of(x), std::cos(1.0), 1e-12);
  const double expected[] = {-std::sin(1.0), -std::cos(1.0), std::sin(1.0)};
  for (int i = 0; i < 3; ++i) {
    Variable gx = x.grad();
    x.cleargrad();
    gx.backward({.create_graph = true});
    EXPECT_NEAR(grad_of(x), expected[i], 1e-12) << "derivative " << i + 2;
  }
  // x.grad's graph refers back to x (Python's GC collects that cycle): break it.
  x.cleargrad();
}

TEST(BookSteps, Step35HigherDerivativesOfTanh) {
  Variable x(1.0);
  Variable y = F::tanh(x);
  x.set_name("x");
  y.set_name("y");
  y.backward({.create_graph = true});
  const double t = std::tanh(1.0);
  const double expected[] = {
      1 - t * t,
      -2 * t * (1 - t * t),
      -2 * (1 - t * t) * (1 - 3 * t * t),
      8 * t * (1 - t * t) * (2 - 3 * t * t),
  };
  EXPECT_NEAR(expected[0], 0.41997434161402606939, 1e-15);
  EXPECT_NEAR(expected[3], 0.66509104475050167774, 1e-15);
  EXPECT_NEAR(grad_of(x), expected[0], 1e-12);
  for (int i = 1; i < 4; ++i) {
    Variable gx = x.grad();
    x.cleargrad();
    gx.backward({.create_graph = true});
    EXPECT_NEAR(grad_of(x), expected[i], 1e-12) << "derivative " << i + 1;
  }
  // The graph of the 4th derivative draws (step 35 renders it with Graphviz).
  const std::string dot = dz::utils::get_dot_graph(x.grad(), false);
  EXPECT_GT(dot.size(), 200u);
  x.cleargrad(); // x.grad's graph refers back to x: break the cycle
}

TEST(BookSteps, Step36DoubleBackpropIs100) {
  Variable x(2.0);
  Variable y = dz::pow(x, 2);
  y.backward({.create_graph = true});
  Variable gx = x.grad();
  x.cleargrad();
  Variable z = dz::pow(gx, 3) + y;
  z.backward();
  EXPECT_EQ(grad_of(x), 100.0);
}

// ---- unchain ----------------------------------------------------------------------------

TEST(BookSteps, UnchainMakesAVariableALeaf) {
  Variable x(2.0);
  Variable y = F::exp(F::square(x));
  ASSERT_NE(y.creator(), nullptr);
  y.unchain();
  EXPECT_EQ(y.creator(), nullptr);
}

TEST(BookSteps, UnchainBackwardCutsEveryCreatorBehindTheOutput) {
  Variable x(2.0);
  Variable a = F::square(x);
  Variable b = F::exp(a);
  Variable c = F::sin(b);
  Variable y = F::add(c, a);
  std::weak_ptr<dz::Function> wf = a.creator();
  y.unchain_backward();
  EXPECT_EQ(a.creator(), nullptr);
  EXPECT_EQ(b.creator(), nullptr);
  EXPECT_EQ(c.creator(), nullptr);
  EXPECT_TRUE(wf.expired());
  EXPECT_EQ(x.creator(), nullptr);
}
