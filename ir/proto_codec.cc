// Conversion between the computation AST and federated_language.Computation,
// and safe decoding of serialized computations.
//
// Binary input goes through two passes. The first walks the wire format
// iteratively against the message descriptors, so that a rejection can say
// why (truncated, wrong wire type for a known field, invalid UTF-8, nesting
// too deep) and where; protobuf itself only reports "failed". The second is
// protobuf's own parse with the recursion limit set, which stays the
// authority on what is accepted. Both run with protobuf's logging silenced.
// Protobuf's parsers recurse once per nested message; deep binary input and
// all text input are parsed on a thread with a large stack of its own, so
// the caller's stack is never at risk.
#include "ir/proto_codec.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/large_stack.h"
#include "core/limits.h"
#include "core/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "ir/node_path.h"

namespace fedexec::ir {
namespace {

namespace pb = ::google::protobuf;
namespace fl = ::federated_language;

constexpr absl::string_view kMalformed = "malformed Computation proto: ";
constexpr absl::string_view kMalformedText =
    "malformed Computation text proto: ";

// ------------------------------------------------------------ UTF-8 check

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF):
// the rule protobuf applies to proto3 string fields.
bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      min = 0x80;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      min = 0x800;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      min = 0x10000;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

// ------------------------------------------------------- wire-format check

enum WireType {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

const char* WireTypeName(int wire_type) {
  switch (wire_type) {
    case kVarint:
      return "varint";
    case kFixed64:
      return "fixed64";
    case kLengthDelimited:
      return "length-delimited";
    case kStartGroup:
      return "start-group";
    case kEndGroup:
      return "end-group";
    case kFixed32:
      return "fixed32";
  }
  return "invalid";
}

int ExpectedWireType(const pb::FieldDescriptor& field) {
  switch (field.type()) {
    case pb::FieldDescriptor::TYPE_INT32:
    case pb::FieldDescriptor::TYPE_INT64:
    case pb::FieldDescriptor::TYPE_UINT32:
    case pb::FieldDescriptor::TYPE_UINT64:
    case pb::FieldDescriptor::TYPE_SINT32:
    case pb::FieldDescriptor::TYPE_SINT64:
    case pb::FieldDescriptor::TYPE_BOOL:
    case pb::FieldDescriptor::TYPE_ENUM:
      return kVarint;
    case pb::FieldDescriptor::TYPE_FIXED64:
    case pb::FieldDescriptor::TYPE_SFIXED64:
    case pb::FieldDescriptor::TYPE_DOUBLE:
      return kFixed64;
    case pb::FieldDescriptor::TYPE_FIXED32:
    case pb::FieldDescriptor::TYPE_SFIXED32:
    case pb::FieldDescriptor::TYPE_FLOAT:
      return kFixed32;
    case pb::FieldDescriptor::TYPE_GROUP:
      return kStartGroup;
    case pb::FieldDescriptor::TYPE_STRING:
    case pb::FieldDescriptor::TYPE_BYTES:
    case pb::FieldDescriptor::TYPE_MESSAGE:
      return kLengthDelimited;
  }
  return kLengthDelimited;
}

// Walks serialized bytes against a message descriptor without recursion.
// Checks everything that makes protobuf reject input, and also that a known
// field arrives with its own wire type (protobuf would silently keep such a
// field as an unknown one, and the computation would then look empty).
class WireChecker {
 public:
  // `prefix` starts every error; byte positions are reported only when
  // `with_positions` (they mean nothing to the author of a text proto).
  WireChecker(absl::string_view bytes, absl::string_view prefix,
              bool with_positions)
      : data_(reinterpret_cast<const uint8_t*>(bytes.data())),
        size_(bytes.size()),
        prefix_(prefix),
        with_positions_(with_positions) {}

