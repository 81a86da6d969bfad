// Model math of the FedAvg demo (see model.h): forward and backward passes
// as Eigen matrix products over row-major maps of the batch tensors, SGD
// steps on a private copy of the model, and the native-function adapters.
#include "demo/model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "core/mutable_tensor.h"
#include "core/status.h"
#include "demo/partition.h"

namespace fedexec::demo {
namespace {

using RowMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;
using MatrixMap = Eigen::Map<RowMatrix>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;
using ConstVectorMap = Eigen::Map<const RowVector>;

// Evaluation runs over chunks of this many rows, bounding its scratch.
constexpr int64_t kEvalChunk = 1024;

// A parameter tensor: a matrix [rows, cols], or a vector [cols] when
// `vector` (held as a 1 x cols matrix).
struct ParamSpec {
  const char* name;
  int64_t rows;
  int64_t cols;
  bool vector;
};

constexpr ParamSpec kLogRegParams[] = {
    {"w", kModelInputs, kModelClasses, false},
    {"b", 1, kModelClasses, true},
};
constexpr ParamSpec kMlpParams[] = {
    {"w1", kModelInputs, kMlpHidden, false},
    {"b1", 1, kMlpHidden, true},
    {"w2", kMlpHidden, kModelClasses, false},
    {"b2", 1, kModelClasses, true},
};
constexpr int kMaxParams = 4;

absl::Span<const ParamSpec> Specs(ModelKind kind) {
  if (kind == ModelKind::kLogReg) return kLogRegParams;
  return kMlpParams;
}

std::vector<int64_t> ShapeOf(const ParamSpec& spec) {
  if (spec.vector) return {spec.cols};
  return {spec.rows, spec.cols};
}

std::string ParamTypeString(const ParamSpec& spec) {
  if (spec.vector) return absl::StrCat("float32[", spec.cols, "]");
  return absl::StrCat("float32[", spec.rows, ",", spec.cols, "]");
}

std::string FunctionName(ModelKind kind, const std::string& what) {
  return absl::StrCat(std::string(ModelKindName(kind)), "_", what);
}

absl::Status Invalid(const std::string& fn, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(fn, ": ", message));
}

// Checks `model` against the kind's structure; fills `params` with its
// tensors in spec order.
absl::Status ReadModel(ModelKind kind, const Value& model,
                       const std::string& fn, std::vector<Tensor>* params) {
  const absl::Span<const ParamSpec> specs = Specs(kind);
  auto mismatch = [&] {
    return Invalid(fn, absl::StrCat("model must be ", ModelTypeString(kind),
                                    ", found ", native::DescribeValue(model)));
  };
  if (!model.is_struct() ||
      model.struct_value().elements.size() != specs.size()) {
    return mismatch();
  }
  params->clear();
  for (size_t i = 0; i < specs.size(); ++i) {
    const StructValue::Element& e = model.struct_value().elements[i];
    if (e.name != specs[i].name || !e.value->is_tensor()) return mismatch();
    const Tensor& t = e.value->tensor();
    if (t.dtype() != DType::kFloat32 || t.shape() != ShapeOf(specs[i])) {
      return mismatch();
    }
    params->push_back(t);
  }
  return absl::OkStatus();
}

// Checks one batch; returns its row count.
absl::StatusOr<int64_t> CheckBatch(const Tensor& x, const Tensor& y,
                                   int64_t index, const std::string& fn) {
  if (x.dtype() != DType::kFloat32 || x.rank() != 2 ||
      x.shape()[1] != kModelInputs) {
    return Invalid(fn, absl::StrCat("batch ", index, ": x must be float32[?,",
                                    kModelInputs, "], found ", x.TypeString()));
  }
  const int64_t n = x.shape()[0];
  if (y.dtype() != DType::kInt32 || y.rank() != 1 || y.shape()[0] != n) {
    return Invalid(
        fn, absl::StrCat("batch ", index, ": y must be int32[", n,
                         "] (one label per row of x), found ", y.TypeString()));
  }
  const absl::Span<const int32_t> labels = y.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= kModelClasses) {
      return Invalid(
          fn, absl::StrCat("batch ", index, ": label of row ", i, " is ",
                           labels[i], "; must be in [0, ", kModelClasses, ")"));
    }
  }
  return n;
}

