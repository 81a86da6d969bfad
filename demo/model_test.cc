// Specification of the demo models: gradients agree with finite
// differences of an independent float64 loss; SGD learns a separable
// problem; the client update is one SGD step per batch and reports the
// last epoch's loss and the example count; results are bit-reproducible
// and independent of how the batches are held (concrete, lazy, span);
// evaluation on hand-made cases; the native functions bind to their
// declared types and reject others; bad inputs give INVALID_ARGUMENT; and
// logistic regression learns real Fashion-MNIST when the data is installed.
#include "demo/model.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "demo/fashion_mnist.h"
#include "demo/partition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/type.h"
#include "runtimes/native/registry.h"

namespace fedexec::demo {
namespace {

using ::testing::HasSubstr;

constexpr int64_t D = kModelInputs;
constexpr int64_t C = kModelClasses;

ir::Type T(const std::string& text) {
  absl::StatusOr<ir::Type> t = ir::ParseType(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status();
  return *t;
}

void ExpectInvalid(const absl::Status& status, const std::string& part) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(part));
}

Tensor FloatTensor(const std::vector<float>& v, std::vector<int64_t> shape) {
  return *Tensor::FromSpan<float>(v, std::move(shape));
}
Tensor IntTensor(const std::vector<int32_t>& v) {
  return Tensor::Vector<int32_t>(v);
}

const Tensor& Param(const Value& model, size_t i) {
  return model.struct_value().elements[i].value->tensor();
}

std::vector<float> Floats(const Tensor& t) {
  auto d = t.data<float>();
  return std::vector<float>(d.begin(), d.end());
}

// A model of the kind with every parameter drawn from U(-scale, scale).
Value RandomModel(ModelKind kind, uint64_t seed, float scale) {
  Value init = *InitialModel(kind, 0);
  DemoRng rng(seed);
  std::vector<std::pair<std::string, Value>> params;
  for (const auto& e : init.struct_value().elements) {
    std::vector<float> v(e.value->tensor().num_elements());
    for (float& f : v) f = scale * static_cast<float>(2 * rng.Uniform() - 1);
    params.emplace_back(e.name,
                        Value(FloatTensor(v, e.value->tensor().shape())));
  }
  return Value::Struct(std::move(params));
}

// model + delta, parameter by parameter.
Value Apply(const Value& model, const Value& delta) {
  std::vector<std::pair<std::string, Value>> params;
  const auto& m = model.struct_value().elements;
  for (size_t i = 0; i < m.size(); ++i) {
    std::vector<float> v = Floats(m[i].value->tensor());
    const std::vector<float> d = Floats(Param(delta, i));
    for (size_t j = 0; j < v.size(); ++j) v[j] += d[j];
    params.emplace_back(m[i].name,
                        Value(FloatTensor(v, m[i].value->tensor().shape())));
  }
  return Value::Struct(std::move(params));
}

struct Examples {
  Tensor x;
  Tensor y;
};

// Random pixels in [0, 1) (about half of them zero) and random labels.
Examples RandomExamples(int64_t n, uint64_t seed) {
  DemoRng rng(seed);
  std::vector<float> x(n * D);
  for (float& f : x) {
    const double u = rng.Uniform();
    f = u < 0.5 ? 0.0f : static_cast<float>(rng.Uniform());
  }
  std::vector<int32_t> y(n);
  for (int32_t& l : y) l = static_cast<int32_t>(rng.UniformInt(C));
  return {FloatTensor(x, {n, D}), IntTensor(y)};
}

// A separable problem: class c lights pixels [70c, 70c + 70) at 0.8-1.0,
// the rest are noise in [0, 0.2).
Examples SeparableExamples(int64_t n, uint64_t seed) {
  DemoRng rng(seed);
  std::vector<float> x(n * D);
  std::vector<int32_t> y(n);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<int32_t>(i % C);
    for (int64_t j = 0; j < D; ++j) {
      const bool on = j >= 70 * y[i] && j < 70 * (y[i] + 1);
      x[i * D + j] = static_cast<float>((on ? 0.8 : 0.0) + 0.2 * rng.Uniform());
    }
  }
  return {FloatTensor(x, {n, D}), IntTensor(y)};
}

// ------------------------------------------------- float64 reference loss