  absl::Status Check(const pb::Descriptor* root) {
    // A frame per open message: its descriptor (null inside an unknown
    // group), where it ends, and for a group the number that closes it.
    struct Frame {
      const pb::Descriptor* descriptor;
      size_t end;
      uint32_t group_number;
    };
    std::vector<Frame> stack = {{root, size_, 0}};
    while (true) {
      const Frame frame = stack.back();
      if (pos_ == frame.end) {
        if (frame.group_number != 0) {
          return Error(absl::StrCat("truncated: group ", frame.group_number,
                                    " is not closed"));
        }
        if (stack.size() == 1) return absl::OkStatus();
        stack.pop_back();
        continue;
      }
      const size_t tag_pos = pos_;
      uint64_t tag;
      FEDEXEC_RETURN_IF_ERROR(ReadVarint(frame.end, &tag, "tag"));
      const int wire_type = static_cast<int>(tag & 7);
      const uint64_t number = tag >> 3;
      if (number == 0 || number > 536870911) {
        return ErrorAt(tag_pos, absl::StrCat("invalid field number ", number));
      }
      if (wire_type == kEndGroup) {
        if (frame.group_number != number) {
          return ErrorAt(tag_pos, absl::StrCat("unexpected end-group tag for "
                                               "field ",
                                               number));
        }
        stack.pop_back();
        continue;
      }
      if (wire_type > kFixed32) {
        return ErrorAt(tag_pos, absl::StrCat("invalid wire type ", wire_type,
                                             " for field ", number));
      }
      const pb::FieldDescriptor* field =
          frame.descriptor == nullptr
              ? nullptr
              : frame.descriptor->FindFieldByNumber(static_cast<int>(number));
      if (field != nullptr) {
        const int expected = ExpectedWireType(*field);
        const bool packed_ok =
            field->is_packable() && wire_type == kLengthDelimited;
        if (wire_type != expected && !packed_ok) {
          return ErrorAt(
              tag_pos,
              absl::StrCat("field ", field->full_name(), " (number ", number,
                           ") has wire type ", WireTypeName(wire_type),
                           ", expected ", WireTypeName(expected)));
        }
      }
      switch (wire_type) {
        case kVarint: {
          uint64_t ignored;
          FEDEXEC_RETURN_IF_ERROR(ReadVarint(frame.end, &ignored, "varint"));
          break;
        }
        case kFixed64:
          FEDEXEC_RETURN_IF_ERROR(Skip(frame.end, 8, number));
          break;
        case kFixed32:
          FEDEXEC_RETURN_IF_ERROR(Skip(frame.end, 4, number));
          break;
        case kStartGroup:
          if (stack.size() > static_cast<size_t>(kMaxProtoRecursion)) {
            return TooDeep(tag_pos);
          }
          stack.push_back({nullptr, frame.end, static_cast<uint32_t>(number)});
          max_depth_ = std::max(max_depth_, static_cast<int>(stack.size()) - 1);
          break;
        case kLengthDelimited: {
          uint64_t length;
          FEDEXEC_RETURN_IF_ERROR(ReadVarint(frame.end, &length, "length"));
          if (length > frame.end - pos_) {
            return ErrorAt(tag_pos, absl::StrCat("truncated: field ", number,
                                                 " claims ", length, " bytes, ",
                                                 frame.end - pos_, " remain"));
          }
          const size_t field_end = pos_ + static_cast<size_t>(length);
          if (field != nullptr &&
              field->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
            if (stack.size() > static_cast<size_t>(kMaxProtoRecursion)) {
              return TooDeep(tag_pos);
            }
            stack.push_back({field->message_type(), field_end, 0});
            max_depth_ =
                std::max(max_depth_, static_cast<int>(stack.size()) - 1);
            break;  // its fields are read next
          }
          if (field != nullptr &&
              field->type() == pb::FieldDescriptor::TYPE_STRING &&
              field->file()->syntax() == pb::FileDescriptor::SYNTAX_PROTO3 &&
              !IsValidUtf8(absl::string_view(
                  reinterpret_cast<const char*>(data_ + pos_), length))) {
            return ErrorAt(tag_pos,
                           absl::StrCat("invalid UTF-8 in string field ",
                                        field->full_name()));
          }
          if (field != nullptr && field->is_packable()) {
            FEDEXEC_RETURN_IF_ERROR(CheckPacked(*field, field_end, tag_pos));
          }
          pos_ = field_end;
          break;
        }
      }
    }
  }

  // The deepest message nesting seen (0: only the root message).
  int max_depth() const { return max_depth_; }

 private:
  absl::Status Error(absl::string_view message) const {
    return ErrorAt(pos_, message);
  }
  absl::Status ErrorAt(size_t pos, absl::string_view message) const {
    if (!with_positions_) {
      return absl::InvalidArgumentError(absl::StrCat(prefix_, message));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, message, " (at byte ", pos, ")"));
  }
  absl::Status TooDeep(size_t pos) {
    return ErrorAt(pos, absl::StrCat("nesting too deep: more than ",
                                     kMaxProtoRecursion, " nested messages"));
  }