// Softmax cross-entropy over `n` rows of logits z (row-major, kModelClasses
// per row). Returns the sum of the per-example losses; adds the number of
// rows whose arg max is the label to *correct (if not null); with
// `gradient`, overwrites z with d(mean loss)/dz = (softmax(z) - onehot) / n.
double SoftmaxCrossEntropy(float* z, const int32_t* y, int64_t n, bool gradient,
                           int64_t* correct) {
  double total = 0;
  int64_t right = 0;
  const float inv_n = 1.0f / static_cast<float>(n);
  float e[kModelClasses];
  for (int64_t i = 0; i < n; ++i) {
    float* row = z + i * kModelClasses;
    float max = row[0];
    int arg = 0;
    for (int j = 1; j < kModelClasses; ++j) {
      if (row[j] > max) {
        max = row[j];
        arg = j;
      }
    }
    if (arg == y[i]) ++right;
    float sum = 0;
    for (int j = 0; j < kModelClasses; ++j) {
      e[j] = std::exp(row[j] - max);
      sum += e[j];
    }
    const float log_sum = std::log(sum);
    total += static_cast<double>(max + log_sum - row[y[i]]);
    if (gradient) {
      const float scale = inv_n / sum;
      for (int j = 0; j < kModelClasses; ++j) row[j] = e[j] * scale;
      row[y[i]] -= inv_n;
    }
  }
  if (correct != nullptr) *correct += right;
  return total;
}

// Forward and backward passes of one model kind with reusable scratch.
class Net {
 public:
  explicit Net(ModelKind kind) : kind_(kind) {
    for (const ParamSpec& spec : Specs(kind)) {
      grads_.emplace_back(spec.rows, spec.cols);
    }
  }

  // The parameters read by Run (spec order); the buffers must outlive the
  // calls.
  void SetParams(const std::vector<const float*>& params) {
    for (size_t i = 0; i < params.size(); ++i) params_[i] = params[i];
  }

  // Runs the forward pass on n >= 1 rows; returns the sum of per-example
  // losses, counts correct predictions into *correct, and with `gradient`
  // fills grads() with the gradient of the mean loss.
  double Run(const float* x, const int32_t* y, int64_t n, bool gradient,
             int64_t* correct) {
    Reserve(n);
    const ConstMatrixMap xs(x, n, kModelInputs);
    auto z = logits_.topRows(n);
    if (kind_ == ModelKind::kLogReg) {
      const ConstMatrixMap w(params_[0], kModelInputs, kModelClasses);
      const ConstVectorMap b(params_[1], kModelClasses);
      z.noalias() = xs * w;
      z.rowwise() += b;
      const double loss =
          SoftmaxCrossEntropy(logits_.data(), y, n, gradient, correct);
      if (gradient) {
        grads_[0].noalias() = xs.transpose() * z;
        grads_[1] = z.colwise().sum();
      }
      return loss;
    }
    const ConstMatrixMap w1(params_[0], kModelInputs, kMlpHidden);
    const ConstVectorMap b1(params_[1], kMlpHidden);
    const ConstMatrixMap w2(params_[2], kMlpHidden, kModelClasses);
    const ConstVectorMap b2(params_[3], kModelClasses);
    auto h = hidden_.topRows(n);
    h.noalias() = xs * w1;
    h.rowwise() += b1;
    h = h.cwiseMax(0.0f);
    z.noalias() = h * w2;
    z.rowwise() += b2;
    const double loss =
        SoftmaxCrossEntropy(logits_.data(), y, n, gradient, correct);
    if (gradient) {
      grads_[2].noalias() = h.transpose() * z;
      grads_[3] = z.colwise().sum();
      auto dh = dhidden_.topRows(n);
      dh.noalias() = z * w2.transpose();
      // ReLU's derivative: pass where the unit was active.
      dh.array() *= (h.array() > 0.0f).cast<float>();
      grads_[0].noalias() = xs.transpose() * dh;
      grads_[1] = dh.colwise().sum();
    }
    return loss;
  }

  const std::vector<RowMatrix>& grads() const { return grads_; }

 private:
  // Grows the scratch to hold n rows (reallocates only when growing).
  void Reserve(int64_t n) {
    if (n <= capacity_) return;
    capacity_ = std::max<int64_t>(n, 2 * capacity_);
    logits_.resize(capacity_, kModelClasses);
    if (kind_ == ModelKind::kMlp) {
      hidden_.resize(capacity_, kMlpHidden);
      dhidden_.resize(capacity_, kMlpHidden);
    }
  }