// Mean softmax cross-entropy in double precision, written independently of
// model.cc (plain loops). params in spec order, row-major.
double ReferenceLoss(ModelKind kind, const std::vector<std::vector<double>>& p,
                     const std::vector<float>& x,
                     const std::vector<int32_t>& y) {
  const int64_t n = static_cast<int64_t>(y.size());
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = &x[i * D];
    std::vector<double> z(C);
    if (kind == ModelKind::kLogReg) {
      for (int64_t c = 0; c < C; ++c) {
        double s = p[1][c];
        for (int64_t j = 0; j < D; ++j) s += xi[j] * p[0][j * C + c];
        z[c] = s;
      }
    } else {
      std::vector<double> h(kMlpHidden);
      for (int64_t k = 0; k < kMlpHidden; ++k) {
        double s = p[1][k];
        for (int64_t j = 0; j < D; ++j) s += xi[j] * p[0][j * kMlpHidden + k];
        h[k] = s > 0 ? s : 0;
      }
      for (int64_t c = 0; c < C; ++c) {
        double s = p[3][c];
        for (int64_t k = 0; k < kMlpHidden; ++k) s += h[k] * p[2][k * C + c];
        z[c] = s;
      }
    }
    double sum = 0;
    for (double v : z) sum += std::exp(v);
    total += std::log(sum) - z[y[i]];
  }
  return total / static_cast<double>(n);
}

void CheckGradient(ModelKind kind, float scale) {
  const Value model = RandomModel(kind, 7, scale);
  const Examples ex = RandomExamples(6, 11);
  absl::StatusOr<LossAndGradient> lg =
      ComputeLossAndGradient(kind, model, ex.x, ex.y);
  ASSERT_TRUE(lg.ok()) << lg.status();

  std::vector<std::vector<double>> p;
  for (const auto& e : model.struct_value().elements) {
    const std::vector<float> f = Floats(e.value->tensor());
    p.emplace_back(f.begin(), f.end());
  }
  const std::vector<float> x = Floats(ex.x);
  const std::vector<int32_t> y(ex.y.data<int32_t>().begin(),
                               ex.y.data<int32_t>().end());
  const double reference = ReferenceLoss(kind, p, x, y);
  EXPECT_NEAR(lg->loss, reference, 1e-5 * std::abs(reference));
  EXPECT_GT(reference, 0.5);  // not a degenerate case

  DemoRng rng(3);
  const double eps = 1e-4;
  int nonzero = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const std::vector<float> g = Floats(Param(lg->gradient, i));
    ASSERT_EQ(g.size(), p[i].size());
    for (int k = 0; k < 25; ++k) {
      const size_t j = rng.UniformInt(p[i].size());
      const double saved = p[i][j];
      p[i][j] = saved + eps;
      const double up = ReferenceLoss(kind, p, x, y);
      p[i][j] = saved - eps;
      const double down = ReferenceLoss(kind, p, x, y);
      p[i][j] = saved;
      const double fd = (up - down) / (2 * eps);
      EXPECT_NEAR(g[j], fd, 2e-5 + 1e-3 * std::abs(fd))
          << "parameter " << i << " element " << j;
      if (std::abs(fd) > 1e-4) ++nonzero;
    }
  }
  EXPECT_GT(nonzero, 20);  // the check saw real gradients
}

TEST(ModelGradientTest, LogRegMatchesFiniteDifferences) {
  CheckGradient(ModelKind::kLogReg, 0.05f);
}

TEST(ModelGradientTest, MlpMatchesFiniteDifferences) {
  CheckGradient(ModelKind::kMlp, 0.08f);
}

