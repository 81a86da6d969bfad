// Values on the wire: the encoder (whole and chunked) and the decoder (whole
// and from chunks) of tensorflow_federated.v0.Value.
//
// One recursive decoder serves both ValueFromProto and ChunkAssembler: it
// checks the structure of a message (kinds, names, member counts, types,
// depth) from the message alone, and asks a callback for each array's
// tensor, in depth-first order. ValueFromProto's callback decodes the
// array (core's TensorFromArray); the assembler's callback first records
// where each array's bytes will go (the header), and then, once the data
// chunks have arrived, hands out the filled buffers.
#include "ir/value_proto.h"

#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ir/proto_codec.h"
#include "ir/type.h"
#include "ir/value_syntax.h"

namespace fedexec::ir {
namespace {

namespace fl = ::federated_language;
namespace v0 = ::tensorflow_federated::v0;

// ------------------------------------------------------------------ paths

// Where in a value the coder is, rendered only for messages: "[1].w",
// "member 3", "element 2 flat_value 1".
class Path {
 public:
  void PushStructElement(size_t index, const std::string& name) {
    steps_.push_back({Kind::kStruct, static_cast<int64_t>(index), &name});
  }
  void PushMember(int64_t index) {
    steps_.push_back({Kind::kMember, index, nullptr});
  }
  void PushElement(int64_t index) {
    steps_.push_back({Kind::kElement, index, nullptr});
  }
  void PushFlatValue(int64_t index) {
    steps_.push_back({Kind::kFlatValue, index, nullptr});
  }
  void Pop() { steps_.pop_back(); }

  std::string ToString() const {
    std::string out;
    for (const Step& s : steps_) {
      switch (s.kind) {
        case Kind::kStruct:
          if (!s.name->empty()) {
            absl::StrAppend(&out, out.empty() ? "" : ".", *s.name);
          } else {
            absl::StrAppend(&out, "[", s.index, "]");
          }
          break;
        case Kind::kMember:
          absl::StrAppend(&out, out.empty() ? "" : " ", "member ", s.index);
          break;
        case Kind::kElement:
          absl::StrAppend(&out, out.empty() ? "" : " ", "element ", s.index);
          break;
        case Kind::kFlatValue:
          absl::StrAppend(&out, out.empty() ? "" : " ", "flat_value ", s.index);
          break;
      }
    }
    return out;
  }

  // `status` with "at PATH: " in front of its message (same code).
  absl::Status Wrap(const absl::Status& status) const {
    if (status.ok() || steps_.empty()) return status;
    return absl::Status(
        status.code(), absl::StrCat("at ", ToString(), ": ", status.message()));
  }
  absl::Status Error(absl::string_view message) const {
    return Wrap(absl::InvalidArgumentError(message));
  }