  ModelKind kind_;
  const float* params_[kMaxParams] = {};
  std::vector<RowMatrix> grads_;
  int64_t capacity_ = 0;
  RowMatrix logits_;
  RowMatrix hidden_;
  RowMatrix dhidden_;
};

// Visits one batch's x and y tensors.
using BatchVisitor =
    absl::FunctionRef<absl::Status(const Tensor& x, const Tensor& y)>;
// Traverses the client's batches once, in order.
using BatchTraversal = absl::FunctionRef<absl::Status(BatchVisitor visit)>;

absl::StatusOr<ClientUpdateResult> RunClientUpdate(ModelKind kind,
                                                   const Value& model,
                                                   BatchTraversal traverse,
                                                   float lr, int32_t epochs) {
  const std::string fn = FunctionName(kind, "client_update");
  std::vector<Tensor> initial;
  FEDEXEC_RETURN_IF_ERROR(ReadModel(kind, model, fn, &initial));
  if (epochs < 1) {
    return Invalid(fn, absl::StrCat("epochs is ", epochs, "; must be >= 1"));
  }
  if (!std::isfinite(lr) || lr < 0) {
    return Invalid(
        fn, absl::StrCat("lr is ", lr, "; must be finite and non-negative"));
  }
  const absl::Span<const ParamSpec> specs = Specs(kind);
  std::vector<MutableTensor> trained;
  std::vector<const float*> read;
  for (const Tensor& t : initial) {
    FEDEXEC_ASSIGN_OR_RETURN(MutableTensor copy, MutableTensor::CopyOf(t));
    read.push_back(copy.data<float>().data());
    trained.push_back(std::move(copy));
  }
  Net net(kind);
  net.SetParams(read);

  double last_loss = 0;
  int64_t last_examples = 0;
  for (int32_t epoch = 0; epoch < epochs; ++epoch) {
    double loss = 0;
    int64_t examples = 0;
    int64_t index = 0;
    FEDEXEC_RETURN_IF_ERROR(traverse([&](const Tensor& x,
                                         const Tensor& y) -> absl::Status {
      FEDEXEC_ASSIGN_OR_RETURN(const int64_t n, CheckBatch(x, y, index++, fn));
      if (n == 0) return absl::OkStatus();
      loss += net.Run(x.data<float>().data(), y.data<int32_t>().data(), n,
                      /*gradient=*/true, nullptr);
      examples += n;
      const std::vector<RowMatrix>& grads = net.grads();
      for (size_t i = 0; i < specs.size(); ++i) {
        MatrixMap(trained[i].mutable_data<float>().data(), specs[i].rows,
                  specs[i].cols) -= lr * grads[i];
      }
      return absl::OkStatus();
    }));
    last_loss = loss;
    last_examples = examples;
  }

  std::vector<std::pair<std::string, Value>> delta;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t count = specs[i].rows * specs[i].cols;
    Eigen::Map<Eigen::ArrayXf> now(trained[i].mutable_data<float>().data(),
                                   count);
    now -= Eigen::Map<const Eigen::ArrayXf>(initial[i].data<float>().data(),
                                            count);
    delta.emplace_back(specs[i].name, Value(std::move(trained[i]).Freeze()));
  }
  ClientUpdateResult result;
  result.delta = Value::Struct(std::move(delta));
  result.weight = static_cast<float>(last_examples);
  result.loss =
      last_examples == 0
          ? 0.0f
          : static_cast<float>(last_loss / static_cast<double>(last_examples));
  return result;
}

// Reads a batch struct <x=...,y=...> of a data sequence.
absl::Status VisitBatchValue(const Value& element, int64_t index,
                             const std::string& fn, BatchVisitor visit) {
  bool ok = element.is_struct() && element.struct_value().elements.size() == 2;
  if (ok) {
    const auto& e = element.struct_value().elements;
    ok = (e[0].name.empty() || e[0].name == "x") &&
         (e[1].name.empty() || e[1].name == "y") && e[0].value->is_tensor() &&
         e[1].value->is_tensor();
  }
  if (!ok) {
    return Invalid(fn,
                   absl::StrCat("batch ", index, " must be ", BatchTypeString(),
                                ", found ", native::DescribeValue(element)));
  }
  const auto& e = element.struct_value().elements;
  return visit(e[0].value->tensor(), e[1].value->tensor());
}