TEST(ModelGradientTest, LossIsStableForHugeLogits) {
  // b = [1000, 0, ..., 0]: naive exp overflows; log-sum-exp does not.
  std::vector<float> b(C, 0.0f);
  b[0] = 1000.0f;
  const Value model =
      Value::Struct({{"w", Value(*Tensor::Zeros(DType::kFloat32, {D, C}))},
                     {"b", Value(FloatTensor(b, {C}))}});
  const Tensor x = *Tensor::Zeros(DType::kFloat32, {2, D});
  absl::StatusOr<EvaluationResult> r =
      Evaluate(ModelKind::kLogReg, model, x, IntTensor({0, 1}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->loss, 500.0f, 1e-3);  // (0 + 1000) / 2
  EXPECT_FLOAT_EQ(r->accuracy, 0.5f);
  absl::StatusOr<LossAndGradient> lg =
      ComputeLossAndGradient(ModelKind::kLogReg, model, x, IntTensor({0, 1}));
  ASSERT_TRUE(lg.ok());
  for (float g : Floats(Param(lg->gradient, 1))) EXPECT_TRUE(std::isfinite(g));
  // d/db = mean(softmax - onehot): [1 - 0.5, -0.5, 0, ...].
  EXPECT_NEAR(Floats(Param(lg->gradient, 1))[0], 0.5f, 1e-6);
  EXPECT_NEAR(Floats(Param(lg->gradient, 1))[1], -0.5f, 1e-6);
}

// ------------------------------------------------------------ training

void CheckLearnsSeparable(ModelKind kind, float lr) {
  const Examples train = SeparableExamples(300, 1);
  const Examples test = SeparableExamples(100, 2);
  const Value data = *MakeBatches(train.x, train.y, 0, 300, 20);
  const Value model = *InitialModel(kind, 5);
  const EvaluationResult before = *Evaluate(kind, model, test.x, test.y);

  absl::StatusOr<ClientUpdateResult> r = ClientUpdate(kind, model, data, lr, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->weight, 300.0f);
  EXPECT_LT(r->loss, 0.5f * before.loss);
  const EvaluationResult after =
      *Evaluate(kind, Apply(model, r->delta), test.x, test.y);
  EXPECT_LT(after.loss, 0.5f * before.loss);
  EXPECT_GE(after.accuracy, 0.97f);
}

TEST(ModelTrainingTest, LogRegLearnsSeparableData) {
  CheckLearnsSeparable(ModelKind::kLogReg, 0.1f);
}

TEST(ModelTrainingTest, MlpLearnsSeparableData) {
  CheckLearnsSeparable(ModelKind::kMlp, 0.05f);
}

// One batch, one epoch: delta = -lr * gradient, loss = the loss before the
// step.
TEST(ModelTrainingTest, OneBatchIsOneSgdStep) {
  for (ModelKind kind : {ModelKind::kLogReg, ModelKind::kMlp}) {
    SCOPED_TRACE(std::string(ModelKindName(kind)));
    const Value model = RandomModel(kind, 9, 0.05f);
    const Examples ex = RandomExamples(8, 4);
    const float lr = 0.25f;
    absl::StatusOr<ClientUpdateResult> r =
        ClientUpdate(kind, model, *MakeBatches(ex.x, ex.y, 0, 8, 8), lr, 1);
    ASSERT_TRUE(r.ok()) << r.status();
    const LossAndGradient lg = *ComputeLossAndGradient(kind, model, ex.x, ex.y);
    EXPECT_FLOAT_EQ(r->loss, static_cast<float>(lg.loss));
    EXPECT_EQ(r->weight, 8.0f);
    for (size_t i = 0; i < model.struct_value().elements.size(); ++i) {
      const std::vector<float> d = Floats(Param(r->delta, i));
      const std::vector<float> g = Floats(Param(lg.gradient, i));
      for (size_t j = 0; j < d.size(); ++j) {
        ASSERT_NEAR(d[j], -lr * g[j], 1e-6) << "parameter " << i << " " << j;
      }
    }
  }
}

// Two batches: the second step uses the model after the first.
TEST(ModelTrainingTest, StepsFollowBatchOrder) {
  const ModelKind kind = ModelKind::kLogReg;
  const Value model = RandomModel(kind, 2, 0.05f);
  const Examples ex = RandomExamples(10, 5);
  const Value data = *MakeBatches(ex.x, ex.y, 0, 10, 6);  // 6 + 4 rows
  const float lr = 0.5f;
  const ClientUpdateResult r = *ClientUpdate(kind, model, data, lr, 1);

  const auto& batches = data.sequence().elements;
  auto batch_x = [&](int i) {
    return batches[i].struct_value().elements[0].value->tensor();
  };
  auto batch_y = [&](int i) {
    return batches[i].struct_value().elements[1].value->tensor();
  };
  const LossAndGradient g1 =
      *ComputeLossAndGradient(kind, model, batch_x(0), batch_y(0));
  std::vector<std::pair<std::string, Value>> step;  // -lr * g1
  for (size_t i = 0; i < 2; ++i) {
    std::vector<float> v = Floats(Param(g1.gradient, i));
    for (float& f : v) f *= -lr;
    step.emplace_back(model.struct_value().elements[i].name,
                      Value(FloatTensor(v, Param(model, i).shape())));
  }
  const Value step1 = Apply(model, Value::Struct(std::move(step)));
  const LossAndGradient g2 =
      *ComputeLossAndGradient(kind, step1, batch_x(1), batch_y(1));
  // Last-epoch loss: per-example losses of both batches over 10 examples.
  EXPECT_NEAR(r.loss, (6 * g1.loss + 4 * g2.loss) / 10, 1e-5);
  EXPECT_EQ(r.weight, 10.0f);
  const std::vector<float> d = Floats(Param(r.delta, 0));
  const std::vector<float> a = Floats(Param(g1.gradient, 0));
  const std::vector<float> b = Floats(Param(g2.gradient, 0));
  for (size_t j = 0; j < d.size(); ++j) {
    ASSERT_NEAR(d[j], -lr * (a[j] + b[j]), 1e-5) << j;
  }
}

TEST(ModelTrainingTest, MoreEpochsReportTheLastEpochsLoss) {
  const Examples ex = SeparableExamples(40, 3);
  const Value data = *MakeBatches(ex.x, ex.y, 0, 40, 10);
  const Value model = *InitialModel(ModelKind::kLogReg, 0);
  const ClientUpdateResult one =
      *ClientUpdate(ModelKind::kLogReg, model, data, 0.1f, 1);
  const ClientUpdateResult three =
      *ClientUpdate(ModelKind::kLogReg, model, data, 0.1f, 3);
  EXPECT_EQ(three.weight, 40.0f);  // per epoch, not in total
  EXPECT_LT(three.loss, one.loss);
  // Two more epochs from where one epoch ended give the same model.
  const ClientUpdateResult rest =
      *ClientUpdate(ModelKind::kLogReg, Apply(model, one.delta), data, 0.1f, 2);
  EXPECT_FLOAT_EQ(rest.loss, three.loss);
}

TEST(ModelTrainingTest, EmptyDataGivesZeroDeltaAndWeight) {
  const Value model = RandomModel(ModelKind::kMlp, 1, 0.1f);
  const Examples ex = RandomExamples(0, 1);
  for (const Value& data :
       {Value::Sequence({}), *MakeBatches(ex.x, ex.y, 0, 0, 4)}) {
    absl::StatusOr<ClientUpdateResult> r =
        ClientUpdate(ModelKind::kMlp, model, data, 0.1f, 2);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->weight, 0.0f);
    EXPECT_EQ(r->loss, 0.0f);
    for (size_t i = 0; i < 4; ++i) {
      for (float f : Floats(Param(r->delta, i))) ASSERT_EQ(f, 0.0f);
    }
  }
}

