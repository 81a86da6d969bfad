// ReferenceResolvingExecutor: a compiler from the AST to a small tree of
// instructions, and an iterative interpreter for it.
//
// Program. Compilation turns each node into one Code object; all of a
// program's Code objects are owned by one Program in a flat vector (so a
// program of any depth is destroyed without recursion) and refer to each
// other by plain pointers. Code records where it came from (its parent and
// the step from it, and the text location) so that errors can name the
// node without strings being built at compile time.
//
// Frames. Every call of a lambda gets one frame: slot 0 holds the
// parameter (when there is one), then one slot per block local of its body
// (outside nested lambdas), in order. A reference compiles to a frame slot
// (kLocal) or, for a name bound outside the lambda, to one of the values
// its closure captured (kCapture): a lambda captures, when it is evaluated,
// exactly the outer values its body names, copied from the enclosing frame
// or from the enclosing closure's captures. Closures therefore hold values,
// not frames, and no reference cycle can arise (a closure stored in a block
// local would otherwise hold the frame that holds it).
//
// The interpreter keeps explicit stacks (work items, operand values, frame
// slots, activations), so nested expressions and calls from closure to
// closure use no C++ recursion. Evaluation order is fixed: struct elements
// left to right, a call's function then its argument, block locals in
// order then the result. Compilation follows the same order and marks the
// last read of every frame slot, which then moves the value out of the slot.
#include "executors/reference_resolving_executor.h"

#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/large_stack.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/value_description.h"
#include "ir/node_path.h"
#include "ir/type_checker.h"

namespace fedexec::exec {
namespace {

// ------------------------------------------------------------------ code

enum class Op : uint8_t {
  kConst,      // an embedded leaf
  kLocal,      // a slot of the current frame
  kCapture,    // a value captured by the current closure
  kLambda,     // makes a closure
  kBlock,      // let*
  kCall,       // function(argument)
  kStruct,     // <a, b=...>
  kSelection,  // source[index]
};

// How a node was reached from its parent (for node paths).
enum class Step : uint8_t {
  kRoot,
  kLambdaResult,
  kBlockLocal,
  kBlockResult,
  kCallFunction,
  kCallArgument,
  kStructElement,
  kSelectionSource,
};

struct Code {
  explicit Code(Op op) : op(op) {}
  virtual ~Code() = default;