 private:
  enum class Kind { kStruct, kMember, kElement, kFlatValue };
  struct Step {
    Kind kind;
    int64_t index;
    const std::string* name;
  };
  std::vector<Step> steps_;
};

std::string DepthMessage() {
  return absl::StrCat("nesting deeper than ", kMaxValueDepth, " levels");
}

// Whether `type` is a tensor or a struct of them (what a sequence element
// may be). Bounded by the type's own depth (checked by its decoder).
bool IsTensorTree(const Type& type) {
  switch (type.kind()) {
    case TypeKind::kTensor:
      return true;
    case TypeKind::kStruct:
      for (const StructElementType& e : type.elements()) {
        if (!IsTensorTree(e.type)) return false;
      }
      return true;
    default:
      return false;
  }
}

// The tensor types of a tensor tree, depth-first.
void FlattenTensorTypes(const Type& type, std::vector<const Type*>& out) {
  if (type.kind() == TypeKind::kTensor) {
    out.push_back(&type);
    return;
  }
  for (const StructElementType& e : type.elements()) {
    FlattenTensorTypes(e.type, out);
  }
}

// "float32[2,3]" for an array header whose dtype is valid.
std::string ArrayTypeString(DType dtype, absl::Span<const int64_t> dims) {
  return Type::Tensor(dtype, std::vector<int64_t>(dims.begin(), dims.end()))
      .ToString();
}

// Whether a tensor of `dtype` and `dims` has type `type` (unknown dims and
// rank in `type` accept any).
bool TensorFits(DType dtype, absl::Span<const int64_t> dims, const Type& type) {
  if (type.kind() != TypeKind::kTensor || type.dtype() != dtype) return false;
  if (type.unknown_rank()) return true;
  if (type.dims().size() != dims.size()) return false;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (type.dims()[i] != kUnknownDim && type.dims()[i] != dims[i]) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- decoder

// Gives the tensor of an array whose dtype and shape the decoder has
// checked (`count` elements of `dtype`).
using ArrayFn = absl::FunctionRef<absl::StatusOr<Tensor>(
    const fl::Array& array, DType dtype, int64_t count, const Path& path)>;

class Decoder {
 public:
  explicit Decoder(ArrayFn array_fn) : array_fn_(array_fn) {}

  // `expected`: the type the value must have (a federated value's member
  // type), or null.
  absl::StatusOr<Value> Decode(const v0::Value& proto, const Type* expected,
                               int depth) {
    if (depth > kMaxValueDepth) return path_.Error(DepthMessage());
    switch (proto.value_case()) {
      case v0::Value::kArray:
        return DecodeArray(proto.array(), expected);
      case v0::Value::kStruct:
        return DecodeStruct(proto.struct_(), expected, depth);
      case v0::Value::kSequence:
        return DecodeSequence(proto.sequence(), expected, depth);
      case v0::Value::kFederated:
        return DecodeFederated(proto.federated(), expected, depth);
      case v0::Value::kComputation:
        return path_.Error(
            "a computation where a value was expected (computations are "
            "accepted only as a whole value or as struct elements of one)");
      case v0::Value::VALUE_NOT_SET:
        break;
    }
    return path_.Error(
        "Value has no kind set (array, struct, sequence, "
        "federated or computation)");
  }

 private:
  // Checks dtype and shape; sets `dtype` and `count`.
  absl::Status CheckArrayHeader(const fl::Array& array, DType& dtype,
                                int64_t& count) {
    const int wire = array.dtype();
    if (!IsValidWireDType(wire)) {
      const std::string& name =
          fl::DataType_Name(static_cast<fl::DataType>(wire));
      return path_.Error(absl::StrCat("Array: dtype ",
                                      name.empty() ? absl::StrCat(wire) : name,
                                      " is not a valid element type"));
    }
    dtype = static_cast<DType>(wire);
    if (array.shape().unknown_rank()) {
      return path_.Error(
          "Array: shape has unknown_rank set; a value needs a known shape");
    }
    const auto& dims = array.shape().dim();
    for (int i = 0; i < dims.size(); ++i) {
      if (dims.Get(i) == -1) {
        return path_.Error(
            absl::StrCat("Array: shape ", ShapeString(dims), ": dim ", i,
                         " is unknown (-1); a value needs a known shape"));
      }
    }
    absl::StatusOr<int64_t> n = CheckedNumElements(dims);
    if (!n.ok()) {
      return path_.Error(absl::StrCat("Array: ", n.status().message()));
    }
    count = *n;
    return absl::OkStatus();
  }

  absl::StatusOr<Value> DecodeArray(const fl::Array& array,
                                    const Type* expected) {
    DType dtype;
    int64_t count;
    FEDEXEC_RETURN_IF_ERROR(CheckArrayHeader(array, dtype, count));
    if (expected != nullptr &&
        !TensorFits(dtype, array.shape().dim(), *expected)) {
      return path_.Error(
          absl::StrCat("expected ", expected->ToString(), ", found ",
                       ArrayTypeString(dtype, array.shape().dim())));
    }
    FEDEXEC_ASSIGN_OR_RETURN(Tensor t, array_fn_(array, dtype, count, path_));
    return Value(std::move(t));
  }

  absl::StatusOr<Value> DecodeStruct(const v0::Value::Struct& s,
                                     const Type* expected, int depth) {
    if (expected != nullptr) {
      if (expected->kind() != TypeKind::kStruct) {
        return path_.Error(absl::StrCat("expected ", expected->ToString(),
                                        ", found a struct of ",
                                        s.element_size(), " elements"));
      }
      if (expected->elements().size() !=
          static_cast<size_t>(s.element_size())) {
        return path_.Error(absl::StrCat("expected ", expected->ToString(), " (",
                                        expected->elements().size(),
                                        " elements), found a struct of ",
                                        s.element_size(), " elements"));
      }
    }
    std::vector<std::pair<std::string, Value>> elements;
    elements.reserve(s.element_size());
    for (int i = 0; i < s.element_size(); ++i) {
      const v0::Value::Struct::Element& e = s.element(i);
      if (!e.name().empty()) {
        // Quadratic only in the number of named elements of one struct,
        // which a message bounds; structs are short in practice.
        for (int j = 0; j < i; ++j) {
          if (s.element(j).name() == e.name()) {
            return path_.Error(absl::StrCat("struct elements ", j, " and ", i,
                                            " are both named '", e.name(),
                                            "'"));
          }
        }
      }
      const Type* element_type = nullptr;
      if (expected != nullptr) {
        const StructElementType& et = expected->elements()[i];
        if (!et.name.empty() && et.name != e.name()) {
          return path_.Error(absl::StrCat(
              "expected ", expected->ToString(), ": element ", i,
              e.name().empty() ? " has no name"
                               : absl::StrCat(" is named '", e.name(), "'"),
              ", expected '", et.name, "'"));
        }
        element_type = &et.type;
      }
      path_.PushStructElement(i, e.name());
      if (!e.has_value()) {
        absl::Status s = path_.Error("struct element has no value");
        path_.Pop();
        return s;
      }
      absl::StatusOr<Value> v = Decode(e.value(), element_type, depth + 1);
      path_.Pop();
      if (!v.ok()) return v.status();
      elements.emplace_back(e.name(), *std::move(v));
    }
    return Value::Struct(std::move(elements));
  }

  // Builds one sequence element of `type` from `tensors` (depth-first).
  Value Unflatten(const Type& type, std::vector<Tensor>& tensors,
                  size_t& next) {
    if (type.kind() == TypeKind::kTensor) return Value(tensors[next++]);
    std::vector<std::pair<std::string, Value>> elements;
    elements.reserve(type.elements().size());
    for (const StructElementType& e : type.elements()) {
      elements.emplace_back(e.name, Unflatten(e.type, tensors, next));
    }
    return Value::Struct(std::move(elements));
  }

  absl::StatusOr<Value> DecodeSequence(const v0::Value::Sequence& s,
                                       const Type* expected, int depth) {
    if (expected != nullptr && expected->kind() != TypeKind::kSequence) {
      return path_.Error(absl::StrCat("expected ", expected->ToString(),
                                      ", found a sequence"));
    }
    if (!s.has_element_type()) {
      if (s.element_size() > 0) {
        return path_.Error(absl::StrCat("sequence of ", s.element_size(),
                                        " elements has no element_type"));
      }
      return Value::Sequence({});
    }
    absl::StatusOr<Type> decoded = TypeFromProto(s.element_type());
    if (!decoded.ok()) {
      return path_.Error(
          absl::StrCat("sequence element_type: ", decoded.status().message()));
    }
    const Type element_type = *std::move(decoded);
    if (!IsTensorTree(element_type)) {
      return path_.Error(
          absl::StrCat("sequence element_type ", element_type.ToString(),
                       " is not a tensor or a struct of tensors"));
    }
    if (depth + element_type.depth() > kMaxValueDepth) {
      return path_.Error(DepthMessage());
    }
    if (expected != nullptr &&
        !IsAssignableFrom(expected->element(), element_type)) {
      return path_.Error(absl::StrCat("expected ", expected->ToString(),
                                      ", found a sequence of ",
                                      element_type.ToString()));
    }
    std::vector<const Type*> leaves;
    FlattenTensorTypes(element_type, leaves);
    std::vector<Value> elements;
    elements.reserve(s.element_size());
    std::vector<Tensor> tensors;
    for (int i = 0; i < s.element_size(); ++i) {
      const auto& flat = s.element(i).flat_value();
      path_.PushElement(i);
      if (static_cast<size_t>(flat.size()) != leaves.size()) {
        absl::Status st = path_.Error(absl::StrCat(
            flat.size(), " flat values, but element_type ",
            element_type.ToString(), " has ", leaves.size(), " tensors"));
        path_.Pop();
        return st;
      }
      tensors.clear();
      for (int j = 0; j < flat.size(); ++j) {
        path_.PushFlatValue(j);
        DType dtype;
        int64_t count;
        absl::Status st = CheckArrayHeader(flat.Get(j), dtype, count);
        if (st.ok() &&
            !TensorFits(dtype, flat.Get(j).shape().dim(), *leaves[j])) {
          st = path_.Error(
              absl::StrCat("element_type ", element_type.ToString(), " needs ",
                           leaves[j]->ToString(), " here, found ",
                           ArrayTypeString(dtype, flat.Get(j).shape().dim())));
        }
        if (st.ok()) {
          absl::StatusOr<Tensor> t =
              array_fn_(flat.Get(j), dtype, count, path_);
          if (t.ok()) {
            tensors.push_back(*std::move(t));
          } else {
            st = t.status();
          }
        }
        path_.Pop();
        if (!st.ok()) {
          path_.Pop();
          return st;
        }
      }
      path_.Pop();
      size_t next = 0;
      elements.push_back(Unflatten(element_type, tensors, next));
    }
    return Value::Sequence(std::move(elements));
  }

  absl::StatusOr<Value> DecodeFederated(const v0::Value::Federated& f,
                                        const Type* expected, int depth) {
    if (expected != nullptr) {
      return path_.Error(absl::StrCat("expected ", expected->ToString(),
                                      ", found a federated value"));
    }
    if (!f.has_type()) return path_.Error("federated value has no type");
    const fl::FederatedType& type = f.type();
    std::string uri;
    if (type.placement().has_value()) {
      uri = type.placement().value().uri();
    } else if (type.placement().has_label()) {
      uri = type.placement().label().label();
    } else {
      return path_.Error("federated type has no placement");
    }
    const std::optional<Placement> placement = PlacementFromUri(uri);
    if (!placement.has_value()) {
      return path_.Error(absl::StrCat("federated type has unknown placement '",
                                      uri,
                                      "' (expected 'server' or 'clients')"));
    }
    std::optional<Type> member_type;
    if (type.has_member()) {
      fl::Type wrapper;
      *wrapper.mutable_federated() = type;
      absl::StatusOr<Type> t = TypeFromProto(wrapper);
      if (!t.ok()) {
        return path_.Error(absl::StrCat("federated ", t.status().message()));
      }
      member_type = t->member();
      if (ContainsAbstract(*member_type)) {
        return path_.Error(absl::StrCat("federated member type ",
                                        member_type->ToString(),
                                        " is abstract; a value needs a "
                                        "concrete type"));
      }
    } else if (f.value_size() > 0) {
      return path_.Error(absl::StrCat("federated type has no member type, ",
                                      f.value_size(), " members given"));
    }
    if (type.all_equal() && f.value_size() != 1) {
      return path_.Error(
          absl::StrCat("an all-equal federated value has exactly 1 member, ",
                       f.value_size(), " given"));
    }
    if (depth + 1 > kMaxValueDepth) return path_.Error(DepthMessage());
    std::vector<Value> members;
    members.reserve(f.value_size());
    for (int i = 0; i < f.value_size(); ++i) {
      path_.PushMember(i);
      absl::StatusOr<Value> v =
          Decode(f.value(i), member_type ? &*member_type : nullptr, depth + 1);
      path_.Pop();
      if (!v.ok()) return v.status();
      members.push_back(*std::move(v));
    }
    return Value::Federated(*placement, type.all_equal(), std::move(members));
  }

  ArrayFn array_fn_;
  Path path_;
};

absl::StatusOr<Tensor> DecodeArrayContents(const fl::Array& array, DType,
                                           int64_t, const Path& path) {
  absl::StatusOr<Tensor> t = TensorFromArray(array);
  if (!t.ok()) return path.Wrap(t.status());
  return t;
}

// ---------------------------------------------------------------- encoder

// The value with every lazy part produced (shares every tensor).
absl::StatusOr<Value> Concretize(const Value& value, int depth) {
  if (depth > kMaxValueDepth) {
    return absl::InvalidArgumentError(DepthMessage());
  }
  switch (value.kind()) {
    case Value::Kind::kTensor:
    case Value::Kind::kFunction:
      return value;
    case Value::Kind::kStruct: {
      std::vector<std::pair<std::string, Value>> elements;
      for (const StructValue::Element& e : value.struct_value().elements) {
        FEDEXEC_ASSIGN_OR_RETURN(Value v, Concretize(*e.value, depth + 1));
        elements.emplace_back(e.name, std::move(v));
      }
      return Value::Struct(std::move(elements));
    }
    case Value::Kind::kSequence: {
      std::vector<Value> elements;
      FEDEXEC_RETURN_IF_ERROR(
          value.sequence().ForEach([&](const Value& e) -> absl::Status {
            FEDEXEC_ASSIGN_OR_RETURN(Value v, Concretize(e, depth + 1));
            elements.push_back(std::move(v));
            return absl::OkStatus();
          }));
      return Value::Sequence(std::move(elements));
    }
    case Value::Kind::kFederated: {
      const FederatedValue& f = value.federated();
      std::vector<Value> members;
      const int64_t n = f.size();
      members.reserve(n);
      for (int64_t i = 0; i < n; ++i) {
        FEDEXEC_ASSIGN_OR_RETURN(Value m, f.Member(i));
        FEDEXEC_ASSIGN_OR_RETURN(Value v, Concretize(m, depth + 1));
        members.push_back(std::move(v));
      }
      return Value::Federated(f.placement, f.all_equal, std::move(members));
    }
  }
  return absl::InternalError("unknown value kind");
}

// Encodes concrete values. Whole mode (tensors == null): arrays carry
// their elements as options.arrays says, `content` or the dtype's typed
// list (strings always as string_list). Skeleton mode: arrays
// of fixed-size dtypes keep only dtype and shape, and their tensors are
// appended to *tensors in depth-first order.
class Encoder {
 public:
  Encoder(const ValueToProtoOptions& options, std::vector<Tensor>* tensors)
      : options_(options), tensors_(tensors) {}

  absl::Status Encode(const Value& value, v0::Value* out, int depth) {
    if (depth > kMaxValueDepth) return path_.Error(DepthMessage());
    switch (value.kind()) {
      case Value::Kind::kTensor:
        return EncodeTensor(value.tensor(), out->mutable_array());
      case Value::Kind::kStruct: {
        auto* s = out->mutable_struct_();
        const auto& elements = value.struct_value().elements;
        for (size_t i = 0; i < elements.size(); ++i) {
          auto* e = s->add_element();
          e->set_name(elements[i].name);
          path_.PushStructElement(i, elements[i].name);
          absl::Status st =
              Encode(*elements[i].value, e->mutable_value(), depth + 1);
          path_.Pop();
          FEDEXEC_RETURN_IF_ERROR(st);
        }
        return absl::OkStatus();
      }
      case Value::Kind::kSequence:
        return EncodeSequence(value, out->mutable_sequence(), depth);
      case Value::Kind::kFederated:
        return EncodeFederated(value, out->mutable_federated(), depth);
      case Value::Kind::kFunction:
        return EncodeFunction(value, out);
    }
    return path_.Error("unknown value kind");
  }

 private:
  absl::Status EncodeTensor(const Tensor& t, fl::Array* array) {
    if (!t.valid()) {
      return path_.Error("a default (invalid) tensor has no wire form");
    }
    if (t.dtype() == DType::kString) {
      if (t.num_elements() > std::numeric_limits<int>::max()) {
        return path_.Wrap(absl::ResourceExhaustedError(
            absl::StrCat("a string tensor of ", t.num_elements(),
                         " elements does not fit in one message")));
      }
      TensorToArray(t, array);
      return absl::OkStatus();
    }
    if (tensors_ != nullptr) {
      array->set_dtype(static_cast<fl::DataType>(t.dtype()));
      array->mutable_shape()->mutable_dim()->Add(t.shape().begin(),
                                                 t.shape().end());
      tensors_->push_back(t);
      return absl::OkStatus();
    }
    if (t.byte_size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
      return path_.Wrap(absl::ResourceExhaustedError(absl::StrCat(
          t.TypeString(), " is ", t.byte_size(),
          " bytes, more than one message holds (2 GiB); send it in "
          "chunks")));
    }
    if (options_.arrays == ArrayEncoding::kContent) {
      TensorToArrayContent(t, array);
      return absl::OkStatus();
    }
    // A repeated field holds fewer than 2^31 values (complex: two each).
    const int64_t list_values =
        t.num_elements() * (IsComplex(t.dtype()) ? 2 : 1);
    if (list_values > std::numeric_limits<int>::max()) {
      return path_.Wrap(absl::ResourceExhaustedError(absl::StrCat(
          t.TypeString(), " needs ", list_values,
          " list values, more than a typed list holds (2^31 - 1)")));
    }
    TensorToArray(t, array);
    return absl::OkStatus();
  }

  // One sequence element's tensors as flat values, depth-first.
  absl::Status Flatten(const Value& v, v0::Value::Sequence::Element* out) {
    if (v.is_tensor()) return EncodeTensor(v.tensor(), out->add_flat_value());
    if (v.is_struct()) {
      for (const StructValue::Element& e : v.struct_value().elements) {
        FEDEXEC_RETURN_IF_ERROR(Flatten(*e.value, out));
      }
      return absl::OkStatus();
    }
    return path_.Error(
        "a sequence element must be a tensor or a struct of "
        "tensors");
  }

  absl::Status EncodeSequence(const Value& value, v0::Value::Sequence* out,
                              int depth) {
    const auto& elements = value.sequence().elements;
    if (elements.empty()) return absl::OkStatus();
    absl::StatusOr<Type> type = ValueTypeOf(value);
    if (!type.ok()) return path_.Wrap(type.status());
    const Type& element_type = type->element();
    if (!IsTensorTree(element_type)) {
      return path_.Error(
          absl::StrCat("sequence elements of type ", element_type.ToString(),
                       " have no wire form (a tensor or a struct of tensors)"));
    }
    if (depth + element_type.depth() > kMaxValueDepth) {
      return path_.Error(DepthMessage());
    }
    TypeToProto(element_type, out->mutable_element_type());
    for (size_t i = 0; i < elements.size(); ++i) {
      path_.PushElement(static_cast<int64_t>(i));
      absl::Status st = Flatten(elements[i], out->add_element());
      path_.Pop();
      FEDEXEC_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }

  absl::Status EncodeFederated(const Value& value, v0::Value::Federated* out,
                               int depth) {
    const FederatedValue& f = value.federated();
    fl::FederatedType* type = out->mutable_type();
    type->mutable_placement()->mutable_value()->set_uri(
        std::string(PlacementUri(f.placement)));
    type->set_all_equal(f.all_equal);
    if (f.all_equal && f.members.size() != 1) {
      return path_.Error(absl::StrCat("an all-equal federated value has ",
                                      f.members.size(), " members, not 1"));
    }
    if (!f.members.empty()) {
      absl::StatusOr<Type> t = ValueTypeOf(value);
      if (!t.ok()) return path_.Wrap(t.status());
      TypeToProto(t->member(), type->mutable_member());
    }
    for (size_t i = 0; i < f.members.size(); ++i) {
      path_.PushMember(static_cast<int64_t>(i));
      absl::Status st = Encode(f.members[i], out->add_value(), depth + 1);
      path_.Pop();
      FEDEXEC_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }

  absl::Status EncodeFunction(const Value& value, v0::Value* out) {
    if (!options_.encode_function) {
      return path_.Error(absl::StrCat("a function value (",
                                      value.function()->Describe(),
                                      ") cannot be encoded here"));
    }
    absl::StatusOr<NodePtr> node = options_.encode_function(*value.function());
    if (!node.ok()) return path_.Wrap(node.status());
    absl::StatusOr<fl::Computation> proto = ComputationToProto(*node);
    if (!proto.ok()) return path_.Wrap(proto.status());
    *out->mutable_computation() = *std::move(proto);
    return absl::OkStatus();
  }

  const ValueToProtoOptions& options_;
  std::vector<Tensor>* tensors_;
  Path path_;
};

absl::Status EncodeValue(const Value& value, v0::Value* out,
                         const ValueToProtoOptions& options,
                         std::vector<Tensor>* tensors) {
  out->Clear();
  if (value.IsConcrete()) {
    return Encoder(options, tensors).Encode(value, out, 1);
  }
  FEDEXEC_ASSIGN_OR_RETURN(Value concrete, Concretize(value, 1));
  return Encoder(options, tensors).Encode(concrete, out, 1);
}

void AddArrayBytes(const Value& value, int depth, int64_t& total) {
  if (depth > kMaxValueDepth) return;
  switch (value.kind()) {
    case Value::Kind::kTensor: {
      const Tensor& t = value.tensor();
      if (t.dtype() == DType::kString) {
        for (const std::string& s : t.strings()) {
          total += static_cast<int64_t>(s.size());
        }
      } else {
        total += static_cast<int64_t>(t.byte_size());
      }
      return;
    }
    case Value::Kind::kStruct:
      for (const StructValue::Element& e : value.struct_value().elements) {
        AddArrayBytes(*e.value, depth + 1, total);
      }
      return;
    case Value::Kind::kSequence:
      value.sequence()
          .ForEach([&](const Value& e) {
            AddArrayBytes(e, depth + 1, total);
            return absl::OkStatus();
          })
          .IgnoreError();
      return;
    case Value::Kind::kFederated: {
      const FederatedValue& f = value.federated();
      for (int64_t i = 0; i < f.size(); ++i) {
        absl::StatusOr<Value> m = f.Member(i);
        if (m.ok()) AddArrayBytes(*m, depth + 1, total);
      }
      return;
    }
    case Value::Kind::kFunction:
      return;
  }
}

}  // namespace

// ------------------------------------------------------------ whole values

absl::Status ValueToProto(const Value& value, v0::Value* out,
                          const ValueToProtoOptions& options) {
  return EncodeValue(value, out, options, nullptr);
}

absl::StatusOr<Value> ValueFromProto(const v0::Value& proto) {
  return Decoder(DecodeArrayContents).Decode(proto, nullptr, 1);
}

bool ContainsComputation(const v0::Value& proto) {
  // Iterative: a message built in memory may be nested arbitrarily deep.
  std::vector<const v0::Value*> stack = {&proto};
  while (!stack.empty()) {
    const v0::Value* v = stack.back();
    stack.pop_back();
    switch (v->value_case()) {
      case v0::Value::kComputation:
        return true;
      case v0::Value::kStruct:
        for (const auto& e : v->struct_().element()) {
          if (e.has_value()) stack.push_back(&e.value());
        }
        break;
      case v0::Value::kFederated:
        for (const auto& m : v->federated().value()) stack.push_back(&m);
        break;
      default:
        break;
    }
  }
  return false;
}

int64_t ArrayBytes(const Value& value) {
  int64_t total = 0;
  AddArrayBytes(value, 1, total);
  return total;
}

// ---------------------------------------------------------------- chunker

struct ValueChunker::State {
  v0::Value skeleton;
  std::vector<Tensor> tensors;
  int64_t chunk_bytes = 0;
  int64_t total_bytes = 0;
  bool header_sent = false;
  size_t next_tensor = 0;  // the tensor the next data chunk starts in
  size_t offset = 0;       // bytes of it already sent
};

ValueChunker::ValueChunker(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
ValueChunker::ValueChunker(ValueChunker&&) noexcept = default;
ValueChunker& ValueChunker::operator=(ValueChunker&&) noexcept = default;
ValueChunker::~ValueChunker() = default;

absl::StatusOr<ValueChunker> ValueChunker::Create(
    const Value& value, int64_t chunk_bytes,
    const ValueToProtoOptions& options) {
  if (chunk_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes is ", chunk_bytes, ", must be >= 1"));
  }
  auto state = std::make_unique<State>();
  state->chunk_bytes = chunk_bytes;
  std::vector<Tensor> tensors;
  FEDEXEC_RETURN_IF_ERROR(
      EncodeValue(value, &state->skeleton, options, &tensors));
  for (Tensor& t : tensors) {
    if (t.byte_size() == 0) continue;
    state->total_bytes += static_cast<int64_t>(t.byte_size());
    state->tensors.push_back(std::move(t));
  }
  return ValueChunker(std::move(state));
}

int64_t ValueChunker::total_bytes() const { return state_->total_bytes; }

bool ValueChunker::Next(fedexec::v1::ValueChunk* chunk) {
  State& s = *state_;
  if (!s.header_sent) {
    chunk->Clear();
    fedexec::v1::ValueHeader* header = chunk->mutable_header();
    *header->mutable_skeleton() = std::move(s.skeleton);
    s.skeleton.Clear();
    header->set_total_bytes(s.total_bytes);
    s.header_sent = true;
    return true;
  }
  if (s.next_tensor >= s.tensors.size()) return false;
  // The size of this chunk: chunk_bytes, or what is left.
  int64_t left = 0;
  {
    int64_t want = s.chunk_bytes;
    for (size_t i = s.next_tensor; i < s.tensors.size() && left < want; ++i) {
      left += static_cast<int64_t>(s.tensors[i].byte_size()) -
              (i == s.next_tensor ? static_cast<int64_t>(s.offset) : 0);
    }
    left = std::min(left, want);
  }
  chunk->Clear();
  std::string* data = chunk->mutable_data();
  data->resize(static_cast<size_t>(left));
  char* dst = data->data();
  size_t remaining = static_cast<size_t>(left);
  while (remaining > 0) {
    const Tensor& t = s.tensors[s.next_tensor];
    const size_t available = t.byte_size() - s.offset;
    const size_t n = std::min(available, remaining);
    std::memcpy(dst, static_cast<const char*>(t.raw_data()) + s.offset, n);
    dst += n;
    remaining -= n;
    s.offset += n;
    if (s.offset == t.byte_size()) {
      // Let go of each tensor once it is sent.
      s.tensors[s.next_tensor] = Tensor();
      ++s.next_tensor;
      s.offset = 0;
    }
  }
  return true;
}

absl::Status ValueToChunks(
    const Value& value, int64_t chunk_bytes,
    const std::function<absl::Status(fedexec::v1::ValueChunk&&)>& sink,
    const ValueToProtoOptions& options) {
  FEDEXEC_ASSIGN_OR_RETURN(ValueChunker chunker,
                           ValueChunker::Create(value, chunk_bytes, options));
  fedexec::v1::ValueChunk chunk;
  while (chunker.Next(&chunk)) {
    FEDEXEC_RETURN_IF_ERROR(sink(std::move(chunk)));
    chunk.Clear();
  }
  return absl::OkStatus();
}

// -------------------------------------------------------------- assembler

struct ChunkAssembler::State {
  // Where one array's bytes go. Strings arrive whole in the header.
  struct Slot {
    DType dtype = DType::kInvalid;
    std::vector<int64_t> shape;
    size_t bytes = 0;
    std::shared_ptr<void> buffer;  // allocated when its first byte arrives
    Tensor strings;                // for DType::kString
  };

  int64_t max_bytes = 0;
  absl::Status error;  // sticky
  bool has_header = false;
  bool finished = false;
  v0::Value skeleton;
  std::vector<Slot> slots;
  int64_t total_bytes = 0;
  int64_t received = 0;
  size_t current = 0;  // the slot the next byte goes to
  size_t offset = 0;   // bytes of it filled

  absl::Status Fail(absl::Status status) {
    error = status;
    skeleton.Clear();
    slots.clear();
    return status;
  }

  absl::Status AddHeader(const fedexec::v1::ValueHeader& header);
  absl::Status AddData(const std::string& data);
};

absl::Status ChunkAssembler::State::AddHeader(
    const fedexec::v1::ValueHeader& header) {
  if (header.total_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("value header: total_bytes is ", header.total_bytes(),
                     ", must be >= 0"));
  }
  if (header.total_bytes() > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("value header announces ", header.total_bytes(),
                     " bytes, more than the limit of ", max_bytes));
  }
  if (!header.has_skeleton()) {
    return absl::InvalidArgumentError("value header has no skeleton");
  }
  int64_t sum = 0;
  auto record = [&](const fl::Array& array, DType dtype, int64_t count,
                    const Path& path) -> absl::StatusOr<Tensor> {
    Slot slot;
    slot.dtype = dtype;
    if (dtype == DType::kString) {
      absl::StatusOr<Tensor> t = TensorFromArray(array);
      if (!t.ok()) return path.Wrap(t.status());
      slot.strings = *std::move(t);
      slots.push_back(std::move(slot));
      return Tensor();
    }
    if (array.has_content() || array.kind_case() != fl::Array::KIND_NOT_SET) {
      return path.Error(
          absl::StrCat("header array carries its elements (",
                       array.has_content() ? "content" : "a typed list",
                       "); they belong in the data chunks"));
    }
    slot.shape.assign(array.shape().dim().begin(), array.shape().dim().end());
    // count <= kMaxTensorElements (2^40) and sizes <= 16: no overflow.
    slot.bytes = static_cast<size_t>(count) * DTypeSize(dtype);
    const auto bytes = static_cast<int64_t>(slot.bytes);
    if (bytes > std::numeric_limits<int64_t>::max() - sum) {
      return path.Error("the arrays' bytes overflow a 64-bit count");
    }
    sum += bytes;
    slots.push_back(std::move(slot));
    return Tensor();
  };
  FEDEXEC_RETURN_IF_ERROR(
      Decoder(record).Decode(header.skeleton(), nullptr, 1).status());
  if (sum != header.total_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("value header announces ", header.total_bytes(),
                     " bytes, but its arrays hold ", sum));
  }
  skeleton = header.skeleton();
  total_bytes = sum;
  has_header = true;
  return absl::OkStatus();
}

absl::Status ChunkAssembler::State::AddData(const std::string& data) {
  if (!has_header) {
    return absl::InvalidArgumentError(
        "a data chunk arrived before the value header");
  }
  if (data.empty()) return absl::InvalidArgumentError("a data chunk is empty");
  if (static_cast<int64_t>(data.size()) > total_bytes - received) {
    return absl::InvalidArgumentError(
        absl::StrCat("data chunks hold more than the ", total_bytes,
                     " bytes the header announced (", received,
                     " received, then ", data.size(), " more)"));
  }
  const char* src = data.data();
  size_t remaining = data.size();
  while (remaining > 0) {
    // Skip arrays without raw bytes (strings, zero elements).
    while (slots[current].dtype == DType::kString ||
           slots[current].bytes == 0) {
      ++current;
    }
    Slot& slot = slots[current];
    if (slot.buffer == nullptr) {
      slot.buffer = AllocateUninitializedBuffer(slot.bytes);
      if (slot.buffer == nullptr) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "cannot allocate ", slot.bytes, " bytes for an array"));
      }
    }
    const size_t n = std::min(remaining, slot.bytes - offset);
    std::memcpy(static_cast<char*>(slot.buffer.get()) + offset, src, n);
    src += n;
    remaining -= n;
    offset += n;
    if (offset == slot.bytes) {
      ++current;
      offset = 0;
    }
  }
  received += static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