// --------------------------------------------------------- determinism

// A lazy sequence producing the given batches on each traversal.
class LazyBatches : public LazyElements {
 public:
  explicit LazyBatches(std::vector<Value> batches)
      : batches_(std::move(batches)) {}
  absl::Status ForEach(
      absl::FunctionRef<absl::Status(const Value&)> fn) const override {
    ++traversals;
    for (const Value& b : batches_) {
      absl::Status s = fn(b);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  mutable int traversals = 0;

 private:
  std::vector<Value> batches_;
};

TEST(ModelDeterminismTest, SameInputsSameBitsWhateverTheBatchForm) {
  for (ModelKind kind : {ModelKind::kLogReg, ModelKind::kMlp}) {
    SCOPED_TRACE(std::string(ModelKindName(kind)));
    const Examples ex = RandomExamples(50, 8);
    const Value data = *MakeBatches(ex.x, ex.y, 0, 50, 16);
    const Value model = *InitialModel(kind, 21);
    const ClientUpdateResult a = *ClientUpdate(kind, model, data, 0.1f, 2);
    const ClientUpdateResult b = *ClientUpdate(kind, model, data, 0.1f, 2);
    EXPECT_TRUE(a.delta.Equals(b.delta));
    EXPECT_EQ(a.loss, b.loss);

    auto lazy = std::make_shared<LazyBatches>(data.sequence().elements);
    const ClientUpdateResult c =
        *ClientUpdate(kind, model, Value::LazySequence(lazy), 0.1f, 2);
    EXPECT_EQ(lazy->traversals, 2);  // once per epoch
    EXPECT_TRUE(a.delta.Equals(c.delta));
    EXPECT_EQ(a.loss, c.loss);

    std::vector<Batch> span;
    for (const Value& v : data.sequence().elements) {
      span.push_back({v.struct_value().elements[0].value->tensor(),
                      v.struct_value().elements[1].value->tensor()});
    }
    const ClientUpdateResult d = *ClientUpdate(kind, model, span, 0.1f, 2);
    EXPECT_TRUE(a.delta.Equals(d.delta));
    EXPECT_EQ(a.loss, d.loss);
    EXPECT_EQ(a.weight, d.weight);
  }
}

TEST(ModelDeterminismTest, InitialModels) {
  const Value logreg = *InitialModel(ModelKind::kLogReg, 1);
  EXPECT_TRUE(native::CheckValueMatchesType(
                  logreg, T(ModelTypeString(ModelKind::kLogReg)))
                  .ok());
  for (size_t i = 0; i < 2; ++i) {
    for (float f : Floats(Param(logreg, i))) ASSERT_EQ(f, 0.0f);
  }
  const Value mlp = *InitialModel(ModelKind::kMlp, 1);
  EXPECT_TRUE(
      native::CheckValueMatchesType(mlp, T(ModelTypeString(ModelKind::kMlp)))
          .ok());
  EXPECT_TRUE(mlp.Equals(*InitialModel(ModelKind::kMlp, 1)));
  EXPECT_FALSE(mlp.Equals(*InitialModel(ModelKind::kMlp, 2)));
  const double limits[] = {std::sqrt(6.0 / 784), 0, std::sqrt(6.0 / 210), 0};
  for (size_t i = 0; i < 4; ++i) {
    const std::vector<float> v = Floats(Param(mlp, i));
    double sum = 0, max = 0;
    for (float f : v) {
      sum += f;
      max = std::max(max, std::abs(static_cast<double>(f)));
    }
    if (limits[i] == 0) {
      EXPECT_EQ(max, 0.0) << i;
    } else {
      EXPECT_LE(max, limits[i]) << i;
      EXPECT_GT(max, 0.9 * limits[i]) << i;
      EXPECT_LT(std::abs(sum / v.size()), 0.05 * limits[i]) << i;
    }
  }
}

// ---------------------------------------------------------- evaluation

TEST(ModelEvaluationTest, HandMadeLogReg) {
  // w[k][k] = 2 for every class k; b = 0. Row i lights pixel p_i (or none).
  std::vector<float> w(D * C, 0.0f);
  for (int64_t k = 0; k < C; ++k) w[k * C + k] = 2.0f;
  const Value model =
      Value::Struct({{"w", Value(FloatTensor(w, {D, C}))},
                     {"b", Value(*Tensor::Zeros(DType::kFloat32, {C}))}});
  std::vector<float> x(4 * D, 0.0f);
  x[0 * D + 3] = 1.0f;  // predicts 3, label 3: right
  x[1 * D + 7] = 1.0f;  // predicts 7, label 2: wrong
  x[2 * D + 9] = 1.0f;  // predicts 9, label 9: right
  // row 3 is all zero: all logits tie, arg max is class 0, label 0: right
  const Tensor y = IntTensor({3, 2, 9, 0});
  absl::StatusOr<EvaluationResult> r =
      Evaluate(ModelKind::kLogReg, model, FloatTensor(x, {4, D}), y);
  ASSERT_TRUE(r.ok()) << r.status();
  const double lse = std::log(9 + std::exp(2.0));
  const double expected = ((lse - 2) + lse + (lse - 2) + std::log(10.0)) / 4;
  EXPECT_NEAR(r->loss, expected, 1e-6);
  EXPECT_FLOAT_EQ(r->accuracy, 0.75f);
}

TEST(ModelEvaluationTest, HandMadeMlpAndChunking) {
  // Hidden unit k copies pixel k (k < 10); w2 maps unit k to class k with
  // weight 3; b2 favours class 5 by 1. Pixel values negative -> ReLU
  // zeroes them.
  std::vector<float> w1(D * kMlpHidden, 0.0f), w2(kMlpHidden * C, 0.0f);
  for (int64_t k = 0; k < C; ++k) {
    w1[k * kMlpHidden + k] = 1.0f;
    w2[k * C + k] = 3.0f;
  }
  std::vector<float> b2(C, 0.0f);
  b2[5] = 1.0f;
  const Value model = Value::Struct(
      {{"w1", Value(FloatTensor(w1, {D, kMlpHidden}))},
       {"b1", Value(*Tensor::Zeros(DType::kFloat32, {kMlpHidden}))},
       {"w2", Value(FloatTensor(w2, {kMlpHidden, C}))},
       {"b2", Value(FloatTensor(b2, {C}))}});
  // 2500 rows (more than one evaluation chunk): row i lights pixel i % 10
  // with +1 (odd i) or -1 (even i, inactive: predicts class 5); label i%10.
  const int64_t n = 2500;
  std::vector<float> x(n * D, 0.0f);
  std::vector<int32_t> y(n);
  int64_t right = 0;
  double loss = 0;
  const double lse_active_5 = std::log(9 + std::exp(4.0));  // class 5 lit
  const double lse_active = std::log(8 + std::exp(3.0) + std::exp(1.0));
  const double lse_idle = std::log(9 + std::exp(1.0));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t k = static_cast<int32_t>(i % C);
    y[i] = k;
    const bool active = i % 2 == 1;
    x[i * D + k] = active ? 1.0f : -1.0f;
    if (active) {
      ++right;
      loss += k == 5 ? lse_active_5 - 4 : lse_active - 3;
    } else {
      right += k == 5;
      loss += k == 5 ? lse_idle - 1 : lse_idle;
    }
  }
  absl::StatusOr<EvaluationResult> r =
      Evaluate(ModelKind::kMlp, model, FloatTensor(x, {n, D}), IntTensor(y));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->loss, loss / n, 1e-5);
  EXPECT_FLOAT_EQ(r->accuracy, static_cast<float>(right) / n);
}