// Rows [begin, end) of t (a checked range), viewing t's buffer; `owner`
// keeps it alive.
absl::StatusOr<Tensor> RowsOwnedBy(const Tensor& t, int64_t begin, int64_t end,
                                   const std::shared_ptr<const void>& owner) {
  int64_t row = 1;
  for (int i = 1; i < t.rank(); ++i) row *= t.shape()[i];
  std::vector<int64_t> shape = t.shape();
  shape[0] = end - begin;
  const size_t row_bytes = static_cast<size_t>(row) * DTypeSize(t.dtype());
  const char* data = static_cast<const char*>(t.raw_data()) + begin * row_bytes;
  return Tensor::FromBuffer(t.dtype(), std::move(shape), owner, data,
                            (end - begin) * row_bytes);
}

// ---------------------------------------------------------- native adapters

absl::StatusOr<float> ScalarArg(const Value& v, const std::string& fn,
                                const std::string& name) {
  if (!v.is_tensor() || v.tensor().dtype() != DType::kFloat32 ||
      v.tensor().rank() != 0) {
    return Invalid(fn, absl::StrCat(name, " must be float32, found ",
                                    native::DescribeValue(v)));
  }
  return v.tensor().data<float>()[0];
}

absl::StatusOr<int32_t> Int32Arg(const Value& v, const std::string& fn,
                                 const std::string& name) {
  if (!v.is_tensor() || v.tensor().dtype() != DType::kInt32 ||
      v.tensor().rank() != 0) {
    return Invalid(fn, absl::StrCat(name, " must be int32, found ",
                                    native::DescribeValue(v)));
  }
  return v.tensor().data<int32_t>()[0];
}

absl::StatusOr<Value> ClientUpdateNative(ModelKind kind, const Value& arg) {
  const std::string fn = FunctionName(kind, "client_update");
  if (!arg.is_struct() || arg.struct_value().elements.size() != 4) {
    return Invalid(fn, absl::StrCat("argument must be a struct "
                                    "<model,batches,lr,epochs>, found ",
                                    native::DescribeValue(arg)));
  }
  const auto& e = arg.struct_value().elements;
  FEDEXEC_ASSIGN_OR_RETURN(const float lr, ScalarArg(*e[2].value, fn, "lr"));
  FEDEXEC_ASSIGN_OR_RETURN(const int32_t epochs,
                           Int32Arg(*e[3].value, fn, "epochs"));
  FEDEXEC_ASSIGN_OR_RETURN(
      ClientUpdateResult r,
      ClientUpdate(kind, *e[0].value, *e[1].value, lr, epochs));
  return Value::Struct({{"delta", std::move(r.delta)},
                        {"weight", Value(Tensor::Scalar<float>(r.weight))},
                        {"loss", Value(Tensor::Scalar<float>(r.loss))}});
}

absl::StatusOr<Value> EvaluateNative(ModelKind kind, const Value& arg) {
  const std::string fn = FunctionName(kind, "evaluate");
  bool ok = arg.is_struct() && arg.struct_value().elements.size() == 3;
  if (ok) {
    const auto& e = arg.struct_value().elements;
    ok = e[1].value->is_tensor() && e[2].value->is_tensor();
  }
  if (!ok) {
    return Invalid(fn, absl::StrCat("argument must be a struct <model,x,y> "
                                    "of a model and two tensors, found ",
                                    native::DescribeValue(arg)));
  }
  const auto& e = arg.struct_value().elements;
  FEDEXEC_ASSIGN_OR_RETURN(
      EvaluationResult r,
      Evaluate(kind, *e[0].value, e[1].value->tensor(), e[2].value->tensor()));
  return Value::Struct(
      {{"loss", Value(Tensor::Scalar<float>(r.loss))},
       {"accuracy", Value(Tensor::Scalar<float>(r.accuracy))}});
}

}  // namespace

std::string_view ModelKindName(ModelKind kind) {
  return kind == ModelKind::kLogReg ? "logreg" : "mlp";
}

std::string ModelTypeString(ModelKind kind) {
  std::string out = "<";
  bool first = true;
  for (const ParamSpec& spec : Specs(kind)) {
    absl::StrAppend(&out, first ? "" : ",", spec.name, "=",
                    ParamTypeString(spec));
    first = false;
  }
  return out + ">";
}

std::string BatchTypeString() {
  return absl::StrCat("<x=float32[?,", kModelInputs, "],y=int32[?]>");
}

