// Specification of values on the wire (ir/value_proto.h): round trips of
// every kind of value, the raw-content encoding, the typed-list encoding
// of every dtype (and bad lists refused), decoding of the compatibility
// vectors, lazy values, functions, a table of
// malformed messages rejected with the path of the fault, and the chunked
// form: many chunks, one-byte chunks, empty tensors, strings, and every
// malformed chunk sequence refused.
#include "ir/value_proto.h"

#include <complex>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "testing/test_files.h"

namespace fedexec::ir {
namespace {

namespace fl = ::federated_language;
namespace v0 = ::tensorflow_federated::v0;
namespace v1 = ::fedexec::v1;

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// ------------------------------------------------------------------ helpers

Value P(absl::string_view text) {
  absl::StatusOr<Value> v = ParseValue(text);
  EXPECT_TRUE(v.ok()) << text << "\n" << v.status();
  return v.ok() ? *v : Value();
}

v0::Value TextProto(const std::string& text) {
  v0::Value proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto))
      << text;
  return proto;
}

v0::Value Encode(const Value& v) {
  v0::Value proto;
  absl::Status s = ValueToProto(v, &proto);
  EXPECT_TRUE(s.ok()) << PrintValue(v) << "\n" << s;
  return proto;
}

// Encodes, serializes, parses and decodes.
Value RoundTrip(const Value& v) {
  const std::string bytes = Encode(v).SerializeAsString();
  v0::Value parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  absl::StatusOr<Value> back = ValueFromProto(parsed);
  EXPECT_TRUE(back.ok()) << back.status();
  return back.ok() ? *back : Value();
}

std::vector<v1::ValueChunk> Chunks(const Value& v, int64_t chunk_bytes) {
  std::vector<v1::ValueChunk> chunks;
  absl::Status s = ValueToChunks(v, chunk_bytes, [&](v1::ValueChunk&& c) {
    chunks.push_back(std::move(c));
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return chunks;
}

absl::StatusOr<Value> Assemble(const std::vector<v1::ValueChunk>& chunks,
                               int64_t max_bytes = INT64_MAX) {
  ChunkAssembler assembler(max_bytes);
  for (const v1::ValueChunk& c : chunks) {
    // Through the wire form, as a stream would carry them.
    v1::ValueChunk parsed;
    EXPECT_TRUE(parsed.ParseFromString(c.SerializeAsString()));
    if (absl::Status s = assembler.Add(parsed); !s.ok()) return s;
  }
  return assembler.Finish();
}

// The INVALID_ARGUMENT message of a message that must not decode.
std::string DecodeError(const v0::Value& proto) {
  absl::StatusOr<Value> v = ValueFromProto(proto);
  EXPECT_FALSE(v.ok()) << proto.DebugString();
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument)
      << v.status();
  return std::string(v.status().message());
}

Tensor FloatVector(int64_t n, float start) {
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = start + static_cast<float>(i);
  return Tensor::Vector<float>(values);
}

// ------------------------------------------------------------ round trips

TEST(ValueProtoTest, RoundTripsEveryKindOfValue) {
  for (const char* text : {
           "1.5",
           "7",
           "true",
           "[1, 2, 3]",
           "float64([1.0, -2.5])",
           "int8([-128, 127])",
           "uint8([0, 255])",
           "int16([-3, 4])",
           "uint16([65535])",
           "uint32([4000000000])",
           "int64([-9, 9])",
           "uint64([18446744073709551615])",
           "float16(0.5)",
           "bfloat16([1.0, 2.0])",
           "complex64([1.0, -2.0])",
           "complex128([3.0, 4.0])",
           "float32[2,0]([])",
           "float32[0]([])",
           "\"hello\"",
           "[\"a\", \"\", \"ccc\"]",
           "<>",
           "<a=1, b=[2, 3]>",
           "<1, x=2.5, \"s\">",
           "<<>, <<1>>>",
           "seq[]",
           "seq[<x=1>, <x=2>]",
           "seq[[1, 2], [3]]",
           "seq[<a=[1.0], b=<2, 3>>]",
           "1@SERVER",
           "{}@CLIENTS",
           "{7}@SERVER",
           "[1.0, 2.0]@CLIENTS",
           "{1, 2, 3}@CLIENTS",
           "{<a=1>, <a=2>}@CLIENTS",
           "seq[1, 2]@CLIENTS",
           "{seq[1], seq[2, 3]}@CLIENTS",
           "<w=[1.0, 2.0]@SERVER, x={seq[1], seq[1]}@CLIENTS>",
       }) {
    SCOPED_TRACE(text);
    const Value v = P(text);
    EXPECT_EQ(RoundTrip(v), v) << PrintValue(RoundTrip(v));
  }
}

TEST(ValueProtoTest, FixedSizeTensorsTravelAsRawContentStringsAsLists) {
  v0::Value proto = Encode(P("<a=[1.0, 2.0], b=\"s\", c=true>"));
  const auto& a = proto.struct_().element(0).value().array();
  EXPECT_EQ(a.dtype(), fl::DT_FLOAT);
  EXPECT_TRUE(a.has_content());
  EXPECT_EQ(a.kind_case(), fl::Array::KIND_NOT_SET);
  const float expected[2] = {1.0f, 2.0f};
  ASSERT_EQ(a.content().size(), sizeof(expected));
  EXPECT_EQ(std::memcmp(a.content().data(), expected, sizeof(expected)), 0);
  ASSERT_EQ(a.shape().dim_size(), 1);
  EXPECT_EQ(a.shape().dim(0), 2);
  const auto& b = proto.struct_().element(1).value().array();
  EXPECT_FALSE(b.has_content());
  ASSERT_TRUE(b.has_string_list());
  EXPECT_EQ(b.string_list().value(0), "s");
  EXPECT_EQ(proto.struct_().element(2).value().array().content(),
            std::string(1, '\1'));
}

TEST(ValueProtoTest, DecodesEveryTypedList) {
  // TensorToArray writes the typed list of each dtype.
  for (const char* text : {
           "[true, false]",
           "int8([-128, 127])",
           "int16([-3, 4])",
           "[1, 2]",
           "int64([-9, 9])",
           "uint8([0, 255])",
           "uint16([65535])",
           "uint32([4000000000])",
           "uint64([18446744073709551615])",
           "float16([0.5, 1.0])",
           "bfloat16([1.0, 2.0])",
           "[1.5, 2.5]",
           "float64([1.0, -2.5])",
           "complex64([1.0, -2.0])",
           "complex128([3.0, 4.0])",
           "[\"x\", \"yz\"]",
           "float32[2,0]([])",
       }) {
    SCOPED_TRACE(text);
    const Value v = P(text);
    v0::Value proto;
    TensorToArray(v.tensor(), proto.mutable_array());
    ASSERT_NE(proto.array().kind_case(), fl::Array::KIND_NOT_SET);
    absl::StatusOr<Value> back = ValueFromProto(proto);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, v);
  }
}