TEST(ModelEvaluationTest, NoExamples) {
  const Examples ex = RandomExamples(0, 1);
  absl::StatusOr<EvaluationResult> r = Evaluate(
      ModelKind::kLogReg, *InitialModel(ModelKind::kLogReg, 0), ex.x, ex.y);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->loss, 0.0f);
  EXPECT_EQ(r->accuracy, 0.0f);
}

// ------------------------------------------------------------- natives

TEST(ModelNativeTest, RegisteredFunctionsBindAndCall) {
  native::NativeRegistry registry;
  ASSERT_TRUE(RegisterDemoFunctions(registry).ok());
  EXPECT_EQ(RegisterDemoFunctions(registry).code(),
            absl::StatusCode::kAlreadyExists);
  for (const char* name : {"logreg_client_update", "mlp_client_update",
                           "logreg_evaluate", "mlp_evaluate"}) {
    EXPECT_TRUE(registry.Contains(name)) << name;
  }
  EXPECT_EQ(
      *registry.Signature("logreg_client_update"),
      "(<model=<w=float32[784,10],b=float32[10]>,batches=<x=float32[?,784],"
      "y=int32[?]>*,lr=float32,epochs=int32> -> <delta=<w=float32[784,"
      "10],b=float32[10]>,weight=float32,loss=float32>)");

  const Examples ex = RandomExamples(30, 6);
  const Value data = *MakeBatches(ex.x, ex.y, 0, 30, 10);
  for (ModelKind kind : {ModelKind::kLogReg, ModelKind::kMlp}) {
    SCOPED_TRACE(std::string(ModelKindName(kind)));
    const std::string prefix(ModelKindName(kind));
    const Value model = *InitialModel(kind, 4);
    absl::StatusOr<native::BoundFunction> update = registry.Bind(
        prefix + "_client_update", T(ClientUpdateSignature(kind)));
    ASSERT_TRUE(update.ok()) << update.status();
    absl::StatusOr<Value> out = update->Call(
        Value::Struct({{"model", model},
                       {"batches", data},
                       {"lr", Value(Tensor::Scalar<float>(0.1f))},
                       {"epochs", Value(Tensor::Scalar<int32_t>(2))}}));
    ASSERT_TRUE(out.ok()) << out.status();
    const ClientUpdateResult direct = *ClientUpdate(kind, model, data, 0.1f, 2);
    EXPECT_TRUE(out->Equals(
        Value::Struct({{"delta", direct.delta},
                       {"weight", Value(Tensor::Scalar<float>(30.0f))},
                       {"loss", Value(Tensor::Scalar<float>(direct.loss))}})));

    // A narrower declared type (known batch size) binds too.
    const std::string m = ModelTypeString(kind);
    EXPECT_TRUE(
        registry
            .Bind(prefix + "_client_update",
                  T("(<model=" + m +
                    ",batches=<x=float32[10,784],y=int32[10]>*,lr=float32,"
                    "epochs=int32> -> <delta=" +
                    m + ",weight=float32,loss=float32>)"))
            .ok());

    absl::StatusOr<native::BoundFunction> evaluate =
        registry.Bind(prefix + "_evaluate", T(EvaluateSignature(kind)));
    ASSERT_TRUE(evaluate.ok()) << evaluate.status();
    const Value trained = Apply(model, direct.delta);
    absl::StatusOr<Value> ev = evaluate->Call(
        Value::Struct({{"model", trained}, {"x", ex.x}, {"y", ex.y}}));
    ASSERT_TRUE(ev.ok()) << ev.status();
    const EvaluationResult e = *Evaluate(kind, trained, ex.x, ex.y);
    EXPECT_TRUE(ev->Equals(Value::Struct(
        {{"loss", Value(Tensor::Scalar<float>(e.loss))},
         {"accuracy", Value(Tensor::Scalar<float>(e.accuracy))}})));

    // A call with an argument of the wrong type is rejected by Call.
    ExpectInvalid(
        evaluate
            ->Call(Value::Struct({{"model", trained},
                                  {"x", ex.x},
                                  {"y", Value(Tensor::Scalar<int32_t>(0))}}))
            .status(),
        "does not match");
  }
}