ChunkAssembler::ChunkAssembler(int64_t max_bytes)
    : state_(std::make_unique<State>()) {
  state_->max_bytes = max_bytes;
}

ChunkAssembler::~ChunkAssembler() = default;

bool ChunkAssembler::has_header() const { return state_->has_header; }
int64_t ChunkAssembler::total_bytes() const { return state_->total_bytes; }
int64_t ChunkAssembler::received_bytes() const { return state_->received; }

absl::Status ChunkAssembler::Add(const fedexec::v1::ValueChunk& chunk) {
  State& s = *state_;
  if (!s.error.ok()) return s.error;
  if (s.finished) {
    return absl::FailedPreconditionError(
        "a chunk arrived after the value was finished");
  }
  switch (chunk.part_case()) {
    case fedexec::v1::ValueChunk::kHeader:
      if (s.has_header) {
        return s.Fail(
            absl::InvalidArgumentError("a second value header arrived"));
      }
      if (absl::Status st = s.AddHeader(chunk.header()); !st.ok()) {
        return s.Fail(st);
      }
      return absl::OkStatus();
    case fedexec::v1::ValueChunk::kData:
      if (absl::Status st = s.AddData(chunk.data()); !st.ok()) {
        return s.Fail(st);
      }
      return absl::OkStatus();
    case fedexec::v1::ValueChunk::PART_NOT_SET:
      break;
  }
  return s.Fail(
      absl::InvalidArgumentError("a chunk has neither a header nor data"));
}