// ---------------------------------------------------------- typed lists

v0::Value EncodeAsLists(const Value& v) {
  v0::Value proto;
  ValueToProtoOptions options;
  options.arrays = ArrayEncoding::kTypedLists;
  absl::Status s = ValueToProto(v, &proto, options);
  EXPECT_TRUE(s.ok()) << PrintValue(v) << "\n" << s;
  return proto;
}

// The array as the wire-format's list rules write it, in text form.
std::string ListText(absl::string_view value_text) {
  const fl::Array array = EncodeAsLists(P(value_text)).array();
  EXPECT_FALSE(array.has_content()) << value_text;
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.PrintToString(array, &text);
  return std::string(absl::StripTrailingAsciiWhitespace(text));
}

TEST(ValueProtoTest, TypedListsFollowTheWireFormatsListRulesForEveryDtype) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"[true, false]",
       "dtype: DT_BOOL shape { dim: 2 } bool_list { value: true value: "
       "false }"},
      {"int8([-128, 127])",
       "dtype: DT_INT8 shape { dim: 2 } int8_list { value: -128 value: 127 }"},
      {"int16([-32768, 4])",
       "dtype: DT_INT16 shape { dim: 2 } int16_list { value: -32768 value: "
       "4 }"},
      {"[1, -2]",
       "dtype: DT_INT32 shape { dim: 2 } int32_list { value: 1 value: -2 }"},
      {"int64([-9, 9])",
       "dtype: DT_INT64 shape { dim: 2 } int64_list { value: -9 value: 9 }"},
      {"uint8([0, 255])",
       "dtype: DT_UINT8 shape { dim: 2 } uint8_list { value: 0 value: 255 }"},
      {"uint16(65535)",
       "dtype: DT_UINT16 shape { } uint16_list { value: 65535 }"},
      {"uint32([4000000000])",
       "dtype: DT_UINT32 shape { dim: 1 } uint32_list { value: 4000000000 }"},
      {"uint64([18446744073709551615])",
       "dtype: DT_UINT64 shape { dim: 1 } uint64_list { value: "
       "18446744073709551615 }"},
      // Bit patterns: 0.5 is 0x3800 in float16, 1.0 is 0x3f80 in bfloat16.
      {"float16([0.5, -2.0])",
       "dtype: DT_HALF shape { dim: 2 } float16_list { value: 14336 value: "
       "49152 }"},
      {"bfloat16(1.0)",
       "dtype: DT_BFLOAT16 shape { } bfloat16_list { value: 16256 }"},
      {"[1.5, -0.25]",
       "dtype: DT_FLOAT shape { dim: 2 } float32_list { value: 1.5 value: "
       "-0.25 }"},
      {"float64(-2.5)",
       "dtype: DT_DOUBLE shape { } float64_list { value: -2.5 }"},
      // Real and imaginary parts interleaved.
      {"complex64([1.0, -2.0])",
       "dtype: DT_COMPLEX64 shape { } complex64_list { value: 1 "
       "value: -2 }"},
      {"complex128[2]([1.0, 2.0, 3.0, 4.0])",
       "dtype: DT_COMPLEX128 shape { dim: 2 } complex128_list { value: 1 "
       "value: 2 value: 3 value: 4 }"},
      {"[\"a\", \"\"]",
       "dtype: DT_STRING shape { dim: 2 } string_list { value: \"a\" value: "
       "\"\" }"},
      {"float32[2,0]([])",
       "dtype: DT_FLOAT shape { dim: 2 dim: 0 } "
       "float32_list { }"},
  };
  for (const auto& [value, list] : cases) {
    SCOPED_TRACE(value);
    EXPECT_EQ(ListText(value), list);
  }
}