TEST(ModelNativeTest, WrongDeclaredTypesAreRejectedAtBind) {
  native::NativeRegistry registry;
  ASSERT_TRUE(RegisterDemoFunctions(registry).ok());
  const std::string logreg = ModelTypeString(ModelKind::kLogReg);
  const std::string mlp = ModelTypeString(ModelKind::kMlp);
  auto update_type = [](const std::string& model, const std::string& batch,
                        const std::string& lr) {
    return "(<model=" + model + ",batches=" + batch + "*,lr=" + lr +
           ",epochs=int32> -> <delta=" + model +
           ",weight=float32,loss=float32>)";
  };
  const std::string batch = BatchTypeString();
  // The MLP model given to the logistic function and vice versa.
  ExpectInvalid(
      registry
          .Bind("logreg_client_update", T(update_type(mlp, batch, "float32")))
          .status(),
      "does not match");
  ExpectInvalid(
      registry
          .Bind("mlp_client_update", T(update_type(logreg, batch, "float32")))
          .status(),
      "does not match");
  // float64 learning rate; images of the wrong width; float labels.
  ExpectInvalid(registry
                    .Bind("logreg_client_update",
                          T(update_type(logreg, batch, "float64")))
                    .status(),
                "does not match");
  ExpectInvalid(registry
                    .Bind("logreg_client_update",
                          T(update_type(logreg, "<x=float32[?,100],y=int32[?]>",
                                        "float32")))
                    .status(),
                "does not match");
  ExpectInvalid(
      registry
          .Bind("logreg_evaluate", T("(<model=" + logreg +
                                     ",x=float32[?,784],y=float32[?]> -> "
                                     "<loss=float32,accuracy=float32>)"))
          .status(),
      "does not match");
  // A wrong result type.
  ExpectInvalid(
      registry
          .Bind("mlp_evaluate", T("(<model=" + mlp +
                                  ",x=float32[?,784],y=int32[?]> -> float32)"))
          .status(),
      "does not match");
}