std::string ClientUpdateSignature(ModelKind kind) {
  const std::string m = ModelTypeString(kind);
  return absl::StrCat("(<model=", m, ",batches=", BatchTypeString(),
                      "*,lr=float32,epochs=int32> -> <delta=", m,
                      ",weight=float32,loss=float32>)");
}

std::string EvaluateSignature(ModelKind kind) {
  return absl::StrCat("(<model=", ModelTypeString(kind), ",x=float32[?,",
                      kModelInputs,
                      "],y=int32[?]> -> <loss=float32,accuracy=float32>)");
}

absl::StatusOr<Value> InitialModel(ModelKind kind, uint64_t seed) {
  DemoRng rng(seed);
  std::vector<std::pair<std::string, Value>> params;
  for (const ParamSpec& spec : Specs(kind)) {
    FEDEXEC_ASSIGN_OR_RETURN(
        MutableTensor t, MutableTensor::Zeros(DType::kFloat32, ShapeOf(spec)));
    if (kind == ModelKind::kMlp && !spec.vector) {
      // He-uniform for the ReLU layer, Glorot-uniform for the output layer.
      const bool hidden_layer = spec.cols == kMlpHidden;
      const double limit =
          hidden_layer
              ? std::sqrt(6.0 / static_cast<double>(spec.rows))
              : std::sqrt(6.0 / static_cast<double>(spec.rows + spec.cols));
      for (float& v : t.mutable_data<float>()) {
        v = static_cast<float>(limit * (2.0 * rng.Uniform() - 1.0));
      }
    }
    params.emplace_back(spec.name, Value(std::move(t).Freeze()));
  }
  return Value::Struct(std::move(params));
}

absl::StatusOr<ClientUpdateResult> ClientUpdate(ModelKind kind,
                                                const Value& model,
                                                const Value& data, float lr,
                                                int32_t epochs) {
  const std::string fn = FunctionName(kind, "client_update");
  if (!data.is_sequence()) {
    return Invalid(fn,
                   absl::StrCat("data must be a sequence ", BatchTypeString(),
                                "*, found ", native::DescribeValue(data)));
  }
  const SequenceValue& sequence = data.sequence();
  return RunClientUpdate(
      kind, model,
      [&](BatchVisitor visit) -> absl::Status {
        int64_t index = 0;
        return sequence.ForEach([&](const Value& element) {
          return VisitBatchValue(element, index++, fn, visit);
        });
      },
      lr, epochs);
}

absl::StatusOr<ClientUpdateResult> ClientUpdate(ModelKind kind,
                                                const Value& model,
                                                absl::Span<const Batch> data,
                                                float lr, int32_t epochs) {
  return RunClientUpdate(
      kind, model,
      [&](BatchVisitor visit) -> absl::Status {
        for (const Batch& batch : data) {
          FEDEXEC_RETURN_IF_ERROR(visit(batch.x, batch.y));
        }
        return absl::OkStatus();
      },
      lr, epochs);
}

absl::StatusOr<EvaluationResult> Evaluate(ModelKind kind, const Value& model,
                                          const Tensor& x, const Tensor& y) {
  const std::string fn = FunctionName(kind, "evaluate");
  std::vector<Tensor> params;
  FEDEXEC_RETURN_IF_ERROR(ReadModel(kind, model, fn, &params));
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t n, CheckBatch(x, y, 0, fn));
  EvaluationResult result;
  if (n == 0) return result;
  std::vector<const float*> read;
  for (const Tensor& t : params) read.push_back(t.data<float>().data());
  Net net(kind);
  net.SetParams(read);
  double loss = 0;
  int64_t correct = 0;
  const float* xs = x.data<float>().data();
  const int32_t* ys = y.data<int32_t>().data();
  for (int64_t begin = 0; begin < n; begin += kEvalChunk) {
    const int64_t rows = std::min(kEvalChunk, n - begin);
    loss += net.Run(xs + begin * kModelInputs, ys + begin, rows,
                    /*gradient=*/false, &correct);
  }
  result.loss = static_cast<float>(loss / static_cast<double>(n));
  result.accuracy =
      static_cast<float>(static_cast<double>(correct) / static_cast<double>(n));
  return result;
}