  Op op;
  Step step = Step::kRoot;
  int step_index = 0;
  const Code* parent = nullptr;
  ir::SourceLocation location;
};

struct ConstCode : Code {
  ConstCode() : Code(Op::kConst) {}
  Value value;
};

// kLocal and kCapture.
struct SlotCode : Code {
  explicit SlotCode(Op op = Op::kLocal) : Code(op) {}
  int index = 0;
  bool move = false;  // kLocal: the slot's last read takes the value
};

// Where a closure's captured value comes from in the enclosing frame.
struct CaptureSource {
  bool from_capture = false;  // the enclosing closure's captures, else a slot
  int index = 0;
  bool move = false;  // the slot's last read takes the value
};

struct LambdaCode : Code {
  LambdaCode() : Code(Op::kLambda) {}
  ir::Type type;
  bool has_parameter = false;
  int frame_size = 0;
  const Code* body = nullptr;
  std::vector<CaptureSource> captures;
  // The lambda as written, and the name each capture has in it: what
  // Closure::ToNode sends to another process.
  ir::NodePtr node;
  std::vector<std::string> capture_names;
};

struct BlockCode : Code {
  BlockCode() : Code(Op::kBlock) {}
  std::vector<const Code*> locals;
  std::vector<int> slots;  // per local; -1: never read, dropped at once
  const Code* result = nullptr;
};

struct CallCode : Code {
  CallCode() : Code(Op::kCall) {}
  const Code* function = nullptr;
  const Code* argument = nullptr;  // null: called without argument
  // The callee as the call names it, for messages: the name a message
  // that already names it contains ("federated_sum", "add", "f"), and how
  // to name it otherwise ("federated_sum", "native 'add'", "f").
  std::string callee_name;
  std::string callee_label;
};

struct StructCode : Code {
  StructCode() : Code(Op::kStruct) {}
  std::vector<const Code*> elements;
  std::vector<std::string> names;
};

struct SelectionCode : Code {
  SelectionCode() : Code(Op::kSelection) {}
  const Code* source = nullptr;
  int index = 0;
};

struct Program {
  std::vector<std::unique_ptr<Code>> codes;
  const Code* root = nullptr;
  int root_frame_size = 0;
};

// "LINE:COL" for a node read from text, else its node path.
std::string Where(const Code* code) {
  if (code->location.line > 0) {
    return absl::StrCat(code->location.line, ":", code->location.column);
  }
  std::vector<std::string> steps;
  for (const Code* c = code; c != nullptr && c->step != Step::kRoot;
       c = c->parent) {
    switch (c->step) {
      case Step::kRoot:
        break;
      case Step::kLambdaResult:
        steps.emplace_back(ir::kLambdaResultStep);
        break;
      case Step::kBlockLocal:
        steps.push_back(ir::BlockLocalStep(c->step_index));
        break;
      case Step::kBlockResult:
        steps.emplace_back(ir::kBlockResultStep);
        break;
      case Step::kCallFunction:
        steps.emplace_back(ir::kCallFunctionStep);
        break;
      case Step::kCallArgument:
        steps.emplace_back(ir::kCallArgumentStep);
        break;
      case Step::kStructElement:
        steps.push_back(ir::StructElementStep(c->step_index));
        break;
      case Step::kSelectionSource:
        steps.emplace_back(ir::kSelectionSourceStep);
        break;
    }
  }
  std::reverse(steps.begin(), steps.end());
  return ir::JoinPath(steps);
}

// Whether `message` already names the callee: it starts with the name
// (followed by ':' or ' ') or quotes it.
bool NamesCallee(std::string_view message, std::string_view name) {
  if (name.empty()) return true;
  if (message.size() > name.size() && message.substr(0, name.size()) == name &&
      (message[name.size()] == ':' || message[name.size()] == ' ')) {
    return true;
  }
  return message.find(absl::StrCat(
             "'", absl::string_view(name.data(), name.size()), "'")) !=
         std::string_view::npos;
}

absl::Status FailAtCall(const CallCode* call, const absl::Status& status) {
  if (HasLocation(status)) return CopyStatus(status);
  std::string where = Where(call);
  const absl::string_view message = status.message();
  if (!NamesCallee(std::string_view(message.data(), message.size()),
                   call->callee_name)) {
    absl::StrAppend(&where, ": ", call->callee_label);
  }
  return WithLocation(status, where);
}

absl::Status FailAt(const Code* code, const absl::Status& status) {
  return WithLocation(status, Where(code));
}

// ------------------------------------------------------------ closures

class Closure final : public Function {
 public:
  Closure(std::shared_ptr<const Program> program, const LambdaCode* code,
          std::vector<Value> captures,
          std::shared_ptr<ExecutionContext> context)
      : Function(code->type),
        program_(std::move(program)),
        code_(code),
        captures_(std::move(captures)),
        context_(std::move(context)) {}

  // Closures capturing closures form chains as long as a block has locals
  // (f1 = (x) -> f0(x), f2 = (x) -> f1(x), ...): they are destroyed one
  // after the other, not recursively.
  ~Closure() override;

  absl::StatusOr<Value> Call(const Value* argument) const override;

  // The lambda as written, inside a block that binds each captured name to
  // its value (tensors as literals, structs as struct nodes, functions by
  // their own ToNode). A captured federated value, sequence or value of
  // another kind has no such form.
  absl::StatusOr<ir::NodePtr> ToNode() const override;

  const LambdaCode* code() const { return code_; }
  const std::vector<Value>& captures() const { return captures_; }
  const std::shared_ptr<const Program>& program() const { return program_; }
  const std::shared_ptr<ExecutionContext>& context() const { return context_; }

 protected:
  std::string What() const override {
    return absl::StrCat("lambda at ", Where(code_));
  }