  absl::Status ReadVarint(size_t end, uint64_t* value, absl::string_view what) {
    const size_t start = pos_;
    uint64_t result = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= end) {
        return ErrorAt(start, absl::StrCat("truncated ", what));
      }
      const uint8_t byte = data_[pos_++];
      result |= static_cast<uint64_t>(byte & 0x7F) << (7 * i);
      if ((byte & 0x80) == 0) {
        *value = result;
        return absl::OkStatus();
      }
    }
    return ErrorAt(start, absl::StrCat("malformed ", what,
                                       " (varint longer than 10 bytes)"));
  }

  absl::Status Skip(size_t end, size_t bytes, uint64_t number) {
    if (end - pos_ < bytes) {
      return Error(absl::StrCat("truncated: field ", number, " needs ", bytes,
                                " bytes, ", end - pos_, " remain"));
    }
    pos_ += bytes;
    return absl::OkStatus();
  }

  // The payload of a packed repeated scalar field: whole varints, or a
  // multiple of the fixed width.
  absl::Status CheckPacked(const pb::FieldDescriptor& field, size_t end,
                           size_t tag_pos) {
    const int element = ExpectedWireType(field);
    const size_t width =
        element == kFixed32 ? 4 : (element == kFixed64 ? 8 : 0);
    if (width != 0) {
      if ((end - pos_) % width != 0) {
        return ErrorAt(
            tag_pos,
            absl::StrCat("packed field ", field.full_name(), " has ",
                         end - pos_, " bytes, not a multiple of ", width));
      }
      return absl::OkStatus();
    }
    const size_t saved = pos_;
    while (pos_ < end) {
      uint64_t ignored;
      FEDEXEC_RETURN_IF_ERROR(ReadVarint(end, &ignored, "packed varint"));
    }
    pos_ = saved;
    return absl::OkStatus();
  }

  const uint8_t* data_;
  size_t size_;
  absl::string_view prefix_;
  bool with_positions_;
  size_t pos_ = 0;
  int max_depth_ = 0;
};

// Messages nested deeper than this are parsed on a large stack of their own
// (protobuf's parser recurses once per nested message).
constexpr int kShallowMessageDepth = 256;

// Protobuf's text parser needs 8 to 12 MB at kMaxProtoRecursion nested
// messages (measured, with and without sanitizers): more than a default
// stack, well within RunOnLargeStack's.

// Records the first error of the text parser as "LINE:COL: message", both
// 1-based (protobuf counts from 0).
class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column,
                const std::string& message) override {
    if (!first_.empty()) return;
    if (line < 0) {
      first_ = message;
    } else {
      first_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
    }
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}

  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// --------------------------------------------------------------- decoding

// Proto -> AST, recursing once per computation level (never past
// kMaxNestingDepth). Keeps the steps from the root so that the path is
// built only when an error is reported.
class Decoder {
 public:
  absl::StatusOr<NodePtr> Decode(const fl::Computation& proto, int depth) {
    if (depth > kMaxNestingDepth) return TooDeep();
    switch (proto.computation_case()) {
      case fl::Computation::kTensorflow:
        return UnsupportedLeaf("tensorflow");
      case fl::Computation::kXla:
        return UnsupportedLeaf("xla");
      case fl::Computation::COMPUTATION_NOT_SET:
        return Error("computation has no kind");
      default:
        break;
    }
    std::optional<Type> type;
    if (proto.has_type()) {
      FEDEXEC_RETURN_IF_ERROR(DecodeType(proto.type(), &type));
    }
    return DecodeKind(proto, type, depth);
  }

 private:
  ABSL_ATTRIBUTE_NOINLINE absl::Status DecodeType(const fl::Type& proto,
                                                  std::optional<Type>* type) {
    absl::StatusOr<Type> decoded = TypeFromProto(proto);
    if (!decoded.ok()) {
      return Error(absl::StrCat("type: ", decoded.status().message()));
    }
    *type = *std::move(decoded);
    return absl::OkStatus();
  }