TEST(ValueProtoTest, TypedListsRoundTripEveryDtypeAndEveryKindOfValue) {
  for (const char* text : {
           "[true, false]",
           "int8([-128, 127])",
           "int16([-3, 4])",
           "[1, 2]",
           "int64([-9, 9])",
           "uint8([0, 255])",
           "uint16([65535])",
           "uint32([4000000000])",
           "uint64([18446744073709551615])",
           "float16([0.5, 1.0])",
           "bfloat16([1.0, 2.0])",
           "[1.5, 2.5]",
           "float64([1.0, -2.5])",
           "complex64([1.0, -2.0])",
           "complex128([3.0, 4.0])",
           "[\"x\", \"yz\"]",
           "float32[2,0]([])",
           "<a=1, b=[2, 3]>",
           "seq[<a=[1.0], b=<2, 3>>]",
           "{1, 2, 3}@CLIENTS",
           "[1.0, 2.0]@CLIENTS",
           "{seq[1], seq[2, 3]}@CLIENTS",
           "<w=[1.0, 2.0]@SERVER, x={<a=int8(1)>, <a=int8(-1)>}@CLIENTS>",
       }) {
    SCOPED_TRACE(text);
    const Value v = P(text);
    v0::Value parsed;
    ASSERT_TRUE(parsed.ParseFromString(EncodeAsLists(v).SerializeAsString()));
    absl::StatusOr<Value> back = ValueFromProto(parsed);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, v) << PrintValue(*back);
  }
}

TEST(ValueProtoTest, TypedListsReachEveryArrayOfAValue) {
  const v0::Value proto =
      EncodeAsLists(P("<w=[1.0, 2.0]@SERVER, x={seq[[1, 2]], seq[[3, "
                      "4]]}@CLIENTS, y=int8(3)>"));
  std::string text;
  google::protobuf::TextFormat::PrintToString(proto, &text);
  EXPECT_THAT(text, Not(HasSubstr("content")));
  EXPECT_EQ(proto.struct_()
                .element(1)
                .value()
                .federated()
                .value(1)
                .sequence()
                .element(0)
                .flat_value(0)
                .int32_list()
                .value_size(),
            2);
  EXPECT_EQ(proto.struct_().element(2).value().array().int8_list().value(0), 3);
}

TEST(ValueProtoTest, RefusesBadTypedListsNamingThePath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"array { dtype: DT_INT8 shape { } int32_list { value: 1 } }",
       "Array: dtype DT_INT8 but int32_list given"},
      {"array { dtype: DT_FLOAT shape { dim: 3 } float32_list { value: 1 } }",
       "Array: shape [3] needs 3 elements, float32_list has 1"},
      {"array { dtype: DT_INT8 shape { } int8_list { value: 128 } }",
       "Array: int8_list value 128 at index 0 is out of range [-128, 127]"},
      {"array { dtype: DT_UINT8 shape { } uint8_list { value: -1 } }",
       "out of range [0, 255]"},
      {"array { dtype: DT_INT16 shape { } int16_list { value: 40000 } }",
       "out of range [-32768, 32767]"},
      {"array { dtype: DT_HALF shape { } float16_list { value: 65536 } }",
       "Array: float16_list value 65536 at index 0 is out of range [0, "
       "65535]"},
      {"array { dtype: DT_BFLOAT16 shape { } bfloat16_list { value: -1 } }",
       "out of range [0, 65535]"},
      {"array { dtype: DT_COMPLEX64 shape { dim: 2 } complex64_list { value: "
       "1 value: 2 value: 3 } }",
       "needs 2 elements (4 interleaved real and imaginary parts), "
       "complex64_list has 3"},
      {"array { dtype: DT_FLOAT shape { } content: '1234' float32_list { "
       "value: 1 } }",
       "Array: both content and float32_list given"},
      {"array { dtype: DT_STRING shape { dim: 1 } }",
       "neither string_list nor content is given"},
      {"struct { element { name: 'w' value { federated { type { placement { "
       "value { uri: 'clients' } } member { tensor { dtype: DT_INT8 } } } "
       "value { array { dtype: DT_INT8 shape { } int8_list { value: 1 } } } "
       "value { array { dtype: DT_INT8 shape { } int8_list { value: -300 } "
       "} } } } } }",
       "at w member 1: Array: int8_list value -300 at index 0 is out of "
       "range"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    EXPECT_THAT(DecodeError(TextProto(text)), HasSubstr(message));
  }
}

TEST(ValueProtoTest, ChunksIgnoreTheArrayEncoding) {
  // Data chunks are raw bytes whatever the options say.
  ValueToProtoOptions options;
  options.arrays = ArrayEncoding::kTypedLists;
  std::vector<v1::ValueChunk> chunks;
  ASSERT_TRUE(ValueToChunks(
                  P("<[1.0, 2.0], \"s\">"), 4,
                  [&](v1::ValueChunk&& c) {
                    chunks.push_back(std::move(c));
                    return absl::OkStatus();
                  },
                  options)
                  .ok());
  ASSERT_EQ(chunks.size(), 3u);
  absl::StatusOr<Value> back = Assemble(chunks);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, P("<[1.0, 2.0], \"s\">"));
}

TEST(ValueProtoTest, DecodesTheCompatibilityVectors) {
  const auto dir = test_util::SourceDir() / "testdata/compat/protocol";
  {
    v0::CreateValueRequest request;
    ASSERT_TRUE(request.ParseFromString(
        test_util::ReadFile(dir / "create_value_request.pb")));
    absl::StatusOr<Value> v = ValueFromProto(request.value());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, P("[1.0, 2.0, 3.0]"));
  }
  {
    v0::CreateValueRequest request;
    ASSERT_TRUE(request.ParseFromString(
        test_util::ReadFile(dir / "create_value_federated_request.pb")));
    absl::StatusOr<Value> v = ValueFromProto(request.value());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, P("{1.0, 2.0, 3.0}@CLIENTS"));
  }
  {
    v0::ComputeResponse response;
    ASSERT_TRUE(response.ParseFromString(
        test_util::ReadFile(dir / "compute_response.pb")));
    absl::StatusOr<Value> v = ValueFromProto(response.value());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, P("<a=6.0, b=[1, 2]>"));
  }
}