 private:
  std::shared_ptr<const Program> program_;
  const LambdaCode* code_;
  std::vector<Value> captures_;
  std::shared_ptr<ExecutionContext> context_;
};

// Captures of closures being destroyed on this thread, while the outermost
// such destruction empties it.
thread_local std::vector<Value>* captures_to_destroy = nullptr;

Closure::~Closure() {
  if (captures_to_destroy != nullptr) {
    for (Value& v : captures_) captures_to_destroy->push_back(std::move(v));
    return;
  }
  std::vector<Value> pending = std::move(captures_);
  captures_to_destroy = &pending;
  while (!pending.empty()) {
    // Destroying the last reference to a closure queues its captures.
    Value v = std::move(pending.back());
    pending.pop_back();
  }
  captures_to_destroy = nullptr;
}

// A node that evaluates to `value`, for Closure::ToNode.
absl::StatusOr<ir::NodePtr> CapturedValueNode(const Value& value,
                                              const std::string& name,
                                              int depth) {
  if (depth > kMaxNestingDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "captured value '", name, "' is nested too deeply to be sent"));
  }
  if (value.is_tensor()) {
    const Tensor& t = value.tensor();
    return ir::MakeNode(ir::LiteralNode{t},
                        ir::Type::Tensor(t.dtype(), t.shape()));
  }
  if (value.is_struct()) {
    ir::StructNode node;
    std::vector<ir::StructElementType> types;
    for (const auto& e : value.struct_value().elements) {
      FEDEXEC_ASSIGN_OR_RETURN(ir::NodePtr element,
                               CapturedValueNode(*e.value, name, depth + 1));
      types.push_back(ir::StructElementType{e.name, *element->type()});
      node.elements.push_back(ir::NamedNode{e.name, std::move(element)});
    }
    return ir::MakeNode(std::move(node), ir::Type::Struct(std::move(types)));
  }
  if (value.is_function()) {
    FEDEXEC_ASSIGN_OR_RETURN(const Function* f, AsFunction(value));
    return f->ToNode();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "captured value '", name, "' is ",
      value.is_federated() ? "a federated value" : "a sequence",
      ", which cannot be sent to another process with the function"));
}

absl::StatusOr<ir::NodePtr> Closure::ToNode() const {
  if (code_->node == nullptr) return Function::ToNode();
  if (captures_.empty()) return code_->node;
  ir::BlockNode block;
  for (size_t i = 0; i < captures_.size(); ++i) {
    const std::string& name = code_->capture_names[i];
    absl::StatusOr<ir::NodePtr> value =
        CapturedValueNode(captures_[i], name, 0);
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(What(), ": ", value.status().message()));
    }
    block.locals.push_back(ir::NamedNode{name, *std::move(value)});
  }
  block.result = code_->node;
  return ir::MakeNode(std::move(block), code_->type);
}

bool IsClosure(const FunctionValue* f) { return typeid(*f) == typeid(Closure); }

// --------------------------------------------------------- interpreter

// Stack kept free when a closure is entered from another executor's code
// (what the callee and the code that called it may still need): 256 KB,
// or a quarter of a smaller thread stack.
constexpr size_t kStackReserve = size_t{256} << 10;

// Whether this thread's stack has less than the reserve left below the
// caller. False when the stack's bounds are unknown.
bool StackNearlyFull() {
  struct Bounds {
    uintptr_t low = 0;
    size_t reserve = 0;
  };
  thread_local const Bounds bounds = [] {
    Bounds b;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return b;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      b.low = reinterpret_cast<uintptr_t>(addr);
      b.reserve = std::min(kStackReserve, size / 4);
    }
    pthread_attr_destroy(&attr);
    return b;
  }();
  if (bounds.low == 0) return false;
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return here < bounds.low + bounds.reserve;
}

class Machine {
 public:
  // `program` and `context` belong to the code run at the bottom (a
  // closure's, or the program's top level); closures called inline bring
  // their own.
  Machine(const std::shared_ptr<const Program>& program,
          const std::shared_ptr<ExecutionContext>& context)
      : program_(program), context_(context) {}

  // Runs `body` in a fresh frame of `frame_size` slots whose slot 0 is
  // `*argument` (when given), with `closure`'s captures (null: none).
  absl::StatusOr<Value> Run(const Code* body, const Closure* closure,
                            int frame_size, const Value* argument);

 private:
  struct Task {
    const Code* code;
    uint32_t stage;
  };
  struct Activation {
    const Closure* closure;  // null at the top level
    const std::shared_ptr<const Program>* program;
    const std::shared_ptr<ExecutionContext>* context;
    size_t base;  // first slot of the frame in slots_
  };