  // Every case is its own function, kept out of line, and builds its node
  // itself: the frames on the recursive path then hold no payload and no
  // locals of other cases.
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeKind(
      const fl::Computation& proto, const std::optional<Type>& type,
      int depth) {
    switch (proto.computation_case()) {
      case fl::Computation::kLiteral:
        return DecodeLiteral(proto.literal(), type);
      case fl::Computation::kData:
        return DecodeData(proto.data(), type);
      case fl::Computation::kReference:
        return DecodeReference(proto.reference(), type);
      case fl::Computation::kLambda:
        return DecodeLambda(proto.lambda(), type, depth);
      case fl::Computation::kBlock:
        return DecodeBlock(proto.block(), type, depth);
      case fl::Computation::kCall:
        return DecodeCall(proto.call(), type, depth);
      case fl::Computation::kStruct:
        return DecodeStruct(proto.struct_(), type, depth);
      case fl::Computation::kSelection:
        return DecodeSelection(proto.selection(), type, depth);
      case fl::Computation::kIntrinsic:
        return DecodeIntrinsic(proto.intrinsic(), type);
      case fl::Computation::kPlacement:
        return DecodePlacement(proto.placement(), type);
      case fl::Computation::kNative:
        return DecodeNative(proto.native(), type);
      case fl::Computation::kTorchscript:
        return DecodeTorchScript(proto.torchscript(), type);
      default:
        // Unset, tensorflow and xla were rejected by the caller.
        return Error("computation has no kind");
    }
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeLiteral(
      const fl::Literal& literal, const std::optional<Type>& type) {
    absl::StatusOr<Tensor> value = TensorFromArray(literal.value());
    if (!value.ok()) {
      return Error(absl::StrCat("literal: ", value.status().message()));
    }
    return MakeNode(LiteralNode{*std::move(value)}, type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeReference(
      const fl::Reference& reference, const std::optional<Type>& type) {
    if (reference.name().empty()) return Error("reference has an empty name");
    return MakeNode(ReferenceNode{reference.name()}, type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeCall(
      const fl::Call& proto, const std::optional<Type>& type, int depth) {
    CallNode call;
    FEDEXEC_ASSIGN_OR_RETURN(call.function,
                             Child(proto.function(), kCallFunctionStep, depth));
    if (proto.has_argument()) {
      FEDEXEC_ASSIGN_OR_RETURN(
          call.argument, Child(proto.argument(), kCallArgumentStep, depth));
    }
    return MakeNode(std::move(call), type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeSelection(
      const fl::Selection& proto, const std::optional<Type>& type, int depth) {
    if (proto.index() < 0) {
      return Error(
          absl::StrCat("selection has negative index ", proto.index()));
    }
    SelectionNode selection;
    selection.index = proto.index();
    FEDEXEC_ASSIGN_OR_RETURN(
        selection.source, Child(proto.source(), kSelectionSourceStep, depth));
    return MakeNode(std::move(selection), type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeIntrinsic(
      const fl::Intrinsic& intrinsic, const std::optional<Type>& type) {
    if (intrinsic.uri().empty()) return Error("intrinsic has an empty uri");
    return MakeNode(IntrinsicNode{intrinsic.uri()}, type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodePlacement(
      const fl::Placement& proto, const std::optional<Type>& type) {
    std::optional<Placement> placement = PlacementFromUri(proto.uri());
    if (!placement.has_value()) {
      return Error(absl::StrCat("unknown placement uri '", proto.uri(),
                                "' (expected 'server' or 'clients')"));
    }
    return MakeNode(PlacementNode{*placement}, type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeNative(
      const fl::NativeFunction& native, const std::optional<Type>& type) {
    if (native.name().empty()) {
      return Error("native function has an empty name");
    }
    if (!type.has_value() || type->kind() != TypeKind::kFunction) {
      return Error(absl::StrCat("native function '", native.name(),
                                "' needs a function type, found ",
                                type.has_value() ? type->ToString() : "none"));
    }
    return MakeNode(NativeNode{native.name()}, type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeTorchScript(
      const fl::TorchScript& torchscript, const std::optional<Type>& type) {
    return MakeNode(TorchScriptNode{torchscript.module(), torchscript.method()},
                    type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeData(
      const fl::Data& data, const std::optional<Type>& type) {
    DataNode node;
    node.uri = data.uri();
    if (data.has_content()) {
      if (data.content().type_url().empty()) {
        return Error("data content has an empty type_url");
      }
      node.content_type_url = data.content().type_url();
      node.content_value = data.content().value();
    }
    if (node.uri.empty() && node.content_type_url.empty()) {
      return Error("data has neither a uri nor content");
    }
    return MakeNode(std::move(node), type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeLambda(
      const fl::Lambda& lambda, const std::optional<Type>& type, int depth) {
    LambdaNode node;
    node.parameter_name = lambda.parameter_name();
    FEDEXEC_RETURN_IF_ERROR(
        LambdaParameterType(node.parameter_name, type, &node.parameter_type));
    FEDEXEC_ASSIGN_OR_RETURN(node.result,
                             Child(lambda.result(), kLambdaResultStep, depth));
    return MakeNode(std::move(node), type);
  }

  // A lambda's type, when given, is a function; it takes a parameter exactly
  // when the lambda names one, and then gives the parameter's type.
  ABSL_ATTRIBUTE_NOINLINE absl::Status LambdaParameterType(
      const std::string& name, const std::optional<Type>& type,
      std::optional<Type>* parameter_type) {
    if (type.has_value() && type->kind() != TypeKind::kFunction) {
      return Error(absl::StrCat("lambda has type ", type->ToString(),
                                ", expected a function type"));
    }
    const Type* parameter = type.has_value() ? type->parameter() : nullptr;
    if (!name.empty()) {
      if (parameter == nullptr) {
        return Error(
            absl::StrCat("lambda with parameter '", name,
                         "' needs a function type with a parameter, found ",
                         type.has_value() ? type->ToString() : "no type"));
      }
      *parameter_type = *parameter;
    } else if (parameter != nullptr) {
      return Error(absl::StrCat("lambda has no parameter name but its type ",
                                type->ToString(), " takes a parameter"));
    }
    return absl::OkStatus();
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeBlock(
      const fl::Block& block, const std::optional<Type>& type, int depth) {
    BlockNode node;
    node.locals.reserve(block.local_size());
    for (int i = 0; i < block.local_size(); ++i) {
      const fl::Block::Local& local = block.local(i);
      if (local.name().empty()) return EmptyLocalName(i);
      NamedNode named;
      named.name = local.name();
      FEDEXEC_ASSIGN_OR_RETURN(named.value,
                               Child(local.value(), BlockLocalStep(i), depth));
      node.locals.push_back(std::move(named));
    }
    FEDEXEC_ASSIGN_OR_RETURN(node.result,
                             Child(block.result(), kBlockResultStep, depth));
    return MakeNode(std::move(node), type);
  }

  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<NodePtr> DecodeStruct(
      const fl::Struct& proto, const std::optional<Type>& type, int depth) {
    FEDEXEC_RETURN_IF_ERROR(CheckStructNames(proto));
    StructNode node;
    node.elements.reserve(proto.element_size());
    for (int i = 0; i < proto.element_size(); ++i) {
      const fl::Struct::Element& element = proto.element(i);
      NamedNode named;
      named.name = element.name();
      FEDEXEC_ASSIGN_OR_RETURN(
          named.value, Child(element.value(), StructElementStep(i), depth));
      node.elements.push_back(std::move(named));
    }
    return MakeNode(std::move(node), type);
  }

  // Names are optional, and unique when given.
  ABSL_ATTRIBUTE_NOINLINE absl::Status CheckStructNames(
      const fl::Struct& proto) const {
    absl::flat_hash_map<absl::string_view, int> seen;
    for (int i = 0; i < proto.element_size(); ++i) {
      const std::string& name = proto.element(i).name();
      if (name.empty()) continue;
      auto [it, inserted] = seen.emplace(name, i);
      if (!inserted) {
        return Error(absl::StrCat("struct has duplicate element name '", name,
                                  "' (elements ", it->second, " and ", i, ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> Child(const fl::Computation& proto,
                                absl::string_view step, int depth) {
    steps_.emplace_back(step);
    absl::StatusOr<NodePtr> result = Decode(proto, depth + 1);
    steps_.pop_back();
    return result;
  }

  // The error helpers stay out of line so that their temporaries do not
  // enlarge the frames on the recursive path.
  ABSL_ATTRIBUTE_NOINLINE absl::Status UnsupportedLeaf(
      absl::string_view kind) const {
    return Error(absl::StrCat("unsupported leaf kind '", kind,
                              "' (fedexec runs native and torchscript "
                              "leaves)"));
  }
  ABSL_ATTRIBUTE_NOINLINE absl::Status EmptyLocalName(int index) const {
    return Error(absl::StrCat("block local ", index, " has an empty name"));
  }
  ABSL_ATTRIBUTE_NOINLINE absl::Status TooDeep() const {
    return Error(
        absl::StrCat("nesting deeper than ", kMaxNestingDepth, " levels"));
  }
  ABSL_ATTRIBUTE_NOINLINE absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(AtPath(JoinPath(steps_), message));
  }

  std::vector<std::string> steps_;
};

// --------------------------------------------------------------- encoding

// AST -> proto, recursing once per level (never past kMaxNestingDepth).
class Encoder {
 public:
  absl::Status Encode(const NodePtr& node, int depth, fl::Computation* out) {
    if (depth > kMaxNestingDepth) {
      return Error(
          absl::StrCat("nesting deeper than ", kMaxNestingDepth, " levels"));
    }
    if (node == nullptr) return Error("node is missing (null)");
    if (!node->type().has_value()) {
      return Error("node has no type; run the type checker first");
    }
    TypeToProto(*node->type(), out->mutable_type());
    return std::visit(
        [&](const auto& payload) { return EncodePayload(payload, depth, out); },
        node->payload());
  }

 private:
  absl::Status EncodePayload(const LiteralNode& node, int,
                             fl::Computation* out) {
    if (!node.value.valid()) return Error("literal holds no tensor");
    TensorToArray(node.value, out->mutable_literal()->mutable_value());
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const DataNode& node, int, fl::Computation* out) {
    fl::Data* data = out->mutable_data();
    if (node.content_type_url.empty() && !node.content_value.empty()) {
      return Error("data content has a value but no type_url");
    }
    if (node.uri.empty() && node.content_type_url.empty()) {
      return Error("data has neither a uri nor content");
    }
    if (!node.uri.empty()) data->set_uri(node.uri);
    if (!node.content_type_url.empty()) {
      data->mutable_content()->set_type_url(node.content_type_url);
      data->mutable_content()->set_value(node.content_value);
    }
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const ReferenceNode& node, int,
                             fl::Computation* out) {
    if (node.name.empty()) return Error("reference has an empty name");
    out->mutable_reference()->set_name(node.name);
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const LambdaNode& node, int depth,
                             fl::Computation* out) {
    fl::Lambda* lambda = out->mutable_lambda();
    lambda->set_parameter_name(node.parameter_name);
    return Child(node.result, kLambdaResultStep, depth,
                 lambda->mutable_result());
  }
  absl::Status EncodePayload(const BlockNode& node, int depth,
                             fl::Computation* out) {
    fl::Block* block = out->mutable_block();
    for (size_t i = 0; i < node.locals.size(); ++i) {
      if (node.locals[i].name.empty()) {
        return Error(absl::StrCat("block local ", i, " has an empty name"));
      }
      fl::Block::Local* local = block->add_local();
      local->set_name(node.locals[i].name);
      FEDEXEC_RETURN_IF_ERROR(Child(node.locals[i].value, BlockLocalStep(i),
                                    depth, local->mutable_value()));
    }
    return Child(node.result, kBlockResultStep, depth, block->mutable_result());
  }
  absl::Status EncodePayload(const CallNode& node, int depth,
                             fl::Computation* out) {
    fl::Call* call = out->mutable_call();
    FEDEXEC_RETURN_IF_ERROR(Child(node.function, kCallFunctionStep, depth,
                                  call->mutable_function()));
    if (node.argument == nullptr) return absl::OkStatus();
    return Child(node.argument, kCallArgumentStep, depth,
                 call->mutable_argument());
  }
  absl::Status EncodePayload(const StructNode& node, int depth,
                             fl::Computation* out) {
    fl::Struct* proto = out->mutable_struct_();
    for (size_t i = 0; i < node.elements.size(); ++i) {
      fl::Struct::Element* element = proto->add_element();
      element->set_name(node.elements[i].name);
      FEDEXEC_RETURN_IF_ERROR(Child(node.elements[i].value,
                                    StructElementStep(i), depth,
                                    element->mutable_value()));
    }
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const SelectionNode& node, int depth,
                             fl::Computation* out) {
    if (node.index < 0) {
      return Error(absl::StrCat("selection", node.name.empty() ? "" : " of '",
                                node.name, node.name.empty() ? "" : "'",
                                " has no index; run the type checker first"));
    }
    fl::Selection* selection = out->mutable_selection();
    selection->set_index(node.index);
    return Child(node.source, kSelectionSourceStep, depth,
                 selection->mutable_source());
  }
  absl::Status EncodePayload(const IntrinsicNode& node, int,
                             fl::Computation* out) {
    if (node.uri.empty()) return Error("intrinsic has an empty uri");
    out->mutable_intrinsic()->set_uri(node.uri);
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const PlacementNode& node, int,
                             fl::Computation* out) {
    out->mutable_placement()->set_uri(
        std::string(PlacementUri(node.placement)));
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const NativeNode& node, int,
                             fl::Computation* out) {
    if (node.name.empty()) return Error("native function has an empty name");
    out->mutable_native()->set_name(node.name);
    return absl::OkStatus();
  }
  absl::Status EncodePayload(const TorchScriptNode& node, int,
                             fl::Computation* out) {
    out->mutable_torchscript()->set_module(node.module);
    out->mutable_torchscript()->set_method(node.method);
    return absl::OkStatus();
  }

  absl::Status Child(const NodePtr& node, absl::string_view step, int depth,
                     fl::Computation* out) {
    steps_.emplace_back(step);
    absl::Status status = Encode(node, depth + 1, out);
    steps_.pop_back();
    return status;
  }

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(AtPath(JoinPath(steps_), message));
  }

  std::vector<std::string> steps_;
};

}  // namespace

absl::StatusOr<fl::Computation> ParseComputationProto(absl::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMalformed, "input of ", bytes.size(),
                     " bytes is larger than the 2 GiB protobuf limit"));
  }
  WireChecker checker(bytes, kMalformed, true);
  FEDEXEC_RETURN_IF_ERROR(checker.Check(fl::Computation::descriptor()));
  fl::Computation proto;
  bool parsed = false;
  auto parse = [&] {
    // Protobuf may log (invalid UTF-8, recursion limit); the caller gets
    // the status instead.
    pb::LogSilencer silencer;
    pb::io::CodedInputStream input(
        reinterpret_cast<const uint8_t*>(bytes.data()),
        static_cast<int>(bytes.size()));
    input.SetRecursionLimit(kMaxProtoRecursion);
    parsed =
        proto.ParseFromCodedStream(&input) && input.ConsumedEntireMessage();
  };
  if (checker.max_depth() > kShallowMessageDepth) {
    FEDEXEC_RETURN_IF_ERROR(RunOnLargeStack(parse));
  } else {
    parse();
  }
  if (!parsed) {
    // The wire check accepts only what protobuf accepts, so this is not
    // expected; report it all the same.
    return absl::InvalidArgumentError(
        absl::StrCat(kMalformed, "protobuf rejected the input"));
  }
  return proto;
}

absl::StatusOr<fl::Computation> ParseComputationTextProto(
    absl::string_view text) {
  if (text.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMalformedText, "input of ", text.size(),
                     " bytes is larger than the 2 GiB protobuf limit"));
  }
  fl::Computation proto;
  absl::Status status;
  // The text parser uses over a kilobyte of stack per nested message, so
  // the recursion limit alone does not keep it within a thread's usual
  // 8 MB stack: it always runs on its own large one.
  FEDEXEC_RETURN_IF_ERROR(RunOnLargeStack([&] {
    pb::LogSilencer silencer;
    FirstErrorCollector errors;
    pb::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    // Without a limit the text parser recurses once per nested message.
    parser.SetRecursionLimit(kMaxProtoRecursion);
    pb::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
    if (!parser.Parse(&input, &proto)) {
      status = absl::InvalidArgumentError(absl::StrCat(
          kMalformedText,
          errors.first().empty() ? "parse failed" : errors.first()));
      proto.Clear();  // frees a deep partial message on this stack
      return;
    }
    // The text parser takes any bytes in a string literal ("\xff"); check
    // the result the way binary input is checked, so that a string field
    // never holds invalid UTF-8.
    std::string bytes;
    if (!proto.SerializeToString(&bytes)) {
      status = absl::InvalidArgumentError(
          absl::StrCat(kMalformedText, "the message cannot be serialized"));
      return;
    }
    status = WireChecker(bytes, kMalformedText, false)
                 .Check(fl::Computation::descriptor());
  }));
  FEDEXEC_RETURN_IF_ERROR(status);
  return proto;
}

absl::StatusOr<NodePtr> ComputationFromProto(const fl::Computation& proto) {
  return Decoder().Decode(proto, 1);
}

absl::StatusOr<fl::Computation> ComputationToProto(const NodePtr& root) {
  fl::Computation proto;
  FEDEXEC_RETURN_IF_ERROR(Encoder().Encode(root, 1, &proto));
  return proto;
}

}  // namespace fedexec::ir