TEST(ValueProtoTest, FederatedTypeAndSequenceElementType) {
  v0::Value proto = Encode(P("{seq[[1, 2]], seq[[3], [4]]}@CLIENTS"));
  const auto& f = proto.federated();
  EXPECT_EQ(f.type().placement().value().uri(), "clients");
  EXPECT_FALSE(f.type().all_equal());
  absl::StatusOr<Type> member = TypeFromProto(f.type().member());
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ(member->ToString(), "int32[?]*");
  ASSERT_EQ(f.value_size(), 2);
  EXPECT_EQ(f.value(1).sequence().element_size(), 2);
  EXPECT_EQ(f.value(1).sequence().element(0).flat_value_size(), 1);

  v0::Value all_equal = Encode(P("<a=1, b=2.0>@SERVER"));
  EXPECT_TRUE(all_equal.federated().type().all_equal());
  EXPECT_EQ(all_equal.federated().type().placement().value().uri(), "server");
  EXPECT_EQ(all_equal.federated().value_size(), 1);

  // A sequence element that is a struct: its tensors depth-first.
  v0::Value seq = Encode(P("seq[<a=1, b=<2.0, c=3>>]"));
  ASSERT_EQ(seq.sequence().element(0).flat_value_size(), 3);
  EXPECT_EQ(seq.sequence().element(0).flat_value(1).dtype(), fl::DT_FLOAT);
}

TEST(ValueProtoTest, AcceptsAPlacementLabelAndAnAbsentTypeWithoutMembers) {
  EXPECT_EQ(*ValueFromProto(TextProto(
                "federated { type { placement { label { label: 'clients' } } "
                "member { tensor { dtype: DT_INT32 } } } "
                "value { array { dtype: DT_INT32 shape {} int32_list { "
                "value: 4 } } } }")),
            P("{4}@CLIENTS"));
  EXPECT_EQ(*ValueFromProto(TextProto(
                "federated { type { placement { value { uri: 'clients' } } "
                "} }")),
            P("{}@CLIENTS"));
  // Member types with unknown dims accept any.
  EXPECT_EQ(*ValueFromProto(TextProto(
                "federated { type { placement { value { uri: 'clients' } } "
                "member { tensor { dtype: DT_INT32 dims: -1 } } } "
                "value { array { dtype: DT_INT32 shape { dim: 1 } "
                "int32_list { value: 4 } } } "
                "value { array { dtype: DT_INT32 shape { dim: 2 } "
                "int32_list { value: 5 value: 6 } } } }")),
            P("{[4], [5, 6]}@CLIENTS"));
}

class LazyInts : public LazyElements {
 public:
  absl::Status ForEach(
      absl::FunctionRef<absl::Status(const Value&)> fn) const override {
    for (int i = 0; i < 3; ++i) {
      if (absl::Status s = fn(Value(Tensor::Scalar<int32_t>(i))); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
};

class LazyClients : public LazyMembers {
 public:
  int64_t size() const override { return 4; }
  absl::StatusOr<Value> Get(int64_t i) const override {
    return Value::Struct(
        {{"i", Value(Tensor::Scalar<int64_t>(i))},
         {"s", Value::LazySequence(std::make_shared<LazyInts>())}});
  }
};

TEST(ValueProtoTest, LazyPartsAreProducedWhileEncoding) {
  const Value lazy = Value::LazyFederated(Placement::kClients,
                                          std::make_shared<LazyClients>());
  EXPECT_EQ(RoundTrip(lazy),
            P("{<i=int64(0), s=seq[0, 1, 2]>, <i=int64(1), s=seq[0, 1, 2]>, "
              "<i=int64(2), s=seq[0, 1, 2]>, <i=int64(3), s=seq[0, 1, 2]>}"
              "@CLIENTS"));
  EXPECT_EQ(ArrayBytes(lazy), 4 * 8 + 4 * 3 * 4);
  absl::StatusOr<Value> chunked = Assemble(Chunks(lazy, 5));
  ASSERT_TRUE(chunked.ok()) << chunked.status();
  EXPECT_EQ(*chunked, RoundTrip(lazy));
}

class FakeFunction : public FunctionValue {
 public:
  std::string Describe() const override { return "(int32 -> int32) fake"; }
};

TEST(ValueProtoTest, FunctionsOnlyThroughEncodeFunction) {
  const Value f = Value::Function(std::make_shared<FakeFunction>());
  const Value s = Value::Struct({{"f", f}, {"x", P("1")}});
  v0::Value proto;
  absl::Status st = ValueToProto(s, &proto);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("at f: a function value ((int32 -> "
                        "int32) fake) cannot be encoded"));

  ValueToProtoOptions options;
  options.encode_function =
      [](const FunctionValue&) -> absl::StatusOr<NodePtr> {
    return CheckComputation(*ParseComputation("(x: int32) -> x"));
  };
  ASSERT_TRUE(ValueToProto(s, &proto, options).ok());
  ASSERT_TRUE(proto.struct_().element(0).value().has_computation());
  EXPECT_TRUE(proto.struct_().element(0).value().computation().has_lambda());
  EXPECT_TRUE(ContainsComputation(proto));
  // Decoding never yields a function.
  EXPECT_THAT(DecodeError(proto),
              StartsWith("at f: a computation where a value was expected"));

  options.encode_function =
      [](const FunctionValue&) -> absl::StatusOr<NodePtr> {
    return absl::InvalidArgumentError("captures a federated value");
  };
  EXPECT_EQ(ValueToProto(s, &proto, options).message(),
            "at f: captures a federated value");
}

TEST(ValueProtoTest, ContainsComputation) {
  EXPECT_FALSE(ContainsComputation(Encode(P("<a=1, b={1, 2}@CLIENTS>"))));
  EXPECT_TRUE(ContainsComputation(
      TextProto("computation { intrinsic { uri: 'federated_sum' } }")));
  EXPECT_TRUE(ContainsComputation(
      TextProto("struct { element { value { array { dtype: DT_INT32 } } } "
                "element { value { struct { element { value { computation { "
                "intrinsic { uri: 'x' } } } } } } } }")));
  EXPECT_TRUE(ContainsComputation(TextProto(
      "federated { value { computation { intrinsic { uri: 'x' } } } }")));
  EXPECT_FALSE(ContainsComputation(v0::Value()));
  // Deeper than any decoder limit: iterative.
  v0::Value deep;
  v0::Value* v = &deep;
  for (int i = 0; i < 5000; ++i)
    v = v->mutable_struct_()->add_element()->mutable_value();
  v->mutable_computation();
  EXPECT_TRUE(ContainsComputation(deep));
}

TEST(ValueProtoTest, ArrayBytesCountsRawBytesAndStringBytes) {
  EXPECT_EQ(ArrayBytes(P("<a=[1.0, 2.0], b=float64(1.0), c=\"abc\">")),
            8 + 8 + 3);
  EXPECT_EQ(ArrayBytes(P("{[1, 2], [3, 4]}@CLIENTS")), 16);
  EXPECT_EQ(ArrayBytes(P("seq[<a=1, b=true>, <a=2, b=false>]")), 10);
  EXPECT_EQ(ArrayBytes(P("<>")), 0);
}

TEST(ValueProtoTest, EncodingErrorsNameThePath) {
  v0::Value proto;
  absl::Status s = ValueToProto(Value::Struct({{"a", Value()}}), &proto);
  EXPECT_EQ(s.message(), "at a: a default (invalid) tensor has no wire form");
  s = ValueToProto(Value::Federated(Placement::kServer, true, {}), &proto);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("all-equal federated value has 0"));
  // Members of differing structures have no member type.
  s = ValueToProto(P("{<a=1>, <b=1>}@CLIENTS"), &proto);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("member 1"));
}