absl::StatusOr<LossAndGradient> ComputeLossAndGradient(ModelKind kind,
                                                       const Value& model,
                                                       const Tensor& x,
                                                       const Tensor& y) {
  const std::string fn = "ComputeLossAndGradient";
  std::vector<Tensor> params;
  FEDEXEC_RETURN_IF_ERROR(ReadModel(kind, model, fn, &params));
  FEDEXEC_ASSIGN_OR_RETURN(const int64_t n, CheckBatch(x, y, 0, fn));
  if (n == 0) return Invalid(fn, "the batch has no rows");
  std::vector<const float*> read;
  for (const Tensor& t : params) read.push_back(t.data<float>().data());
  Net net(kind);
  net.SetParams(read);
  LossAndGradient result;
  result.loss = net.Run(x.data<float>().data(), y.data<int32_t>().data(), n,
                        /*gradient=*/true, nullptr) /
                static_cast<double>(n);
  const absl::Span<const ParamSpec> specs = Specs(kind);
  std::vector<std::pair<std::string, Value>> gradient;
  for (size_t i = 0; i < specs.size(); ++i) {
    const RowMatrix& g = net.grads()[i];
    FEDEXEC_ASSIGN_OR_RETURN(
        Tensor t,
        Tensor::FromSpan<float>(absl::MakeConstSpan(g.data(), g.size()),
                                ShapeOf(specs[i])));
    gradient.emplace_back(specs[i].name, Value(std::move(t)));
  }
  result.gradient = Value::Struct(std::move(gradient));
  return result;
}

absl::StatusOr<Value> MakeBatches(const Tensor& images, const Tensor& labels,
                                  int64_t begin, int64_t end,
                                  int64_t batch_size) {
  const std::string fn = "MakeBatches";
  if (images.dtype() != DType::kFloat32 || images.rank() != 2 ||
      labels.dtype() != DType::kInt32 || labels.rank() != 1 ||
      images.shape()[0] != labels.shape()[0]) {
    return Invalid(
        fn, absl::StrCat("need images float32[n,d] and labels "
                         "int32[n], found ",
                         images.TypeString(), " and ", labels.TypeString()));
  }
  const int64_t n = labels.shape()[0];
  if (begin < 0 || begin > end || end > n) {
    return Invalid(fn, absl::StrCat("rows [", begin, ", ", end,
                                    ") are not a range within [0, ", n, ")"));
  }
  if (batch_size < 1) {
    return Invalid(
        fn, absl::StrCat("batch_size is ", batch_size, "; must be >= 1"));
  }
  const std::shared_ptr<const void> owner =
      std::make_shared<const std::pair<Tensor, Tensor>>(images, labels);
  std::vector<Value> batches;
  batches.reserve((end - begin + batch_size - 1) / batch_size);
  for (int64_t start = begin; start < end; start += batch_size) {
    const int64_t stop = std::min(end, start + batch_size);
    FEDEXEC_ASSIGN_OR_RETURN(Tensor x, RowsOwnedBy(images, start, stop, owner));
    FEDEXEC_ASSIGN_OR_RETURN(Tensor y, RowsOwnedBy(labels, start, stop, owner));
    batches.push_back(Value::Struct(
        {{"x", Value(std::move(x))}, {"y", Value(std::move(y))}}));
  }
  return Value::Sequence(std::move(batches));
}

absl::StatusOr<Tensor> SliceRows(const Tensor& t, int64_t begin, int64_t end) {
  if (!t.valid() || t.rank() < 1 || t.dtype() == DType::kString) {
    return Invalid("SliceRows",
                   absl::StrCat("need a numeric tensor of rank >= 1, found ",
                                t.TypeString()));
  }
  if (begin < 0 || begin > end || end > t.shape()[0]) {
    return Invalid("SliceRows", absl::StrCat("rows [", begin, ", ", end,
                                             ") are not a range within [0, ",
                                             t.shape()[0], ")"));
  }
  return RowsOwnedBy(t, begin, end, std::make_shared<const Tensor>(t));
}

absl::Status RegisterDemoFunctions(native::NativeRegistry& registry) {
  for (ModelKind kind : {ModelKind::kLogReg, ModelKind::kMlp}) {
    FEDEXEC_RETURN_IF_ERROR(registry.Register(
        FunctionName(kind, "client_update"), ClientUpdateSignature(kind),
        [kind](const Value& arg) { return ClientUpdateNative(kind, arg); }));
    FEDEXEC_RETURN_IF_ERROR(registry.Register(
        FunctionName(kind, "evaluate"), EvaluateSignature(kind),
        [kind](const Value& arg) { return EvaluateNative(kind, arg); }));
  }
  return absl::OkStatus();
}

}  // namespace fedexec::demo