  const std::shared_ptr<const Program>& program_;
  const std::shared_ptr<ExecutionContext>& context_;
  absl::InlinedVector<Task, 32> work_;
  absl::InlinedVector<Value, 8> values_;
  absl::InlinedVector<Value, 8> slots_;
  absl::InlinedVector<Activation, 4> frames_;
};

absl::StatusOr<Value> Machine::Run(const Code* body, const Closure* closure,
                                   int frame_size, const Value* argument) {
  frames_.push_back({closure, &program_, &context_, 0});
  slots_.resize(static_cast<size_t>(frame_size));
  if (argument != nullptr) slots_[0] = *argument;
  work_.push_back({body, 0});

  while (!work_.empty()) {
    Task& task = work_.back();
    const Code* code = task.code;
    switch (code->op) {
      case Op::kConst:
        values_.push_back(static_cast<const ConstCode*>(code)->value);
        work_.pop_back();
        break;

      case Op::kLocal: {
        const auto* c = static_cast<const SlotCode*>(code);
        Value& slot = slots_[frames_.back().base + c->index];
        if (c->move) {
          values_.push_back(std::move(slot));
        } else {
          values_.push_back(slot);
        }
        work_.pop_back();
        break;
      }

      case Op::kCapture: {
        const auto* c = static_cast<const SlotCode*>(code);
        values_.push_back(frames_.back().closure->captures()[c->index]);
        work_.pop_back();
        break;
      }

      case Op::kLambda: {
        const auto* c = static_cast<const LambdaCode*>(code);
        const Activation& frame = frames_.back();
        std::vector<Value> captured;
        captured.reserve(c->captures.size());
        for (const CaptureSource& s : c->captures) {
          if (s.from_capture) {
            captured.push_back(frame.closure->captures()[s.index]);
          } else if (s.move) {
            captured.push_back(std::move(slots_[frame.base + s.index]));
          } else {
            captured.push_back(slots_[frame.base + s.index]);
          }
        }
        values_.push_back(Value::Function(std::make_shared<Closure>(
            *frame.program, c, std::move(captured), *frame.context)));
        work_.pop_back();
        break;
      }

      case Op::kBlock: {
        const auto* c = static_cast<const BlockCode*>(code);
        const uint32_t stage = task.stage;
        if (stage > 0) {
          const int slot = c->slots[stage - 1];
          if (slot >= 0) {
            slots_[frames_.back().base + slot] = std::move(values_.back());
          }
          values_.pop_back();
        }
        if (stage < c->locals.size()) {
          task.stage = stage + 1;
          work_.push_back({c->locals[stage], 0});
        } else {
          task = {c->result, 0};  // the result replaces the block
        }
        break;
      }

      case Op::kCall: {
        const auto* c = static_cast<const CallCode*>(code);
        const bool has_argument = c->argument != nullptr;
        if (task.stage == 0) {
          task.stage = 1;
          work_.push_back({c->function, 0});
          break;
        }
        if (task.stage == 1) {
          task.stage = 2;
          if (has_argument) work_.push_back({c->argument, 0});
          break;
        }
        if (task.stage == 3) {
          // Back from a closure called inline: drop its frame; the result
          // replaces the function value.
          Value result = std::move(values_.back());
          values_.pop_back();
          slots_.resize(frames_.back().base);
          frames_.pop_back();
          values_.back() = std::move(result);
          work_.pop_back();
          break;
        }
        Value& function = values_[values_.size() - 1 - (has_argument ? 1 : 0)];
        if (function.is_function() && IsClosure(function.function().get())) {
          const auto* callee =
              static_cast<const Closure*>(function.function().get());
          if (callee->has_parameter() != has_argument) {
            return FailAtCall(
                c,
                CallFunction(function, has_argument ? &values_.back() : nullptr)
                    .status());
          }
          absl::Status cancelled = callee->context()->CheckCancelled();
          if (!cancelled.ok()) return FailAtCall(c, cancelled);
          const size_t base = slots_.size();
          slots_.resize(base + static_cast<size_t>(callee->code()->frame_size));
          if (has_argument) {
            slots_[base] = std::move(values_.back());
            values_.pop_back();
          }
          frames_.push_back(
              {callee, &callee->program(), &callee->context(), base});
          task.stage = 3;
          work_.push_back({callee->code()->body, 0});
          break;
        }
        absl::StatusOr<Value> result =
            CallFunction(function, has_argument ? &values_.back() : nullptr);
        if (!result.ok()) return FailAtCall(c, result.status());
        if (has_argument) values_.pop_back();
        values_.back() = *std::move(result);
        work_.pop_back();
        break;
      }

      case Op::kStruct: {
        const auto* c = static_cast<const StructCode*>(code);
        const size_t n = c->elements.size();
        if (task.stage < n) {
          const Code* next = c->elements[task.stage];
          ++task.stage;
          work_.push_back({next, 0});
          break;
        }
        std::vector<std::pair<std::string, Value>> elements;
        elements.reserve(n);
        const size_t first = values_.size() - n;
        for (size_t i = 0; i < n; ++i) {
          elements.emplace_back(c->names[i], std::move(values_[first + i]));
        }
        values_.resize(first);
        values_.push_back(Value::Struct(std::move(elements)));
        work_.pop_back();
        break;
      }

      case Op::kSelection: {
        const auto* c = static_cast<const SelectionCode*>(code);
        if (task.stage == 0) {
          task.stage = 1;
          work_.push_back({c->source, 0});
          break;
        }
        Value& source = values_.back();
        if (!source.is_struct()) {
          return FailAt(
              c, absl::InvalidArgumentError(absl::StrCat(
                     "selection [", c->index, "] from ", DescribeValue(source),
                     ", which is not a struct")));
        }
        const auto& elements = source.struct_value().elements;
        if (static_cast<size_t>(c->index) >= elements.size()) {
          return FailAt(c, absl::InvalidArgumentError(absl::StrCat(
                               "selection [", c->index, "] from a struct of ",
                               elements.size(), " elements")));
        }
        Value element = *elements[c->index].value;
        source = std::move(element);
        work_.pop_back();
        break;
      }
    }
  }
  return std::move(values_.back());
}