// ------------------------------------------------------ malformed messages

struct Malformed {
  const char* proto;    // text form of a v0.Value
  const char* message;  // the start of the error message
};

TEST(ValueProtoTest, RefusesMalformedMessagesNamingTheField) {
  const Malformed cases[] = {
      {"", "Value has no kind set"},
      {"array { dtype: DT_INVALID }",
       "Array: dtype DT_INVALID is not a valid element type"},
      {"array { dtype: 11 }", "Array: dtype 11 is not a valid element type"},
      {"array { dtype: DT_FLOAT shape { dim: 2 } content: 'abc' }",
       "Array: shape [2] of DT_FLOAT needs 8 bytes of content, content has 3"},
      {"array { dtype: DT_FLOAT shape { dim: 2 } int32_list { value: 1 "
       "value: 2 } }",
       "Array: dtype DT_FLOAT but int32_list given"},
      {"array { dtype: DT_FLOAT shape { dim: -1 } }",
       "Array: shape [-1]: dim 0 is unknown (-1)"},
      {"array { dtype: DT_FLOAT shape { dim: -2 } }",
       "Array: shape [-2]: dim 0 is -2, must be >= 0"},
      {"array { dtype: DT_FLOAT shape { unknown_rank: true } }",
       "Array: shape has unknown_rank set"},
      {"array { dtype: DT_FLOAT shape { dim: 1099511627776 dim: 2 } }",
       "Array: shape [1099511627776,2]: dim 1 (2) takes the element count "
       "over the limit"},
      {"array { dtype: DT_FLOAT shape { dim: 9223372036854775807 } }",
       "Array: shape [9223372036854775807]: dim 0 is 9223372036854775807, "
       "more than the limit"},
      {"array { dtype: DT_BOOL shape { } content: '\\002' }",
       "Array: content byte 0 is 2, not a bool"},
      {"array { dtype: DT_STRING shape { } content: 'x' }",
       "Array: content is not allowed for DT_STRING"},
      {"array { dtype: DT_INT8 shape { } int8_list { value: 300 } }",
       "Array: int8_list value 300 at index 0 is out of range"},
      {"struct { element { name: 'a' value { array { dtype: DT_INT32 "
       "shape { } int32_list { value: 1 } } } } element { name: 'b' value { "
       "array { dtype: DT_FLOAT shape { dim: 3 } content: 'x' } } } }",
       "at b: Array: shape [3] of DT_FLOAT needs 12 bytes"},
      {"struct { element { value { struct { element { name: 'w' value { "
       "array { dtype: DT_INVALID } } } } } } }",
       "at [0].w: Array: dtype DT_INVALID"},
      {"struct { element { name: 'a' value { struct {} } } element { name: "
       "'a' value { struct {} } } }",
       "struct elements 0 and 1 are both named 'a'"},
      {"struct { element { name: 'a' } }", "at a: struct element has no value"},
      {"computation { intrinsic { uri: 'federated_sum' } }",
       "a computation where a value was expected"},
      {"struct { element { value { struct {} } } element { value { "
       "computation { intrinsic { uri: 'x' } } } } }",
       "at [1]: a computation where a value was expected"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "struct { } } } value { struct { } } value { computation { intrinsic "
       "{ uri: 'x' } } } }",
       "at member 1: a computation where a value was expected"},
      {"sequence { element { flat_value { dtype: DT_INT32 } } }",
       "sequence of 1 elements has no element_type"},
      {"sequence { element_type { sequence { element { tensor { dtype: "
       "DT_INT32 } } } } }",
       "sequence element_type int32* is not a tensor or a struct of "
       "tensors"},
      {"sequence { element_type { } }", "sequence element_type: type"},
      {"sequence { element_type { federated { placement { value { uri: "
       "'clients' } } member { tensor { dtype: DT_INT32 } } } } }",
       "sequence element_type {int32}@CLIENTS is not a tensor or a struct of "
       "tensors"},
      {"sequence { element_type { tensor { dtype: DT_INT32 } } element { } }",
       "at element 0: 0 flat values, but element_type int32 has 1 tensors"},
      {"sequence { element_type { struct { element { value { tensor { dtype: "
       "DT_INT32 } } } element { value { tensor { dtype: DT_FLOAT } } } } } "
       "element { flat_value { dtype: DT_INT32 shape {} int32_list { value: "
       "1 } } flat_value { dtype: DT_FLOAT shape {} float32_list { value: 1 "
       "} } } element { flat_value { dtype: DT_INT32 shape {} int32_list { "
       "value: 1 } } flat_value { dtype: DT_INT32 shape {} int32_list { "
       "value: 1 } } } }",
       "at element 1 flat_value 1: element_type <int32,float32> needs "
       "float32 here, found int32"},
      {"sequence { element_type { tensor { dtype: DT_INT32 dims: 2 } } "
       "element { flat_value { dtype: DT_INT32 shape { dim: 3 } } } }",
       "at element 0 flat_value 0: element_type int32[2] needs int32[2] here, "
       "found int32[3]"},
      {"sequence { element_type { tensor { dtype: DT_INT32 } } element { "
       "flat_value { dtype: DT_INT32 shape {} content: 'ab' } } }",
       "at element 0 flat_value 0: Array: shape [] of DT_INT32 needs 4 bytes"},
      {"federated { }", "federated value has no type"},
      {"federated { type { member { tensor { dtype: DT_INT32 } } } }",
       "federated type has no placement"},
      {"federated { type { placement { value { uri: 'moon' } } member { "
       "tensor { dtype: DT_INT32 } } } }",
       "federated type has unknown placement 'moon'"},
      {"federated { type { placement { value { uri: 'server' } } all_equal: "
       "true member { tensor { dtype: DT_INT32 } } } }",
       "an all-equal federated value has exactly 1 member, 0 given"},
      {"federated { type { placement { value { uri: 'clients' } } all_equal: "
       "true member { tensor { dtype: DT_INT32 } } } value { array { dtype: "
       "DT_INT32 shape {} int32_list { value: 1 } } } value { array { dtype: "
       "DT_INT32 shape {} int32_list { value: 1 } } } }",
       "an all-equal federated value has exactly 1 member, 2 given"},
      {"federated { type { placement { value { uri: 'clients' } } } value { "
       "array { dtype: DT_INT32 shape {} int32_list { value: 1 } } } }",
       "federated type has no member type, 1 members given"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "tensor { dtype: DT_FLOAT } } } value { array { dtype: DT_FLOAT "
       "shape {} float32_list { value: 1 } } } value { array { dtype: "
       "DT_INT32 shape {} int32_list { value: 1 } } } }",
       "at member 1: expected float32, found int32"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "tensor { dtype: DT_FLOAT dims: 2 } } } value { array { dtype: "
       "DT_FLOAT shape { dim: 3 } content: '123456789012' } } }",
       "at member 0: expected float32[2], found float32[3]"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "struct { element { name: 'a' value { tensor { dtype: DT_INT32 } } } "
       "} } } value { struct { element { name: 'b' value { array { dtype: "
       "DT_INT32 shape {} int32_list { value: 1 } } } } } } }",
       "at member 0: expected <a=int32>: element 0 is named 'b', expected "
       "'a'"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "struct { element { value { tensor { dtype: DT_INT32 } } } } } } "
       "value { struct { } } }",
       "at member 0: expected <int32> (1 elements), found a struct of 0"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "tensor { dtype: DT_INT32 } } } value { struct { } } }",
       "at member 0: expected int32, found a struct of 0 elements"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "sequence { element { tensor { dtype: DT_INT32 } } } } } value { "
       "sequence { element_type { tensor { dtype: DT_FLOAT } } } } }",
       "at member 0: expected int32*, found a sequence of float32"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "abstract { label: 'T' } } } value { struct { } } }",
       "federated member type T is abstract"},
      {"federated { type { placement { value { uri: 'clients' } } member { "
       "federated { placement { value { uri: 'server' } } member { tensor { "
       "dtype: DT_INT32 } } } } } }",
       "federated type: "},
      {"struct { element { value { federated { type { placement { value { "
       "uri: 'clients' } } member { tensor { dtype: DT_INT32 } } } value { "
       "federated { } } } } } }",
       "at [0] member 0: expected int32, found a federated value"},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.proto);
    EXPECT_THAT(DecodeError(TextProto(c.proto)), StartsWith(c.message));
  }
}