// ---------------------------------------------------------------- errors

TEST(ModelErrorTest, BadInputsAreInvalidArgument) {
  const ModelKind kind = ModelKind::kLogReg;
  const Value model = *InitialModel(kind, 0);
  const Examples ex = RandomExamples(4, 1);
  const Value data = *MakeBatches(ex.x, ex.y, 0, 4, 2);

  ExpectInvalid(
      ClientUpdate(kind, *InitialModel(ModelKind::kMlp, 0), data, 0.1f, 1)
          .status(),
      "logreg_client_update: model must be <w=float32[784,10],b=float32[10]>");
  const Value renamed = Value::Struct(
      {{"w", Value(Param(model, 0))}, {"bias", Value(Param(model, 1))}});
  ExpectInvalid(ClientUpdate(kind, renamed, data, 0.1f, 1).status(),
                "model must be");
  ExpectInvalid(ClientUpdate(kind, model, data, 0.1f, 0).status(),
                "epochs is 0; must be >= 1");
  ExpectInvalid(ClientUpdate(kind, model, data, NAN, 1).status(), "lr is nan");
  ExpectInvalid(ClientUpdate(kind, model, data, -1.0f, 1).status(), "lr is -1");
  ExpectInvalid(ClientUpdate(kind, model, ex.x, 0.1f, 1).status(),
                "data must be a sequence");

  // Batch 1 has a label out of range.
  const Value bad_label = Value::Sequence(
      {data.sequence().elements[0],
       Value::Struct(
           {{"x", Value(FloatTensor(std::vector<float>(2 * D), {2, D}))},
            {"y", Value(IntTensor({1, 10}))}})});
  ExpectInvalid(ClientUpdate(kind, model, bad_label, 0.1f, 1).status(),
                "batch 1: label of row 1 is 10; must be in [0, 10)");
  const Value bad_rows = Value::Sequence({Value::Struct(
      {{"x", Value(FloatTensor(std::vector<float>(2 * D), {2, D}))},
       {"y", Value(IntTensor({1, 2, 3}))}})});
  ExpectInvalid(ClientUpdate(kind, model, bad_rows, 0.1f, 1).status(),
                "batch 0: y must be int32[2] (one label per row of x), found "
                "int32[3]");
  const Value bad_width = Value::Sequence(
      {Value::Struct({{"x", Value(FloatTensor(std::vector<float>(6), {2, 3}))},
                      {"y", Value(IntTensor({1, 2}))}})});
  ExpectInvalid(ClientUpdate(kind, model, bad_width, 0.1f, 1).status(),
                "batch 0: x must be float32[?,784], found float32[2,3]");
  ExpectInvalid(
      ClientUpdate(kind, model, Value::Sequence({ex.x}), 0.1f, 1).status(),
      "batch 0 must be <x=float32[?,784],y=int32[?]>");
  ExpectInvalid(Evaluate(kind, model, ex.x, IntTensor({1})).status(),
                "logreg_evaluate: batch 0: y must be int32[4]");
  ExpectInvalid(MakeBatches(ex.x, ex.y, 0, 5, 2).status(), "rows [0, 5)");
  ExpectInvalid(MakeBatches(ex.x, ex.y, 0, 4, 0).status(), "batch_size is 0");
}

