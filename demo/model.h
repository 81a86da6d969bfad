// The models of the FedAvg demo and their client update, written with Eigen:
// multinomial logistic regression and a one-hidden-layer MLP over
// Fashion-MNIST images (float32 [n,784] in [0,1], int32 labels in [0,10)).
//
// Models are struct Values of float32 tensors (the parameters of a round):
//   logistic regression  <w=float32[784,10],b=float32[10]>
//   MLP (784-200-10)     <w1=float32[784,200],b1=float32[200],
//                         w2=float32[200,10],b2=float32[10]>
// Logits are x * w + b (rows are examples); the MLP's hidden layer is
// relu(x * w1 + b1). The loss is the softmax cross-entropy, computed as
// logsumexp(z) - z[label] (stable for any logits), averaged over a batch.
//
// Client data are a sequence of batches <x=float32[?,784],y=int32[?]>
// (x and y with the same row count); batches are read in place through
// row-major Eigen maps over the tensors' buffers, never copied. A sequence
// may be lazy: it is traversed with SequenceValue::ForEach once per epoch.
//
// ClientUpdate runs `epochs` epochs of minibatch SGD over the batches in
// order (one step per batch, gradient of the batch's mean loss) on a copy
// of the model and returns
//   delta  = trained - initial (same structure as the model),
//   weight = the number of examples in one epoch (float32),
//   loss   = the mean training loss over the LAST epoch: the per-example
//            losses summed over its batches, each computed by the forward
//            pass just before that batch's step, divided by `weight`.
// Data without examples gives a zero delta, weight 0 and loss 0. Batches
// with zero rows are skipped. Per batch nothing is allocated: scratch
// buffers are sized by the largest batch seen and reused for the rest of
// the call.
//
// Native functions (RegisterDemoFunctions), for `native` leaves of the
// FedAvg computation, with M the model type above:
//   logreg_client_update, mlp_client_update:
//     (<model=M,batches=<x=float32[?,784],y=int32[?]>*,lr=float32,epochs=int32>
//       -> <delta=M,weight=float32,loss=float32>)
//   logreg_evaluate, mlp_evaluate:
//     (<model=M,x=float32[?,784],y=int32[?]>
//       -> <loss=float32,accuracy=float32>)
// Evaluation gives the mean loss and the fraction of examples whose arg max
// logit (the lowest class index on ties) is the label; 0 and 0 for no
// examples.
//
// Errors (INVALID_ARGUMENT, naming the function and the element at fault):
// a model of the wrong structure, dtype or shape; a batch that is not
// <x=float32[n,784],y=int32[n]>; a label outside [0,10); epochs < 1; a
// learning rate that is negative or not finite.
//
// Determinism: results are a function of the inputs (single-threaded
// Eigen products with fixed sizes): the same call gives the same bits.
// InitialModel uses DemoRng's portable sampling, so the initial MLP is the
// same with any standard library.
//
// Thread-safety: every function is stateless (scratch space belongs to one
// call) and may run concurrently with itself.
#ifndef FEDEXEC_DEMO_MODEL_H_
#define FEDEXEC_DEMO_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "core/value.h"
#include "runtimes/native/registry.h"

namespace fedexec::demo {

enum class ModelKind { kLogReg, kMlp };

inline constexpr int64_t kModelInputs = 784;
inline constexpr int64_t kModelClasses = 10;
inline constexpr int64_t kMlpHidden = 200;

// "logreg" / "mlp": the prefix of the kind's native function names.
std::string_view ModelKindName(ModelKind kind);
// The model's type in the notation of ir/type.h, e.g.
// "<w=float32[784,10],b=float32[10]>".
std::string ModelTypeString(ModelKind kind);
// The batch type "<x=float32[?,784],y=int32[?]>".
std::string BatchTypeString();
// The signatures registered for the kind's native functions.
std::string ClientUpdateSignature(ModelKind kind);
std::string EvaluateSignature(ModelKind kind);

// The initial model: all zeros for logistic regression; for the MLP, w1
// He-uniform (U(-a, a), a = sqrt(6 / 784)), w2 Glorot-uniform (a = sqrt(6 /
// (200 + 10))), biases zero, drawn in row-major order from DemoRng(seed).
// The logistic model ignores the seed.
absl::StatusOr<Value> InitialModel(ModelKind kind, uint64_t seed);

// A batch of examples: x float32 [n,784], y int32 [n].
struct Batch {
  Tensor x;
  Tensor y;
};

struct ClientUpdateResult {
  Value delta;       // the model's structure
  float weight = 0;  // examples per epoch
  float loss = 0;    // mean training loss over the last epoch
};

// The client update (see the header comment). `data` is a sequence Value
// (concrete or lazy) of <x,y> batch structs.
absl::StatusOr<ClientUpdateResult> ClientUpdate(ModelKind kind,
                                                const Value& model,
                                                const Value& data, float lr,
                                                int32_t epochs);
// The same over batches held by the caller.
absl::StatusOr<ClientUpdateResult> ClientUpdate(ModelKind kind,
                                                const Value& model,
                                                absl::Span<const Batch> data,
                                                float lr, int32_t epochs);

struct EvaluationResult {
  float loss = 0;      // mean softmax cross-entropy
  float accuracy = 0;  // fraction of examples classified correctly
};

// Mean loss and accuracy of `model` on x float32 [n,784], y int32 [n].
absl::StatusOr<EvaluationResult> Evaluate(ModelKind kind, const Value& model,
                                          const Tensor& x, const Tensor& y);

// For tests and diagnostics: the mean loss over (x, y) and its gradient
// with respect to every parameter (a Value of the model's structure), by
// the same code the client update uses.
struct LossAndGradient {
  double loss = 0;
  Value gradient;
};
absl::StatusOr<LossAndGradient> ComputeLossAndGradient(ModelKind kind,
                                                       const Value& model,
                                                       const Tensor& x,
                                                       const Tensor& y);

// Rows [begin, end) of `images` (float32 [n,784]) and `labels` (int32 [n])
// cut into batches of `batch_size` rows (the last one may be smaller), as a
// concrete sequence Value of <x=...,y=...> structs whose tensors view the
// given tensors' buffers (zero-copy; they keep them alive).
// INVALID_ARGUMENT for mismatched tensors, a bad range or batch_size < 1.
absl::StatusOr<Value> MakeBatches(const Tensor& images, const Tensor& labels,
                                  int64_t begin, int64_t end,
                                  int64_t batch_size);

// Rows [begin, end) of `t` (rank >= 1, not strings), zero-copy: the result
// views t's buffer and keeps it alive. INVALID_ARGUMENT for another tensor
// or a range outside [0, rows].
absl::StatusOr<Tensor> SliceRows(const Tensor& t, int64_t begin, int64_t end);

// Registers logreg_client_update, mlp_client_update, logreg_evaluate and
// mlp_evaluate into `registry`. Returns the first registration error
// (ALREADY_EXISTS when called twice on one registry).
absl::Status RegisterDemoFunctions(native::NativeRegistry& registry);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_MODEL_H_