TEST(ValueProtoTest, RefusesNestingDeeperThanTheLimit) {
  auto nested = [](int levels) {
    v0::Value root;
    v0::Value* v = &root;
    for (int i = 1; i < levels; ++i) {
      v = v->mutable_struct_()->add_element()->mutable_value();
    }
    v->mutable_struct_();
    return root;
  };
  EXPECT_TRUE(ValueFromProto(nested(kMaxValueDepth)).ok());
  EXPECT_THAT(DecodeError(nested(kMaxValueDepth + 1)),
              HasSubstr(absl::StrCat("nesting deeper than ", kMaxValueDepth,
                                     " levels")));
  // Encoding refuses what decoding would.
  Value deep = Value::Struct({});
  for (int i = 1; i <= kMaxValueDepth; ++i) deep = Value::Struct({{"", deep}});
  v0::Value proto;
  EXPECT_THAT(ValueToProto(deep, &proto).message(),
              HasSubstr("nesting deeper than"));
}

// ------------------------------------------------------------------ chunks

TEST(ValueChunksTest, ABigValueSpansManyChunks) {
  // 3 tensors of 1,000,003 floats, 1 of 5 and an empty one, in 64 KiB
  // chunks: chunks cross tensor boundaries.
  const Value v = Value::Struct({
      {"a", Value(FloatVector(1000003, 0))},
      {"empty", Value(FloatVector(0, 0))},
      {"b", Value::Federated(Placement::kClients, false,
                             {Value(FloatVector(1000003, 1)),
                              Value(FloatVector(1000003, 2))})},
      {"c", Value(FloatVector(5, 3))},
      {"s", P("[\"x\", \"yy\"]")},
  });
  const int64_t total = (3 * 1000003 + 5) * 4;
  const std::vector<v1::ValueChunk> chunks = Chunks(v, 1 << 16);
  ASSERT_FALSE(chunks.empty());
  ASSERT_TRUE(chunks[0].has_header());
  EXPECT_EQ(chunks[0].header().total_bytes(), total);
  // The header holds no raw bytes.
  EXPECT_LT(chunks[0].ByteSizeLong(), 1000u);
  int64_t sum = 0;
  for (size_t i = 1; i < chunks.size(); ++i) {
    ASSERT_EQ(chunks[i].part_case(), v1::ValueChunk::kData);
    EXPECT_LE(chunks[i].data().size(), 1u << 16);
    if (i + 1 < chunks.size()) {
      EXPECT_EQ(chunks[i].data().size(), 1u << 16);
    }
    sum += static_cast<int64_t>(chunks[i].data().size());
  }
  EXPECT_EQ(sum, total);
  EXPECT_EQ(chunks.size(), 1 + (total + (1 << 16) - 1) / (1 << 16));
  absl::StatusOr<Value> back = Assemble(chunks);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, v);
  // Each tensor of the result has a buffer of its own, aligned.
  const Tensor& a = back->struct_value().elements[0].value->tensor();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw_data()) % 64, 0u);
}