TEST(ModelBatchesTest, MakeBatchesSharesTheBuffers) {
  const Examples ex = RandomExamples(25, 3);
  absl::StatusOr<Value> data = MakeBatches(ex.x, ex.y, 3, 25, 10);
  ASSERT_TRUE(data.ok()) << data.status();
  const auto& batches = data->sequence().elements;
  ASSERT_EQ(batches.size(), 3u);  // 10 + 10 + 2 rows
  const int64_t starts[] = {3, 13, 23};
  const int64_t rows[] = {10, 10, 2};
  for (size_t i = 0; i < 3; ++i) {
    const Tensor& x = batches[i].struct_value().elements[0].value->tensor();
    const Tensor& y = batches[i].struct_value().elements[1].value->tensor();
    EXPECT_EQ(x.shape(), (std::vector<int64_t>{rows[i], D}));
    EXPECT_EQ(y.shape(), (std::vector<int64_t>{rows[i]}));
    EXPECT_EQ(x.raw_data(), ex.x.data<float>().data() + starts[i] * D);
    EXPECT_EQ(y.raw_data(), ex.y.data<int32_t>().data() + starts[i]);
  }
  EXPECT_TRUE(
      native::CheckValueMatchesType(*data, T(BatchTypeString() + "*")).ok());
}

// ------------------------------------------------------ real-data smoke

TEST(ModelFashionMnistTest, LogRegOneEpochLearns) {
  if (!std::filesystem::exists(kDefaultFashionMnistDir)) {
    GTEST_SKIP() << kDefaultFashionMnistDir << " not installed";
  }
  absl::StatusOr<Dataset> train =
      LoadFashionMnist(kDefaultFashionMnistDir, Split::kTrain);
  absl::StatusOr<Dataset> test =
      LoadFashionMnist(kDefaultFashionMnistDir, Split::kTest);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(test.ok()) << test.status();
  const Value data = *MakeBatches(train->images, train->labels, 0, 6000, 10);
  const Value model = *InitialModel(ModelKind::kLogReg, 0);
  absl::StatusOr<ClientUpdateResult> r =
      ClientUpdate(ModelKind::kLogReg, model, data, 0.05f, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->weight, 6000.0f);
  const Value eval = *MakeBatches(test->images, test->labels, 0, 1000, 1000);
  const Value& batch = eval.sequence().elements[0];
  absl::StatusOr<EvaluationResult> e =
      Evaluate(ModelKind::kLogReg, Apply(model, r->delta),
               batch.struct_value().elements[0].value->tensor(),
               batch.struct_value().elements[1].value->tensor());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_GT(e->accuracy, 0.70f) << "loss " << e->loss;
  EXPECT_LT(e->loss, 1.0f);
  RecordProperty("accuracy", std::to_string(e->accuracy));
}

}  // namespace
}  // namespace fedexec::demo

namespace fedexec::demo {
namespace {

TEST(SliceRowsTest, ViewsRowsWithoutCopying) {
  const Tensor t = *Tensor::FromSpan<int32_t>({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  absl::StatusOr<Tensor> rows = SliceRows(t, 1, 3);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(rows->data<int32_t>(), testing::ElementsAre(2, 3, 4, 5));
  EXPECT_EQ(rows->raw_data(), t.data<int32_t>().data() + 2);
  absl::StatusOr<Tensor> none = SliceRows(t, 4, 4);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->num_elements(), 0);
}

TEST(SliceRowsTest, KeepsTheBufferAlive) {
  absl::StatusOr<Tensor> rows;
  {
    const Tensor t = *Tensor::FromSpan<float>({1, 2, 3}, {3});
    rows = SliceRows(t, 2, 3);
  }
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->data<float>()[0], 3.0f);
}

TEST(SliceRowsTest, BadRangesAndTensors) {
  const Tensor t = *Tensor::FromSpan<float>({1, 2, 3}, {3});
  for (auto [begin, end] : {std::pair{-1, 2}, {2, 1}, {0, 4}}) {
    absl::StatusOr<Tensor> r = SliceRows(t, begin, end);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()),
                testing::HasSubstr("not a range within [0, 3)"));
  }
  EXPECT_FALSE(SliceRows(Tensor::Scalar<float>(1), 0, 0).ok());
  EXPECT_FALSE(SliceRows(Tensor(), 0, 0).ok());
}

}  // namespace
}  // namespace fedexec::demo