absl::StatusOr<Value> Closure::Call(const Value* argument) const {
  FEDEXEC_RETURN_IF_ERROR(context_->CheckCancelled());
  if (StackNearlyFull()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        Describe(),
        ": calls nest too deeply through other executors for the thread's "
        "stack"));
  }
  Machine machine(program_, context_);
  return machine.Run(code_->body, this, code_->frame_size, argument);
}

// ------------------------------------------------------------- compiler

class Compiler {
 public:
  explicit Compiler(LocalExecutor& leaves) : leaves_(leaves) {}

  absl::StatusOr<std::shared_ptr<const Program>> Compile(
      const ir::NodePtr& root) {
    program_ = std::make_shared<Program>();
    scopes_.emplace_back();
    FEDEXEC_ASSIGN_OR_RETURN(program_->root,
                             CompileNode(root, nullptr, Step::kRoot, 0));
    program_->root_frame_size = scopes_.back().num_slots;
    FinishScope(scopes_.back());
    scopes_.pop_back();
    return std::shared_ptr<const Program>(std::move(program_));
  }

 private:
  // A value's place in a scope's frame.
  struct Source {
    bool from_capture;
    int index;
  };
  // The last read of a frame slot: a reference, or a capture of a lambda.
  struct SlotUse {
    SlotCode* reference = nullptr;
    LambdaCode* lambda = nullptr;
    int capture = -1;
    int reads = 0;
  };
  // One per lambda being compiled (and one for the top level).
  struct Scope {
    LambdaCode* lambda = nullptr;  // null at the top level
    absl::flat_hash_map<std::string, std::vector<int>> bindings;
    int num_slots = 0;
    std::vector<SlotUse> uses;  // per slot
    std::vector<BlockCode*> blocks;
    absl::flat_hash_map<std::pair<bool, int>, int> capture_of;
  };

  template <typename T>
  T* New(const ir::Node& node, const Code* parent, Step step, int index) {
    auto code = std::make_unique<T>();
    code->parent = parent;
    code->step = step;
    code->step_index = index;
    code->location = node.location();
    T* raw = code.get();
    program_->codes.push_back(std::move(code));
    return raw;
  }

  int NewSlot(Scope& scope) {
    scope.uses.emplace_back();
    return scope.num_slots++;
  }