TEST(ValueChunksTest, EveryChunkSizeGivesTheSameValue) {
  const Value v =
      P("<a=[1.0, 2.0, 3.0], b=int8([1, -2, 3]), c=seq[<x=1, y=true>, <x=2, "
        "y=false>], d={float64(1.0), float64(2.0)}@CLIENTS, e=\"str\", "
        "f=complex128([1.0, 2.0]), g=float32[0,3]([]), h=<>>");
  const int64_t total = ArrayBytes(v) - 3;  // strings are not data
  for (int64_t chunk_bytes : {1, 2, 3, 7, 16, 64, 1 << 20}) {
    SCOPED_TRACE(chunk_bytes);
    const std::vector<v1::ValueChunk> chunks = Chunks(v, chunk_bytes);
    EXPECT_EQ(chunks.size(),
              1 + static_cast<size_t>((total + chunk_bytes - 1) / chunk_bytes));
    absl::StatusOr<Value> back = Assemble(chunks);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, v);
  }
}

TEST(ValueChunksTest, ValuesWithoutBytesAreOneHeader) {
  for (const char* text : {"float32[0]([])", "<>", "\"s\"", "seq[]",
                           "{}@CLIENTS", "<a=float32[2,0]([]), b=[\"\"]>"}) {
    SCOPED_TRACE(text);
    const std::vector<v1::ValueChunk> chunks = Chunks(P(text), 4);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].header().total_bytes(), 0);
    absl::StatusOr<Value> back = Assemble(chunks);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, P(text));
  }
}

