// The intrinsic table: each intrinsic's signature, written once in the type
// notation and parsed into a pattern, plus the constraints a pattern cannot
// express (numeric members, integer bounds, variadic zips).
#include "ir/intrinsics.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/large_stack.h"
#include "core/limits.h"
#include "core/status.h"

namespace fedexec::ir {

namespace {

// What an intrinsic demands beyond its signature pattern.
enum class Rule {
  kPlain,           // the pattern alone
  kNumeric,         // T: numeric tensors or structs of them
  kFloating,        // T: floating-point tensors or structs of them
  kWeightedMean,    // T floating; W an integer or floating-point scalar
  kSecureSum,       // V integer; M an integer bound, shared or per element
  kSecureBitwidth,  // V integer; B an integer bit width, likewise
  kSecureModular,   // V integer; M an integer modulus, likewise
  kSelect,          // Ks an int32 vector
  kGeneric,         // T numeric, possibly one federated value of such
  kZipClients,      // variadic, handled by hand
  kZipServer,       // variadic, handled by hand
  kZero,            // not a function: needs a declared type
};

struct Spec {
  Intrinsic id;
  IntrinsicFamily family;
  const char* uri;
  // The parameter and result in the type notation. Patterns of the regular
  // intrinsics are parsed from these same strings, so that what the error
  // messages show is exactly what is matched.
  const char* parameter;
  const char* result;
  // > 0: the parameter is a struct of this many arguments.
  int arity;
  // The constraint in words, for messages ("" when none).
  const char* requirement;
  Rule rule;
};

constexpr Spec kSpecs[] = {
    {Intrinsic::kFederatedAggregate, IntrinsicFamily::kFederated,
     "federated_aggregate",
     "<{T}@CLIENTS, U, (<U, T> -> U), (<U, U> -> U), (U -> R)>", "R@SERVER", 5,
     "", Rule::kPlain},
    {Intrinsic::kFederatedApply, IntrinsicFamily::kFederated, "federated_apply",
     "<(T -> U), T@SERVER>", "U@SERVER", 2, "", Rule::kPlain},
    {Intrinsic::kFederatedBroadcast, IntrinsicFamily::kFederated,
     "federated_broadcast", "T@SERVER", "T@CLIENTS", 0, "", Rule::kPlain},
    {Intrinsic::kFederatedEvalAtClients, IntrinsicFamily::kFederated,
     "federated_eval_at_clients", "( -> T)", "{T}@CLIENTS", 0, "",
     Rule::kPlain},
    {Intrinsic::kFederatedEvalAtServer, IntrinsicFamily::kFederated,
     "federated_eval_at_server", "( -> T)", "T@SERVER", 0, "", Rule::kPlain},
    {Intrinsic::kFederatedMap, IntrinsicFamily::kFederated, "federated_map",
     "<(T -> U), {T}@CLIENTS>", "{U}@CLIENTS", 2, "", Rule::kPlain},
    {Intrinsic::kFederatedMapAllEqual, IntrinsicFamily::kFederated,
     "federated_map_all_equal", "<(T -> U), T@CLIENTS>", "U@CLIENTS", 2, "",
     Rule::kPlain},
    {Intrinsic::kFederatedMean, IntrinsicFamily::kFederated, "federated_mean",
     "{T}@CLIENTS", "T@SERVER", 0, "floating-point T", Rule::kFloating},
    {Intrinsic::kFederatedWeightedMean, IntrinsicFamily::kFederated,
     "federated_weighted_mean", "<{T}@CLIENTS, {W}@CLIENTS>", "T@SERVER", 2,
     "floating-point T and an integer or floating-point scalar W",
     Rule::kWeightedMean},
    {Intrinsic::kFederatedMin, IntrinsicFamily::kFederated, "federated_min",
     "{T}@CLIENTS", "T@SERVER", 0, "numeric T", Rule::kNumeric},
    {Intrinsic::kFederatedMax, IntrinsicFamily::kFederated, "federated_max",
     "{T}@CLIENTS", "T@SERVER", 0, "numeric T", Rule::kNumeric},
    {Intrinsic::kFederatedSum, IntrinsicFamily::kFederated, "federated_sum",
     "{T}@CLIENTS", "T@SERVER", 0, "numeric T", Rule::kNumeric},
    {Intrinsic::kFederatedSecureSum, IntrinsicFamily::kFederated,
     "federated_secure_sum", "<{V}@CLIENTS, M>", "V@SERVER", 2,
     "integer V and an integer bound M, shared or per element of V",
     Rule::kSecureSum},
    {Intrinsic::kFederatedSecureSumBitwidth, IntrinsicFamily::kFederated,
     "federated_secure_sum_bitwidth", "<{V}@CLIENTS, B>", "V@SERVER", 2,
     "integer V and an integer bit width B, shared or per element of V",
     Rule::kSecureBitwidth},
    {Intrinsic::kFederatedSecureModularSum, IntrinsicFamily::kFederated,
     "federated_secure_modular_sum", "<{V}@CLIENTS, M>", "V@SERVER", 2,
     "integer V and an integer modulus M, shared or per element of V",
     Rule::kSecureModular},
    {Intrinsic::kFederatedSelect, IntrinsicFamily::kFederated,
     "federated_select",
     "<{Ks}@CLIENTS, int32@SERVER, T@SERVER, (<T, int32> -> U)>",
     "{U*}@CLIENTS", 4, "an int32 vector of keys Ks", Rule::kSelect},
    {Intrinsic::kFederatedSecureSelect, IntrinsicFamily::kFederated,
     "federated_secure_select",
     "<{Ks}@CLIENTS, int32@SERVER, T@SERVER, (<T, int32> -> U)>",
     "{U*}@CLIENTS", 4, "an int32 vector of keys Ks", Rule::kSelect},
    {Intrinsic::kFederatedValueAtClients, IntrinsicFamily::kFederated,
     "federated_value_at_clients", "T", "T@CLIENTS", 0, "non-federated T",
     Rule::kPlain},
    {Intrinsic::kFederatedValueAtServer, IntrinsicFamily::kFederated,
     "federated_value_at_server", "T", "T@SERVER", 0, "non-federated T",
     Rule::kPlain},
    {Intrinsic::kFederatedZipAtClients, IntrinsicFamily::kFederated,
     "federated_zip_at_clients", "<{T1}@CLIENTS, {T2}@CLIENTS, ...>",
     "{<T1, T2, ...>}@CLIENTS", 0, "", Rule::kZipClients},
    {Intrinsic::kFederatedZipAtServer, IntrinsicFamily::kFederated,
     "federated_zip_at_server", "<T1@SERVER, T2@SERVER, ...>",
     "<T1, T2, ...>@SERVER", 0, "", Rule::kZipServer},
    {Intrinsic::kGenericPlus, IntrinsicFamily::kGeneric, "generic_plus",
     "<T, T>", "T", 2, "numeric T (or federated values of it at one placement)",
     Rule::kGeneric},
    {Intrinsic::kGenericMultiply, IntrinsicFamily::kGeneric, "generic_multiply",
     "<T, T>", "T", 2, "numeric T (or federated values of it at one placement)",
     Rule::kGeneric},
    {Intrinsic::kGenericDivide, IntrinsicFamily::kGeneric, "generic_divide",
     "<T, T>", "T", 2, "numeric T (or federated values of it at one placement)",
     Rule::kGeneric},
    {Intrinsic::kGenericZero, IntrinsicFamily::kGeneric, "generic_zero",
     nullptr, "T", 0, "numeric T", Rule::kZero},
    {Intrinsic::kSequenceMap, IntrinsicFamily::kSequence, "sequence_map",
     "<(T -> U), T*>", "U*", 2, "", Rule::kPlain},
    {Intrinsic::kSequenceReduce, IntrinsicFamily::kSequence, "sequence_reduce",
     "<T*, U, (<U, T> -> U)>", "U", 3, "", Rule::kPlain},
    {Intrinsic::kSequenceSum, IntrinsicFamily::kSequence, "sequence_sum", "T*",
     "T", 0, "numeric T", Rule::kNumeric},
};

// The rows are in the order of the enum, so that a row is found by index.
constexpr bool RowsInEnumOrder() {
  int i = 0;
  for (const Spec& spec : kSpecs) {
    if (static_cast<int>(spec.id) != i++) return false;
  }
  return i == static_cast<int>(Intrinsic::kSequenceSum) + 1;
}
static_assert(RowsInEnumOrder(),
              "kSpecs must hold one row per Intrinsic, in enum order");

const Spec& SpecOf(Intrinsic intrinsic) {
  return kSpecs[static_cast<size_t>(intrinsic)];
}

// PlacementName as an absl::string_view, which this Abseil keeps distinct
// from std::string_view.
absl::string_view PlacementText(Placement placement) {
  std::string_view name = PlacementName(placement);
  return absl::string_view(name.data(), name.size());
}

const Spec* FindSpec(absl::string_view uri) {
  for (const Spec& spec : kSpecs) {
    if (uri == spec.uri) return &spec;
  }
  return nullptr;
}

struct Pattern {
  Type parameter;
  Type result;
};

// The parsed pattern of a regular intrinsic; an internal error if the table
// above does not parse (a bug here, caught by the tests).
absl::StatusOr<Pattern> GetPattern(const Spec& spec) {
  using Entry = std::pair<std::string, absl::StatusOr<Pattern>>;
  static const auto* patterns = [] {
    auto* v = new std::vector<Entry>;
    for (const Spec& s : kSpecs) {
      if (s.rule == Rule::kZipClients || s.rule == Rule::kZipServer ||
          s.rule == Rule::kZero) {
        continue;
      }
      absl::StatusOr<Type> parameter = ParseType(s.parameter);
      absl::StatusOr<Type> result = ParseType(s.result);
      if (!parameter.ok() || !result.ok()) {
        v->emplace_back(s.uri,
                        absl::InternalError(absl::StrCat(
                            "signature of ", s.uri, " does not parse: ",
                            !parameter.ok() ? parameter.status().message()
                                            : result.status().message())));
      } else {
        v->emplace_back(s.uri,
                        Pattern{*std::move(parameter), *std::move(result)});
      }
    }
    return v;
  }();
  for (const Entry& e : *patterns) {
    if (e.first == spec.uri) return e.second;
  }
  return absl::InternalError(absl::StrCat("no pattern for ", spec.uri));
}

std::string Expectation(const Spec& spec) {
  std::string text = spec.parameter;
  if (spec.requirement[0] != '\0') {
    absl::StrAppend(&text, " with ", spec.requirement);
  }
  return text;
}

// "<uri> expects <parameter> [with <requirement>], found <found>[: detail]".
absl::Status Mismatch(const Spec& spec, absl::string_view found,
                      absl::string_view detail = "") {
  std::string message =
      absl::StrCat(spec.uri, " expects ", Expectation(spec), ", found ", found);
  if (!detail.empty()) absl::StrAppend(&message, ": ", detail);
  return absl::InvalidArgumentError(message);
}

bool ContainsFederated(const Type& type) {
  switch (type.kind()) {
    case TypeKind::kFederated:
      return true;
    case TypeKind::kStruct:
      for (const StructElementType& e : type.elements()) {
        if (ContainsFederated(e.type)) return true;
      }
      return false;
    case TypeKind::kSequence:
      return ContainsFederated(type.element());
    case TypeKind::kFunction:
      return (type.parameter() != nullptr &&
              ContainsFederated(*type.parameter())) ||
             ContainsFederated(type.result());
    default:
      return false;
  }
}

// The first leaf of `type` (a tensor, or anything that is not a struct) for
// which `ok_tensor` does not hold, or nullopt when every leaf is a tensor
// that passes. Structs are looked through, element by element.
template <typename Pred>
std::optional<Type> FirstBadLeaf(const Type& type, Pred ok_tensor) {
  if (type.kind() == TypeKind::kStruct) {
    for (const StructElementType& e : type.elements()) {
      std::optional<Type> bad = FirstBadLeaf(e.type, ok_tensor);
      if (bad) return bad;
    }
    return std::nullopt;
  }
  if (type.kind() == TypeKind::kTensor && ok_tensor(type)) return std::nullopt;
  return type;
}

// "" when every leaf of the type bound to `label` is a tensor of the kind
// `what` names, else why not.
template <typename Pred>
std::string LeafProblem(absl::string_view label, const Type& bound,
                        absl::string_view what, Pred ok_tensor) {
  std::optional<Type> bad = FirstBadLeaf(bound, ok_tensor);
  if (!bad) return "";
  if (*bad == bound) {
    return absl::StrCat(label, " = ", bound.ToString(), " is not ", what);
  }
  return absl::StrCat(label, " = ", bound.ToString(), " contains ",
                      bad->ToString(), ", which is not ", what);
}

bool NumericTensor(const Type& t) { return IsNumeric(t.dtype()); }
bool FloatingTensor(const Type& t) { return IsFloating(t.dtype()); }
bool IntegerTensor(const Type& t) { return IsInteger(t.dtype()); }

// Whether `bound` is an integer bound for values of type `value`: one
// integer tensor shared by every element, or a struct of the same structure
// whose leaves are integer tensors.
bool IsBoundFor(const Type& value, const Type& bound) {
  if (bound.kind() == TypeKind::kTensor) return IsInteger(bound.dtype());
  if (bound.kind() != TypeKind::kStruct || value.kind() != TypeKind::kStruct ||
      value.elements().size() != bound.elements().size()) {
    return false;
  }
  for (size_t i = 0; i < value.elements().size(); ++i) {
    if (!IsBoundFor(value.elements()[i].type, bound.elements()[i].type)) {
      return false;
    }
  }
  return true;
}

const Type* Bound(const TypeBindings& bindings, const std::string& label) {
  auto it = bindings.find(label);
  return it == bindings.end() ? nullptr : &it->second;
}

// The constraints beyond the pattern: "" when they hold, else why not.
std::string RuleProblem(const Spec& spec, const TypeBindings& bindings) {
  if (spec.rule != Rule::kGeneric) {
    // Every abstract type of a federated intrinsic stands for an unplaced
    // value: a federated one would nest placements or misplace a function.
    std::vector<std::string> labels;
    for (const auto& [label, type] : bindings) labels.push_back(label);
    std::sort(labels.begin(), labels.end());
    for (const std::string& label : labels) {
      const Type& type = bindings.at(label);
      if (ContainsFederated(type)) {
        return absl::StrCat(label, " = ", type.ToString(),
                            " is federated, which ", label, " must not be");
      }
    }
  }
  const Type* t = Bound(bindings, "T");
  switch (spec.rule) {
    case Rule::kNumeric:
      if (t) return LeafProblem("T", *t, "a numeric tensor", NumericTensor);
      return "";
    case Rule::kFloating:
      if (t) {
        return LeafProblem("T", *t, "a floating-point tensor", FloatingTensor);
      }
      return "";
    case Rule::kWeightedMean: {
      if (t) {
        std::string problem =
            LeafProblem("T", *t, "a floating-point tensor", FloatingTensor);
        if (!problem.empty()) return problem;
      }
      const Type* w = Bound(bindings, "W");
      if (w && !(w->kind() == TypeKind::kTensor &&
                 (IsFloating(w->dtype()) || IsInteger(w->dtype())) &&
                 !w->unknown_rank() && w->dims().empty())) {
        return absl::StrCat("W = ", w->ToString(),
                            " is not an integer or floating-point scalar");
      }
      return "";
    }
    case Rule::kSecureSum:
    case Rule::kSecureBitwidth:
    case Rule::kSecureModular: {
      const Type* v = Bound(bindings, "V");
      if (v) {
        std::string problem =
            LeafProblem("V", *v, "an integer tensor", IntegerTensor);
        if (!problem.empty()) return problem;
      }
      const char* label = spec.rule == Rule::kSecureBitwidth ? "B" : "M";
      const Type* bound = Bound(bindings, label);
      if (v && bound && !IsBoundFor(*v, *bound)) {
        return absl::StrCat(label, " = ", bound->ToString(),
                            " is neither one integer tensor nor integers in "
                            "the structure of V = ",
                            v->ToString());
      }
      return "";
    }
    case Rule::kSelect: {
      const Type* keys = Bound(bindings, "Ks");
      if (keys && !(keys->kind() == TypeKind::kTensor &&
                    keys->dtype() == DType::kInt32 && !keys->unknown_rank() &&
                    keys->dims().size() == 1)) {
        return absl::StrCat("Ks = ", keys->ToString(),
                            " is not an int32 vector");
      }
      return "";
    }
    case Rule::kGeneric:
      if (t) {
        const Type& member =
            t->kind() == TypeKind::kFederated ? t->member() : *t;
        return LeafProblem("T", member, "a numeric tensor", NumericTensor);
      }
      return "";
    default:
      return "";
  }
}

// The parameter and member types of one zip over the (possibly nested)
// struct `t` at `path` ("" at the top, "1.0" for element 0 of element 1):
// every leaf is a federated value at `placement`.
struct ZipTypes {
  Type parameter;
  Type member;
};

absl::StatusOr<ZipTypes> ZipPart(const Spec& spec, const Type& argument,
                                 const Type& t, const std::string& path,
                                 Placement placement, int* leaves) {
  if (t.kind() == TypeKind::kStruct) {
    std::vector<StructElementType> parameters;
    std::vector<StructElementType> members;
    for (size_t i = 0; i < t.elements().size(); ++i) {
      const StructElementType& e = t.elements()[i];
      FEDEXEC_ASSIGN_OR_RETURN(
          ZipTypes part,
          ZipPart(spec, argument, e.type,
                  path.empty() ? absl::StrCat(i) : absl::StrCat(path, ".", i),
                  placement, leaves));
      parameters.push_back({e.name, std::move(part.parameter)});
      members.push_back({e.name, std::move(part.member)});
    }
    return ZipTypes{Type::Struct(std::move(parameters)),
                    Type::Struct(std::move(members))};
  }
  if (t.kind() != TypeKind::kFederated) {
    return Mismatch(spec, argument.ToString(),
                    absl::StrCat("element ", path, " (", t.ToString(),
                                 ") is not a federated value"));
  }
  if (t.placement() != placement) {
    return Mismatch(
        spec, argument.ToString(),
        absl::StrCat("element ", path, " (", t.ToString(), ") is placed at ",
                     PlacementText(t.placement()), ", not ",
                     PlacementText(placement)));
  }
  ++*leaves;
  // CLIENTS values are zipped per client (an all-equal input is accepted
  // as one); SERVER values are always all-equal.
  return ZipTypes{
      Type::Federated(t.member(), placement, placement == Placement::kServer),
      t.member()};
}

// federated_zip_at_clients / _at_server: a struct of federated values at
// the placement, possibly nested (federated_language emits one zip over a
// nested struct: <a@P, <b@P, c@P>> -> <a, <b, c>>@P); names kept.
absl::StatusOr<Type> InferZip(const Spec& spec, const Type& argument) {
  const Placement placement =
      spec.rule == Rule::kZipClients ? Placement::kClients : Placement::kServer;
  if (argument.kind() != TypeKind::kStruct) {
    return Mismatch(spec, argument.ToString(), "the argument is not a struct");
  }
  if (argument.elements().empty()) {
    return Mismatch(spec, argument.ToString(),
                    "there is nothing to zip (no elements)");
  }
  int leaves = 0;
  FEDEXEC_ASSIGN_OR_RETURN(
      ZipTypes types,
      CallWithStackFor(static_cast<size_t>(argument.depth()), [&] {
        return ZipPart(spec, argument, argument, "", placement, &leaves);
      }));
  if (leaves == 0) {
    return Mismatch(spec, argument.ToString(),
                    "there is nothing to zip (no federated values)");
  }
  if (!IsAssignableFrom(types.parameter, argument)) {
    return Mismatch(
        spec, argument.ToString(),
        absl::StrCat("not assignable to ", types.parameter.ToString()));
  }
  return Type::Function(std::move(types.parameter),
                        Type::Federated(std::move(types.member), placement,
                                        placement == Placement::kServer));
}

// A precise reason for the commonest mistake: a federated argument at the
// wrong placement, or a non-federated one where a federated one is due.
// "" when the top levels agree (Unify then has the final word).
std::string PlacementProblem(const Type& pattern, const Type& actual,
                             absl::string_view what) {
  if (pattern.kind() != TypeKind::kFederated) return "";
  if (actual.kind() != TypeKind::kFederated) {
    return absl::StrCat(what, " ", actual.ToString(),
                        " is not a federated value");
  }
  if (actual.placement() != pattern.placement()) {
    return absl::StrCat(what, " ", actual.ToString(), " is placed at ",
                        PlacementText(actual.placement()), ", not ",
                        PlacementText(pattern.placement()));
  }
  if (pattern.all_equal() && !actual.all_equal()) {
    return absl::StrCat(what, " ", actual.ToString(),
                        actual.placement() == Placement::kClients
                            ? " is one value per client, not one all-equal "
                              "value"
                            : " is not marked all-equal");
  }
  return "";
}

}  // namespace

std::optional<Intrinsic> FindIntrinsic(absl::string_view uri) {
  const Spec* spec = FindSpec(uri);
  if (spec == nullptr) return std::nullopt;
  return spec->id;
}

absl::string_view IntrinsicUri(Intrinsic intrinsic) {
  return SpecOf(intrinsic).uri;
}

IntrinsicFamily FamilyOf(Intrinsic intrinsic) {
  return SpecOf(intrinsic).family;
}

const std::vector<std::string>& IntrinsicUris() {
  static const auto* uris = [] {
    auto* v = new std::vector<std::string>;
    for (const Spec& spec : kSpecs) v->emplace_back(spec.uri);
    std::sort(v->begin(), v->end());
    return v;
  }();
  return *uris;
}

bool IsIntrinsic(absl::string_view uri) { return FindSpec(uri) != nullptr; }

absl::StatusOr<Type> InferIntrinsicType(absl::string_view uri,
                                        const Type* argument) {
  const Spec* spec = FindSpec(uri);
  if (spec == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown intrinsic '", uri, "'"));
  }
  if (spec->rule == Rule::kZero) {
    return absl::InvalidArgumentError("generic_zero needs a declared type");
  }
  if (argument == nullptr) return Mismatch(*spec, "no argument");
  if (argument->depth() > kMaxNestingDepth) {
    return Mismatch(*spec, absl::StrCat("a type nested ", argument->depth(),
                                        " levels deep, more than the limit of ",
                                        kMaxNestingDepth));
  }
  if (spec->rule == Rule::kZipClients || spec->rule == Rule::kZipServer) {
    return InferZip(*spec, *argument);
  }
  if (spec->arity > 0 &&
      (argument->kind() != TypeKind::kStruct ||
       argument->elements().size() != static_cast<size_t>(spec->arity))) {
    const std::string found =
        argument->kind() == TypeKind::kStruct
            ? absl::StrCat(argument->elements().size())
            : absl::StrCat("one of type ", argument->ToString());
    return absl::InvalidArgumentError(
        absl::StrCat(spec->uri, " expects ", spec->arity, " arguments ",
                     spec->parameter, ", found ", found));
  }
  FEDEXEC_ASSIGN_OR_RETURN(Pattern pattern, GetPattern(*spec));

  const std::string found = argument->ToString();
  if (spec->arity > 0) {
    for (int i = 0; i < spec->arity; ++i) {
      std::string problem = PlacementProblem(
          pattern.parameter.elements()[i].type, argument->elements()[i].type,
          absl::StrCat("argument ", i + 1));
      if (!problem.empty()) return Mismatch(*spec, found, problem);
    }
  } else {
    std::string problem =
        PlacementProblem(pattern.parameter, *argument, "the argument");
    if (!problem.empty()) return Mismatch(*spec, found, problem);
  }

  TypeBindings bindings;
  absl::Status unified = Unify(pattern.parameter, *argument, &bindings);
  if (!unified.ok()) return Mismatch(*spec, found, unified.message());
  std::string problem = RuleProblem(*spec, bindings);
  if (!problem.empty()) return Mismatch(*spec, found, problem);

  Type parameter = Substitute(pattern.parameter, bindings);
  Type result = Substitute(pattern.result, bindings);
  if (ContainsAbstract(parameter) || ContainsAbstract(result)) {
    return Mismatch(
        *spec, found,
        absl::StrCat("cannot determine every abstract type (got ",
                     parameter.ToString(), " -> ", result.ToString(), ")"));
  }
  if (!IsAssignableFrom(parameter, *argument)) {
    return Mismatch(*spec, found,
                    absl::StrCat("not assignable to ", parameter.ToString()));
  }
  Type function = Type::Function(std::move(parameter), std::move(result));
  absl::Status well_formed = CheckWellFormed(function);
  if (!well_formed.ok()) return Mismatch(*spec, found, well_formed.message());
  return function;
}

std::string IntrinsicSignature(absl::string_view uri) {
  const Spec* spec = FindSpec(uri);
  if (spec == nullptr) return "";
  if (spec->parameter == nullptr) return spec->result;
  return absl::StrCat("(", spec->parameter, " -> ", spec->result, ")");
}

absl::Status CheckGenericZeroType(const Type& type) {
  if (type.depth() > kMaxNestingDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generic_zero has a type nested ", type.depth(),
        " levels deep, more than the limit of ", kMaxNestingDepth));
  }
  const Type& member =
      type.kind() == TypeKind::kFederated ? type.member() : type;
  std::string problem =
      LeafProblem("T", member, "a numeric tensor", NumericTensor);
  if (!problem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("generic_zero is the zero of numeric T, found ",
                     type.ToString(), ": ", problem));
  }
  return absl::OkStatus();
}

}  // namespace fedexec::ir