  void Read(Scope& scope, int slot, SlotUse use) {
    use.reads = scope.uses[slot].reads + 1;
    scope.uses[slot] = use;
  }

  // Marks last reads as moves and drops locals never read.
  static void FinishScope(Scope& scope) {
    for (const SlotUse& use : scope.uses) {
      if (use.reference != nullptr) use.reference->move = true;
      if (use.lambda != nullptr) use.lambda->captures[use.capture].move = true;
    }
    for (BlockCode* block : scope.blocks) {
      for (int& slot : block->slots) {
        if (scope.uses[slot].reads == 0) slot = -1;
      }
    }
  }

  // Where `name`'s value is in the frame of scopes_[level]; captures it
  // into the lambdas between its binding and `level`.
  std::optional<Source> Lookup(const std::string& name, size_t level) {
    Scope& scope = scopes_[level];
    auto it = scope.bindings.find(name);
    if (it != scope.bindings.end() && !it->second.empty()) {
      return Source{false, it->second.back()};
    }
    if (level == 0) return std::nullopt;
    std::optional<Source> outer = Lookup(name, level - 1);
    if (!outer.has_value()) return std::nullopt;
    Scope& here = scopes_[level];  // Lookup does not add scopes
    auto [capture, inserted] = here.capture_of.try_emplace(
        std::make_pair(outer->from_capture, outer->index),
        static_cast<int>(here.lambda->captures.size()));
    if (inserted) {
      here.lambda->captures.push_back(
          CaptureSource{outer->from_capture, outer->index, false});
      here.lambda->capture_names.push_back(name);
      if (!outer->from_capture) {
        Read(scopes_[level - 1], outer->index,
             SlotUse{nullptr, here.lambda, capture->second, 0});
      }
    }
    return Source{true, capture->second};
  }

  static absl::Status Untyped(const Code* code) {
    return FailAt(code, absl::InvalidArgumentError(
                            "the node has no type (check the computation "
                            "with the type checker first)"));
  }