TEST(ValueChunksTest, ChunkerPullsOneChunkAtATime) {
  absl::StatusOr<ValueChunker> chunker =
      ValueChunker::Create(P("<[1, 2, 3], [4.0]>"), 5);
  ASSERT_TRUE(chunker.ok()) << chunker.status();
  EXPECT_EQ(chunker->total_bytes(), 16);
  v1::ValueChunk chunk;
  std::vector<size_t> sizes;
  ChunkAssembler assembler;
  while (chunker->Next(&chunk)) {
    if (chunk.has_data()) sizes.push_back(chunk.data().size());
    ASSERT_TRUE(assembler.Add(chunk).ok());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{5, 5, 5, 1}));
  EXPECT_FALSE(chunker->Next(&chunk));
  EXPECT_EQ(assembler.received_bytes(), 16);
  EXPECT_EQ(*assembler.Finish(), P("<[1, 2, 3], [4.0]>"));

  EXPECT_EQ(ValueChunker::Create(P("1"), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status s = ValueToChunks(
      P("1"), -1, [](v1::ValueChunk&&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValueChunksTest, SinkErrorsStopTheChunks) {
  int calls = 0;
  absl::Status s = ValueToChunks(P("[1, 2, 3, 4]"), 4, [&](v1::ValueChunk&&) {
    return ++calls == 2 ? absl::CancelledError("client went away")
                        : absl::OkStatus();
  });
  EXPECT_EQ(s, absl::CancelledError("client went away"));
  EXPECT_EQ(calls, 2);
}

v1::ValueChunk Header(const std::string& skeleton, int64_t total) {
  v1::ValueChunk c;
  *c.mutable_header()->mutable_skeleton() = TextProto(skeleton);
  c.mutable_header()->set_total_bytes(total);
  return c;
}

v1::ValueChunk Data(const std::string& bytes) {
  v1::ValueChunk c;
  c.set_data(bytes);
  return c;
}

struct BadSequence {
  const char* what;
  std::vector<v1::ValueChunk> chunks;
  absl::StatusCode code;
  const char* message;  // start of the message
};

TEST(ValueChunksTest, RefusesEveryMalformedSequence) {
  const std::string f2 = "array { dtype: DT_FLOAT shape { dim: 2 } }";
  const std::string eight(8, '\0');
  const BadSequence cases[] = {
      {"nothing",
       {},
       absl::StatusCode::kInvalidArgument,
       "the chunks ended before the value header"},
      {"data first",
       {Data("abcd")},
       absl::StatusCode::kInvalidArgument,
       "a data chunk arrived before the value header"},
      {"two headers",
       {Header(f2, 8), Header(f2, 8)},
       absl::StatusCode::kInvalidArgument,
       "a second value header arrived"},
      {"too many bytes",
       {Header(f2, 8), Data(eight), Data("x")},
       absl::StatusCode::kInvalidArgument,
       "data chunks hold more than the 8 bytes the header announced"},
      {"too many in one chunk",
       {Header(f2, 8), Data(eight + "x")},
       absl::StatusCode::kInvalidArgument,
       "data chunks hold more than"},
      {"too few bytes",
       {Header(f2, 8), Data("1234")},
       absl::StatusCode::kInvalidArgument,
       "the chunks ended after 4 of the 8 bytes the header announced"},
      {"empty data",
       {Header(f2, 8), Data("")},
       absl::StatusCode::kInvalidArgument,
       "a data chunk is empty"},
      {"no part",
       {Header(f2, 8), v1::ValueChunk()},
       absl::StatusCode::kInvalidArgument,
       "a chunk has neither a header nor data"},
      {"total mismatch",
       {Header(f2, 9)},
       absl::StatusCode::kInvalidArgument,
       "value header announces 9 bytes, but its arrays hold 8"},
      {"negative total",
       {Header(f2, -1)},
       absl::StatusCode::kInvalidArgument,
       "value header: total_bytes is -1"},
      {"over the limit",
       {Header("array { dtype: DT_FLOAT shape { dim: 300 } "
               "}",
               1200)},
       absl::StatusCode::kResourceExhausted,
       "value header announces 1200 bytes, more than the limit of 1000"},
      {"no skeleton",
       {[] {
         v1::ValueChunk c;
         c.mutable_header()->set_total_bytes(0);
         return c;
       }()},
       absl::StatusCode::kInvalidArgument,
       "value header has no skeleton"},
      {"content in header",
       {Header("struct { element { name: 'w' value { array { dtype: DT_FLOAT "
               "shape { dim: 2 } content: '12345678' } } } }",
               8)},
       absl::StatusCode::kInvalidArgument,
       "at w: header array carries its elements (content)"},
      {"list in header",
       {Header("array { dtype: DT_INT32 shape { } int32_list { value: 1 } }",
               4)},
       absl::StatusCode::kInvalidArgument,
       "header array carries its elements (a typed list)"},
      {"malformed skeleton",
       {Header("struct { element { value { array { dtype: DT_INVALID } } } }",
               0)},
       absl::StatusCode::kInvalidArgument,
       "at [0]: Array: dtype DT_INVALID"},
      {"unknown dim",
       {Header("array { dtype: DT_FLOAT shape { dim: -1 } }", 0)},
       absl::StatusCode::kInvalidArgument,
       "Array: shape [-1]: dim 0 is unknown"},
      {"computation in skeleton",
       {Header("computation { intrinsic { uri: 'federated_sum' } }", 0)},
       absl::StatusCode::kInvalidArgument,
       "a computation where a value was expected"},
      {"bad string list",
       {Header("array { dtype: DT_STRING shape { dim: 2 } string_list { "
               "value: 'a' } }",
               0)},
       absl::StatusCode::kInvalidArgument,
       "Array: shape [2] needs 2 elements, string_list has 1"},
      {"not a bool",
       {Header("array { dtype: DT_BOOL shape { dim: 2 } }", 2), Data("\1\2")},
       absl::StatusCode::kInvalidArgument,
       "Array: data byte 1 is 2, not a bool (0 or 1)"},
      {"member mismatch",
       {Header("federated { type { placement { value { uri: 'clients' } } "
               "member { tensor { dtype: DT_INT32 } } } value { array { "
               "dtype: DT_FLOAT shape { } } } }",
               4)},
       absl::StatusCode::kInvalidArgument,
       "at member 0: expected int32, found float32"},
  };
  for (const BadSequence& c : cases) {
    SCOPED_TRACE(c.what);
    absl::StatusOr<Value> v = Assemble(c.chunks, 1000);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), c.code) << v.status();
    EXPECT_THAT(std::string(v.status().message()), StartsWith(c.message));
  }
}

TEST(ValueChunksTest, ErrorsAreStickyAndFinishIsOnce) {
  const std::string f2 = "array { dtype: DT_FLOAT shape { dim: 2 } }";
  ChunkAssembler failed;
  const absl::Status first = failed.Add(Data("x"));
  EXPECT_FALSE(first.ok());
  EXPECT_EQ(failed.Add(Header(f2, 8)), first);
  EXPECT_EQ(failed.Finish().status(), first);

  ChunkAssembler done;
  ASSERT_TRUE(done.Add(Header(f2, 8)).ok());
  EXPECT_TRUE(done.has_header());
  EXPECT_EQ(done.total_bytes(), 8);
  ASSERT_TRUE(done.Add(Data(std::string(8, '\0'))).ok());
  ASSERT_TRUE(done.Finish().ok());
  EXPECT_EQ(done.Finish().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(done.Add(Data("x")).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fedexec::ir