absl::StatusOr<Value> ChunkAssembler::Finish() {
  State& s = *state_;
  if (!s.error.ok()) return s.error;
  if (s.finished) {
    return absl::FailedPreconditionError("the value was already finished");
  }
  if (!s.has_header) {
    return s.Fail(
        absl::InvalidArgumentError("the chunks ended before the value header"));
  }
  if (s.received != s.total_bytes) {
    return s.Fail(absl::InvalidArgumentError(
        absl::StrCat("the chunks ended after ", s.received, " of the ",
                     s.total_bytes, " bytes the header announced")));
  }
  size_t next = 0;
  auto take = [&](const fl::Array&, DType dtype, int64_t,
                  const Path& path) -> absl::StatusOr<Tensor> {
    State::Slot& slot = s.slots[next++];
    if (dtype == DType::kString) return std::move(slot.strings);
    if (slot.buffer == nullptr) {
      slot.buffer = AllocateUninitializedBuffer(slot.bytes);
      if (slot.buffer == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot allocate ", slot.bytes, " bytes"));
      }
    }
    if (dtype == DType::kBool) {
      const auto* p = static_cast<const unsigned char*>(slot.buffer.get());
      for (size_t i = 0; i < slot.bytes; ++i) {
        if (p[i] > 1) {
          return path.Error(absl::StrCat("Array: data byte ", i, " is ",
                                         static_cast<int>(p[i]),
                                         ", not a bool (0 or 1)"));
        }
      }
    }
    const void* data = slot.buffer.get();
    absl::StatusOr<Tensor> t = Tensor::FromBuffer(
        dtype, std::move(slot.shape), std::move(slot.buffer), data, slot.bytes);
    if (!t.ok()) return path.Wrap(t.status());
    return t;
  };
  absl::StatusOr<Value> value = Decoder(take).Decode(s.skeleton, nullptr, 1);
  if (!value.ok()) return s.Fail(value.status());
  s.finished = true;
  s.skeleton.Clear();
  s.slots.clear();
  return value;
}

}  // namespace fedexec::ir