  absl::StatusOr<const Code*> CompileNode(const ir::NodePtr& node_ptr,
                                          const Code* parent, Step step,
                                          int index) {
    const ir::Node& node = *node_ptr;
    switch (node.kind()) {
      case ir::NodeKind::kReference: {
        const std::string& name = node.As<ir::ReferenceNode>().name;
        std::optional<Source> source = Lookup(name, scopes_.size() - 1);
        if (!source.has_value()) {
          SlotCode probe(Op::kLocal);
          probe.parent = parent;
          probe.step = step;
          probe.step_index = index;
          probe.location = node.location();
          return FailAt(&probe, absl::InvalidArgumentError(absl::StrCat(
                                    "free reference '", name,
                                    "': no enclosing lambda or block binds "
                                    "it")));
        }
        auto* code = New<SlotCode>(node, parent, step, index);
        code->op = source->from_capture ? Op::kCapture : Op::kLocal;
        code->index = source->index;
        if (!source->from_capture) {
          Read(scopes_.back(), source->index, SlotUse{code, nullptr, -1, 0});
        }
        return code;
      }

      case ir::NodeKind::kLambda: {
        const auto& lambda = node.As<ir::LambdaNode>();
        auto* code = New<LambdaCode>(node, parent, step, index);
        if (!node.type().has_value()) return Untyped(code);
        if (node.type()->kind() != ir::TypeKind::kFunction) {
          return FailAt(code, absl::InvalidArgumentError(absl::StrCat(
                                  "a lambda of type ", node.type()->ToString(),
                                  ", which is not a function type")));
        }
        code->type = *node.type();
        code->node = node_ptr;
        code->has_parameter = !lambda.parameter_name.empty();
        if (code->has_parameter != (code->type.parameter() != nullptr)) {
          return FailAt(
              code, absl::InvalidArgumentError(absl::StrCat(
                        "a lambda ", code->has_parameter ? "with" : "without",
                        " a parameter has type ", code->type.ToString())));
        }
        if (lambda.result == nullptr) {
          return FailAt(code,
                        absl::InvalidArgumentError("lambda without body"));
        }
        scopes_.emplace_back();
        scopes_.back().lambda = code;
        if (code->has_parameter) {
          const int slot = NewSlot(scopes_.back());
          scopes_.back().bindings[lambda.parameter_name].push_back(slot);
        }
        absl::StatusOr<const Code*> body =
            CompileNode(lambda.result, code, Step::kLambdaResult, 0);
        if (!body.ok()) return body.status();
        code->body = *body;
        code->frame_size = scopes_.back().num_slots;
        FinishScope(scopes_.back());
        scopes_.pop_back();
        return code;
      }

      case ir::NodeKind::kBlock: {
        const auto& block = node.As<ir::BlockNode>();
        auto* code = New<BlockCode>(node, parent, step, index);
        std::vector<const std::string*> bound;
        bound.reserve(block.locals.size());
        absl::Status status;
        for (size_t i = 0; i < block.locals.size() && status.ok(); ++i) {
          const ir::NamedNode& local = block.locals[i];
          if (local.value == nullptr) {
            status =
                FailAt(code, absl::InvalidArgumentError(absl::StrCat(
                                 "local '", local.name, "' has no value")));
            break;
          }
          absl::StatusOr<const Code*> value = CompileNode(
              local.value, code, Step::kBlockLocal, static_cast<int>(i));
          if (!value.ok()) {
            status = value.status();
            break;
          }
          Scope& scope = scopes_.back();
          const int slot = NewSlot(scope);
          scope.bindings[local.name].push_back(slot);
          bound.push_back(&local.name);
          code->locals.push_back(*value);
          code->slots.push_back(slot);
        }
        if (status.ok() && block.result == nullptr) {
          status =
              FailAt(code, absl::InvalidArgumentError("block without result"));
        }
        if (status.ok()) {
          absl::StatusOr<const Code*> result =
              CompileNode(block.result, code, Step::kBlockResult, 0);
          if (result.ok()) {
            code->result = *result;
          } else {
            status = result.status();
          }
        }
        Scope& scope = scopes_.back();
        for (auto it = bound.rbegin(); it != bound.rend(); ++it) {
          scope.bindings[**it].pop_back();
        }
        if (!status.ok()) return status;
        scope.blocks.push_back(code);
        return code;
      }

      case ir::NodeKind::kCall: {
        const auto& call = node.As<ir::CallNode>();
        auto* code = New<CallCode>(node, parent, step, index);
        if (call.function == nullptr) {
          return FailAt(code,
                        absl::InvalidArgumentError("call without function"));
        }
        const ir::Node& f = *call.function;
        if (f.Is<ir::IntrinsicNode>()) {
          code->callee_name = f.As<ir::IntrinsicNode>().uri;
          code->callee_label = code->callee_name;
        } else if (f.Is<ir::NativeNode>()) {
          code->callee_name = f.As<ir::NativeNode>().name;
          code->callee_label = absl::StrCat("native '", code->callee_name, "'");
        } else if (f.Is<ir::ReferenceNode>()) {
          code->callee_name = f.As<ir::ReferenceNode>().name;
          code->callee_label = code->callee_name;
        }
        FEDEXEC_ASSIGN_OR_RETURN(
            code->function,
            CompileNode(call.function, code, Step::kCallFunction, 0));
        if (call.argument != nullptr) {
          FEDEXEC_ASSIGN_OR_RETURN(
              code->argument,
              CompileNode(call.argument, code, Step::kCallArgument, 0));
        }
        return code;
      }

      case ir::NodeKind::kStruct: {
        const auto& s = node.As<ir::StructNode>();
        auto* code = New<StructCode>(node, parent, step, index);
        code->elements.reserve(s.elements.size());
        code->names.reserve(s.elements.size());
        for (size_t i = 0; i < s.elements.size(); ++i) {
          if (s.elements[i].value == nullptr) {
            return FailAt(code, absl::InvalidArgumentError(absl::StrCat(
                                    "struct element ", i, " has no value")));
          }
          FEDEXEC_ASSIGN_OR_RETURN(
              const Code* element,
              CompileNode(s.elements[i].value, code, Step::kStructElement,
                          static_cast<int>(i)));
          code->elements.push_back(element);
          code->names.push_back(s.elements[i].name);
        }
        return code;
      }

      case ir::NodeKind::kSelection: {
        const auto& s = node.As<ir::SelectionNode>();
        auto* code = New<SelectionCode>(node, parent, step, index);
        if (s.index < 0) {
          return FailAt(code, absl::InvalidArgumentError(absl::StrCat(
                                  "selection '", s.name,
                                  "' was not resolved to an index (check the "
                                  "computation with the type checker first)")));
        }
        if (s.source == nullptr) {
          return FailAt(code,
                        absl::InvalidArgumentError("selection without source"));
        }
        code->index = s.index;
        FEDEXEC_ASSIGN_OR_RETURN(
            code->source,
            CompileNode(s.source, code, Step::kSelectionSource, 0));
        return code;
      }

      case ir::NodeKind::kLiteral:
      case ir::NodeKind::kData:
      case ir::NodeKind::kIntrinsic:
      case ir::NodeKind::kPlacement:
      case ir::NodeKind::kNative:
      case ir::NodeKind::kTorchScript: {
        auto* code = New<ConstCode>(node, parent, step, index);
        absl::StatusOr<Value> value = leaves_.EmbedLeaf(node_ptr);
        if (!value.ok()) return FailAt(code, value.status());
        code->value = *std::move(value);
        return code;
      }
    }
    return absl::InternalError("unknown node kind");
  }

  LocalExecutor& leaves_;
  std::shared_ptr<Program> program_;
  std::vector<Scope> scopes_;
};

}  // namespace

namespace reference_resolving_internal {

// The compiled programs of one executor, most recently used first. Each
// entry holds its tree, so a cached node's address is never reused.
class ProgramCache {
 public:
  // The cached program of `node`, or null.
  std::shared_ptr<const Program> Find(const ir::NodePtr& node) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first.get() != node.get()) continue;
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front().second;
    }
    return nullptr;
  }

  void Insert(ir::NodePtr node, std::shared_ptr<const Program> program) {
    std::lock_guard<std::mutex> lock(mu_);
    ++compilations_;
    for (const auto& e : entries_) {
      if (e.first.get() == node.get()) return;  // compiled concurrently
    }
    entries_.emplace_front(std::move(node), std::move(program));
    if (entries_.size() > ReferenceResolvingExecutor::kProgramCacheSize) {
      entries_.pop_back();
    }
  }

  int64_t compilations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return compilations_;
  }

 private:
  mutable std::mutex mu_;
  std::list<std::pair<ir::NodePtr, std::shared_ptr<const Program>>>
      entries_;               // guarded by mu_
  int64_t compilations_ = 0;  // guarded by mu_
};

}  // namespace reference_resolving_internal

ReferenceResolvingExecutor::ReferenceResolvingExecutor(
    std::shared_ptr<ExecutionContext> context,
    std::shared_ptr<LocalExecutor> child)
    : LocalExecutor(std::move(context), std::move(child)),
      cache_(std::make_unique<reference_resolving_internal::ProgramCache>()) {}

ReferenceResolvingExecutor::~ReferenceResolvingExecutor() = default;

int64_t ReferenceResolvingExecutor::NumCompilationsForTesting() const {
  return cache_->compilations();
}

absl::StatusOr<Value> ReferenceResolvingExecutor::Evaluate(
    const ir::NodePtr& node) {
  if (node == nullptr) {
    return absl::InvalidArgumentError("Evaluate: null computation");
  }
  if (child() == nullptr) {
    return absl::FailedPreconditionError(
        "the reference resolving executor has no child executor to embed "
        "leaves");
  }
  FEDEXEC_RETURN_IF_ERROR(context()->CheckCancelled());
  std::shared_ptr<const Program> program = cache_->Find(node);
  if (program == nullptr) {
    ir::NodePtr checked = node;
    if (!node->type().has_value()) {
      FEDEXEC_ASSIGN_OR_RETURN(checked, ir::CheckComputation(node));
    }
    const int depth = ir::TreeDepth(checked);
    absl::StatusOr<std::shared_ptr<const Program>> compiled =
        CallWithStackFor(static_cast<size_t>(depth),
                         [&] { return Compiler(*child()).Compile(checked); });
    if (!compiled.ok()) return compiled.status();
    program = *std::move(compiled);
    cache_->Insert(node, program);
  }
  Machine machine(program, context());
  return machine.Run(program->root, nullptr, program->root_frame_size, nullptr);
}

}  // namespace fedexec::exec
