// Specification of the computation proto codec (ir/proto_codec.h): decoding
// of binary and text protos with limits, proto <-> AST for every node kind,
// exact round trips of the compatibility vectors, and a table of malformed
// inputs that are rejected with INVALID_ARGUMENT, without a crash and
// without writing to stderr.
#include "ir/proto_codec.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/limits.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace fedexec::ir {
namespace {

namespace fs = std::filesystem;
namespace fl = ::federated_language;
namespace pb = ::google::protobuf;

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ------------------------------------------------------------------ helpers

using ::fedexec::test_util::ReadFile;

fs::path ComputationVectorDir() {
  return ::fedexec::test_util::SourceDir() / "testdata" / "compat" /
         "computations";
}

std::vector<fs::path> ComputationVectors() {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(ComputationVectorDir())) {
    if (entry.path().extension() == ".pb") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string SerializeDeterministic(const pb::Message& message) {
  std::string out;
  {
    pb::io::StringOutputStream stream(&out);
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

// A computation from its text form; fails the test if it does not parse.
fl::Computation FromText(absl::string_view text) {
  absl::StatusOr<fl::Computation> proto = ParseComputationTextProto(text);
  EXPECT_TRUE(proto.ok()) << proto.status() << "\n" << text;
  return proto.ok() ? *proto : fl::Computation();
}

// --- hand-made wire format

constexpr int kVarintWire = 0;
constexpr int kFixed64Wire = 1;
constexpr int kLengthWire = 2;
constexpr int kStartGroupWire = 3;
constexpr int kEndGroupWire = 4;
constexpr int kFixed32Wire = 5;

std::string Varint(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

std::string Tag(int field, int wire_type) {
  return Varint((static_cast<uint64_t>(field) << 3) | wire_type);
}

// A length-delimited field.
std::string Field(int field, absl::string_view payload) {
  return absl::StrCat(Tag(field, kLengthWire), Varint(payload.size()), payload);
}

// `levels` times the chain of length-delimited `fields` (outermost first)
// around `leaf`, built iteratively in linear time: the headers are computed
// from the inside out, then written from the outside in.
std::string Nest(absl::string_view leaf, int levels,
                 const std::vector<int>& fields) {
  std::vector<std::string> headers;
  size_t size = leaf.size();
  for (int level = 0; level < levels; ++level) {
    for (auto field = fields.rbegin(); field != fields.rend(); ++field) {
      std::string header = Tag(*field, kLengthWire) + Varint(size);
      size += header.size();
      headers.push_back(std::move(header));
    }
  }
  std::string out;
  out.reserve(size);
  for (auto header = headers.rbegin(); header != headers.rend(); ++header) {
    out += *header;
  }
  out.append(leaf.data(), leaf.size());
  return out;
}

// Field numbers used to build wire input by hand.
constexpr int kComputationType = 1;
constexpr int kComputationLambda = 4;
constexpr int kComputationReference = 6;
constexpr int kComputationCall = 7;
constexpr int kComputationLiteral = 14;
constexpr int kCallFunction = 1;
constexpr int kTypeSequence = 3;
constexpr int kSequenceElement = 1;
constexpr int kTypeTensor = 4;

// Computation{ reference{ name: "x" } }.
std::string ReferenceBytes() {
  return Field(kComputationReference, Field(1, "x"));
}

// `levels` nested calls: Computation{ call{ function{ ... } } } around
// `leaf` (a serialized Computation).
std::string NestedCallBytes(absl::string_view leaf, int levels) {
  return Nest(leaf, levels, {kComputationCall, kCallFunction});
}

// A computation whose type is `levels` nested sequences of float32.
std::string NestedTypeBytes(int levels) {
  const std::string tensor = Field(kTypeTensor, Tag(1, kVarintWire) + "\x01");
  return absl::StrCat(
      Field(kComputationType,
            Nest(tensor, levels, {kTypeSequence, kSequenceElement})),
      ReferenceBytes());
}

// Text: `levels` nested `call { function { ... } }` around a reference.
std::string NestedCallText(int levels) {
  std::string text;
  text.reserve(levels * 40 + 32);
  for (int i = 0; i < levels; ++i) text += "call { function { ";
  text += "reference { name: \"x\" }";
  for (int i = 0; i < levels; ++i) text += " } }";
  return text;
}

// Builds `levels` nested calls as a message, iteratively.
fl::Computation NestedCallProto(int levels) {
  fl::Computation root;
  fl::Computation* current = &root;
  for (int i = 0; i < levels; ++i) {
    current = current->mutable_call()->mutable_function();
  }
  current->mutable_reference()->set_name("x");
  return root;
}

// Type snippets in text form.
constexpr absl::string_view kF32 = "tensor { dtype: DT_FLOAT }";
constexpr absl::string_view kF32ToF32 =
    "function { parameter { tensor { dtype: DT_FLOAT } } "
    "result { tensor { dtype: DT_FLOAT } } }";

// Runs `body` and expects it to write nothing to stderr.
template <typename F>
void ExpectNoStderr(F&& body) {
  testing::internal::CaptureStderr();
  body();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// ------------------------------------------------- compatibility vectors

TEST(ProtoCodecCompatTest, VectorsExist) {
  EXPECT_GE(ComputationVectors().size(), 4u);
}

TEST(ProtoCodecCompatTest, EveryVectorRoundTripsToTheSameBytes) {
  for (const fs::path& path : ComputationVectors()) {
    SCOPED_TRACE(path.string());
    const std::string bytes = ReadFile(path);
    ASSERT_FALSE(bytes.empty());
    absl::StatusOr<fl::Computation> proto = ParseComputationProto(bytes);
    ASSERT_TRUE(proto.ok()) << proto.status();
    absl::StatusOr<NodePtr> node = ComputationFromProto(*proto);
    ASSERT_TRUE(node.ok()) << node.status();
    absl::StatusOr<fl::Computation> encoded = ComputationToProto(*node);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(SerializeDeterministic(*encoded), bytes);
  }
}

TEST(ProtoCodecCompatTest, TextFormOfEveryVectorDecodesToTheSameMessage) {
  for (const fs::path& path : ComputationVectors()) {
    SCOPED_TRACE(path.string());
    fs::path text_path = path;
    text_path.replace_extension(".textproto");
    absl::StatusOr<fl::Computation> from_text =
        ParseComputationTextProto(ReadFile(text_path));
    ASSERT_TRUE(from_text.ok()) << from_text.status();
    absl::StatusOr<fl::Computation> from_bytes =
        ParseComputationProto(ReadFile(path));
    ASSERT_TRUE(from_bytes.ok()) << from_bytes.status();
    EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*from_text, *from_bytes));
  }
}

TEST(ProtoCodecCompatTest, ApplyDoubleDecodesToTheExpectedTree) {
  absl::StatusOr<fl::Computation> proto = ParseComputationProto(
      ReadFile(ComputationVectorDir() / "apply_double.pb"));
  ASSERT_TRUE(proto.ok()) << proto.status();
  absl::StatusOr<NodePtr> root = ComputationFromProto(*proto);
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_EQ((*root)->kind(), NodeKind::kLambda);
  const LambdaNode& lambda = (*root)->As<LambdaNode>();
  EXPECT_EQ(lambda.parameter_name, "");
  EXPECT_FALSE(lambda.parameter_type.has_value());
  ASSERT_TRUE((*root)->type().has_value());
  EXPECT_EQ(*(*root)->type(),
            Type::Function(std::nullopt,
                           Type::Federated(Type::Tensor(DType::kFloat32),
                                           Placement::kServer, true)));
  const Node& call = *lambda.result;
  ASSERT_EQ(call.kind(), NodeKind::kCall);
  EXPECT_EQ(call.As<CallNode>().function->As<IntrinsicNode>().uri,
            "federated_apply");
  const StructNode& args = call.As<CallNode>().argument->As<StructNode>();
  ASSERT_EQ(args.elements.size(), 2u);
  const LambdaNode& doubler = args.elements[0].value->As<LambdaNode>();
  EXPECT_EQ(doubler.parameter_name, "x");
  ASSERT_TRUE(doubler.parameter_type.has_value());
  EXPECT_EQ(*doubler.parameter_type, Type::Tensor(DType::kFloat32));
  const Node& literal = *args.elements[1].value->As<CallNode>().argument;
  ASSERT_EQ(literal.kind(), NodeKind::kLiteral);
  EXPECT_EQ(literal.As<LiteralNode>().value, Tensor::Scalar<float>(1.5f));
}

// ------------------------------------------------------- every node kind

// A hand-built computation (text form) of one kind, with types throughout,
// in canonical form: decoding and re-encoding gives an equal message.
struct RoundTripCase {
  const char* name;
  std::string text;
};

std::vector<RoundTripCase> RoundTripCases() {
  const std::string f32(kF32);
  const std::string f32_to_f32(kF32ToF32);
  const std::string ref_x =
      absl::StrCat("type { ", f32, " } reference { name: \"x\" }");
  const std::string lit_1 =
      absl::StrCat("type { ", f32,
                   " } literal { value { dtype: DT_FLOAT shape { } "
                   "float32_list { value: 1 } } }");
  return {
      {"ScalarLiteral", lit_1},
      {"VectorLiteral",
       "type { tensor { dtype: DT_INT32 dims: 2 } } literal { value { dtype: "
       "DT_INT32 shape { dim: 2 } int32_list { value: 1 value: -2 } } }"},
      {"MatrixLiteral",
       "type { tensor { dtype: DT_INT64 dims: 2 dims: 1 } } literal { value "
       "{ dtype: DT_INT64 shape { dim: 2 dim: 1 } int64_list { value: 7 "
       "value: 8 } } }"},
      {"EmptyLiteral",
       "type { tensor { dtype: DT_INT32 dims: 0 } } literal { value { dtype: "
       "DT_INT32 shape { dim: 0 } int32_list { } } }"},
      {"StringLiteral",
       "type { tensor { dtype: DT_STRING } } literal { value { dtype: "
       "DT_STRING shape { } string_list { value: \"h\\377i\" } } }"},
      {"BoolLiteral",
       "type { tensor { dtype: DT_BOOL dims: 2 } } literal { value { dtype: "
       "DT_BOOL shape { dim: 2 } bool_list { value: true value: false } } }"},
      {"DataWithUri",
       absl::StrCat("type { ", f32, " } data { uri: \"file:///tmp/x\" }")},
      {"DataWithContent",
       absl::StrCat("type { ", f32,
                    " } data { content { type_url: "
                    "\"type.googleapis.com/a.B\" value: \"\\001\\000\" } }")},
      {"DataWithUriAndContent",
       absl::StrCat("type { ", f32,
                    " } data { uri: \"u\" content { type_url: \"t/x\" } }")},
      {"Reference", ref_x},
      {"LambdaWithParameter",
       absl::StrCat("type { ", f32_to_f32,
                    " } lambda { parameter_name: \"x\" result { ", ref_x,
                    " } }")},
      {"LambdaWithoutParameter",
       absl::StrCat("type { function { result { ", f32,
                    " } } } lambda { result { ", lit_1, " } }")},
      {"Block",
       absl::StrCat("type { ", f32, " } block { local { name: \"x\" value { ",
                    lit_1, " } } local { name: \"y\" value { ", ref_x,
                    " } } result { type { ", f32,
                    " } reference { name: \"y\" } } }")},
      {"BlockWithoutLocals",
       absl::StrCat("type { ", f32, " } block { result { ", lit_1, " } }")},
      {"CallWithArgument",
       absl::StrCat(
           "type { federated { placement { value { uri: \"server\" "
           "} } all_equal: true member { ",
           f32, " } } } call { function { type { function { parameter { ", f32,
           " } result { federated { placement { value { uri: "
           "\"server\" } } all_equal: true member { ",
           f32,
           " } } } } } intrinsic { uri: "
           "\"federated_value_at_server\" } } argument { ",
           lit_1, " } }")},
      {"CallWithoutArgument",
       absl::StrCat("type { ", f32,
                    " } call { function { type { function { result { ", f32,
                    " } } } lambda { result { ", lit_1, " } } } }")},
      {"StructNamedAndUnnamed",
       absl::StrCat("type { struct { element { name: \"a\" value { ", f32,
                    " } } element { value { ", f32,
                    " } } } } struct { "
                    "element { name: \"a\" value { ",
                    lit_1, " } } element { value { ", ref_x, " } } }")},
      {"StructUnnamedTwice",
       absl::StrCat("type { struct { element { value { ", f32,
                    " } } element { value { ", f32,
                    " } } } } struct { element { value { ", lit_1,
                    " } } element { value { ", lit_1, " } } }")},
      {"EmptyStruct", "type { struct { } } struct { }"},
      {"Selection",
       absl::StrCat("type { ", f32,
                    " } selection { source { type { struct { "
                    "element { value { ",
                    f32, " } } element { value { ", f32,
                    " } } } } struct { element { value { ", lit_1,
                    " } } element { value { ", ref_x, " } } } } index: 1 }")},
      {"SelectionOfIndexZero",
       absl::StrCat("type { ", f32,
                    " } selection { source { type { struct { element { value "
                    "{ ",
                    f32, " } } } } struct { element { value { ", lit_1,
                    " } } } } }")},
      {"Intrinsic",
       "type { function { parameter { federated { placement { value { uri: "
       "\"clients\" } } member { tensor { dtype: DT_FLOAT } } } } result { "
       "federated { placement { value { uri: \"server\" } } all_equal: true "
       "member { tensor { dtype: DT_FLOAT } } } } } } intrinsic { uri: "
       "\"federated_sum\" }"},
      {"PlacementClients",
       "type { placement { } } placement { uri: \"clients\" }"},
      {"PlacementServer",
       "type { placement { } } placement { uri: \"server\" }"},
      {"Native",
       absl::StrCat("type { ", f32_to_f32, " } native { name: \"add_one\" }")},
      {"NativeWithoutParameter",
       absl::StrCat("type { function { result { ", f32,
                    " } } } native { name: \"make\" }")},
      {"TorchScript",
       absl::StrCat("type { ", f32_to_f32,
                    " } torchscript { module: \"\\000\\001\\377\" method: "
                    "\"forward\" }")},
  };
}

// Cases print as their names, not as bytes.
void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.name; }

class ProtoCodecRoundTripTest : public testing::TestWithParam<RoundTripCase> {};

TEST_P(ProtoCodecRoundTripTest, DecodesAndEncodesToAnEqualMessage) {
  const fl::Computation proto = FromText(GetParam().text);
  absl::StatusOr<NodePtr> node = ComputationFromProto(proto);
  ASSERT_TRUE(node.ok()) << node.status();
  absl::StatusOr<fl::Computation> encoded = ComputationToProto(*node);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  std::string difference;
  pb::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(proto, *encoded)) << difference;
  // The bytes are the same too, and stable from one encoding to the next.
  EXPECT_EQ(SerializeDeterministic(*encoded), SerializeDeterministic(proto));
  absl::StatusOr<fl::Computation> again = ComputationToProto(*node);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(SerializeDeterministic(*again), SerializeDeterministic(*encoded));
}

INSTANTIATE_TEST_SUITE_P(AllKinds, ProtoCodecRoundTripTest,
                         testing::ValuesIn(RoundTripCases()),
                         [](const testing::TestParamInfo<RoundTripCase>& info) {
                           return std::string(info.param.name);
                         });

// ----------------------------------------------- decoding: what the AST has

absl::StatusOr<NodePtr> DecodeText(absl::string_view text) {
  return ComputationFromProto(FromText(text));
}

TEST(ComputationFromProtoTest, KeepsTheDeclaredType) {
  absl::StatusOr<NodePtr> node = DecodeText(
      "type { tensor { dtype: DT_INT32 dims: 2 } } literal { value { dtype: "
      "DT_INT32 shape { dim: 2 } int32_list { value: 1 value: 2 } } }");
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE((*node)->type().has_value());
  EXPECT_EQ(*(*node)->type(), Type::Tensor(DType::kInt32, {2}));
  EXPECT_EQ((*node)->As<LiteralNode>().value, Tensor::Vector<int32_t>({1, 2}));
}

TEST(ComputationFromProtoTest, NodesWithoutTypeHaveNone) {
  absl::StatusOr<NodePtr> node = DecodeText(
      "call { function { intrinsic { uri: \"federated_sum\" } } argument { "
      "reference { name: \"v\" } } }");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_FALSE((*node)->type().has_value());
  const CallNode& call = (*node)->As<CallNode>();
  EXPECT_EQ(call.function->As<IntrinsicNode>().uri, "federated_sum");
  EXPECT_EQ(call.argument->As<ReferenceNode>().name, "v");
  EXPECT_FALSE(call.argument->type().has_value());
}

TEST(ComputationFromProtoTest, CallWithoutArgumentHasNullArgument) {
  absl::StatusOr<NodePtr> node =
      DecodeText("call { function { reference { name: \"f\" } } }");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->As<CallNode>().argument, nullptr);
}

TEST(ComputationFromProtoTest, LambdaParameterTypeComesFromItsFunctionType) {
  absl::StatusOr<NodePtr> node = DecodeText(absl::StrCat(
      "type { function { parameter { tensor { dtype: DT_INT64 dims: -1 } } "
      "result { ",
      kF32,
      " } } } lambda { parameter_name: \"v\" result { reference { name: "
      "\"w\" } } }"));
  ASSERT_TRUE(node.ok()) << node.status();
  const LambdaNode& lambda = (*node)->As<LambdaNode>();
  EXPECT_EQ(lambda.parameter_name, "v");
  ASSERT_TRUE(lambda.parameter_type.has_value());
  EXPECT_EQ(*lambda.parameter_type, Type::Tensor(DType::kInt64, {kUnknownDim}));
  EXPECT_EQ(lambda.result->As<ReferenceNode>().name, "w");
}

TEST(ComputationFromProtoTest, UntypedLambdaWithoutParameter) {
  absl::StatusOr<NodePtr> node =
      DecodeText("lambda { result { reference { name: \"g\" } } }");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->As<LambdaNode>().parameter_name, "");
  EXPECT_FALSE((*node)->As<LambdaNode>().parameter_type.has_value());
}

TEST(ComputationFromProtoTest, BlockKeepsLocalsInOrder) {
  absl::StatusOr<NodePtr> node = DecodeText(
      "block { local { name: \"a\" value { reference { name: \"p\" } } } "
      "local { name: \"a\" value { reference { name: \"a\" } } } "
      "result { reference { name: \"a\" } } }");
  ASSERT_TRUE(node.ok()) << node.status();
  const BlockNode& block = (*node)->As<BlockNode>();
  ASSERT_EQ(block.locals.size(), 2u);  // shadowing is allowed
  EXPECT_EQ(block.locals[0].name, "a");
  EXPECT_EQ(block.locals[0].value->As<ReferenceNode>().name, "p");
  EXPECT_EQ(block.locals[1].value->As<ReferenceNode>().name, "a");
  EXPECT_EQ(block.result->As<ReferenceNode>().name, "a");
}

TEST(ComputationFromProtoTest, StructNamesAndSelectionIndex) {
  absl::StatusOr<NodePtr> node = DecodeText(
      "selection { index: 2 source { struct { element { name: \"a\" value { "
      "reference { name: \"x\" } } } element { value { reference { name: "
      "\"y\" } } } element { name: \"c\" value { reference { name: \"z\" } } "
      "} } } }");
  ASSERT_TRUE(node.ok()) << node.status();
  const SelectionNode& selection = (*node)->As<SelectionNode>();
  EXPECT_EQ(selection.index, 2);
  EXPECT_EQ(selection.name, "");
  const StructNode& s = selection.source->As<StructNode>();
  ASSERT_EQ(s.elements.size(), 3u);
  EXPECT_EQ(s.elements[0].name, "a");
  EXPECT_EQ(s.elements[1].name, "");
  EXPECT_EQ(s.elements[2].name, "c");
}

TEST(ComputationFromProtoTest, DataPlacementNativeAndTorchScript) {
  absl::StatusOr<NodePtr> data = DecodeText(
      "data { uri: \"u\" content { type_url: \"t\" value: \"\\000v\" } }");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ((*data)->As<DataNode>().uri, "u");
  EXPECT_EQ((*data)->As<DataNode>().content_type_url, "t");
  EXPECT_EQ((*data)->As<DataNode>().content_value, std::string("\0v", 2));

  absl::StatusOr<NodePtr> clients =
      DecodeText("placement { uri: \"clients\" }");
  ASSERT_TRUE(clients.ok()) << clients.status();
  EXPECT_EQ((*clients)->As<PlacementNode>().placement, Placement::kClients);
  absl::StatusOr<NodePtr> server = DecodeText("placement { uri: \"server\" }");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->As<PlacementNode>().placement, Placement::kServer);

  absl::StatusOr<NodePtr> native = DecodeText(
      absl::StrCat("type { ", kF32ToF32, " } native { name: \"add\" }"));
  ASSERT_TRUE(native.ok()) << native.status();
  EXPECT_EQ((*native)->As<NativeNode>().name, "add");
  EXPECT_EQ((*native)->type()->kind(), TypeKind::kFunction);

  absl::StatusOr<NodePtr> torch =
      DecodeText("torchscript { module: \"\\001\\002\" method: \"forward\" }");
  ASSERT_TRUE(torch.ok()) << torch.status();
  EXPECT_EQ((*torch)->As<TorchScriptNode>().module, "\x01\x02");
  EXPECT_EQ((*torch)->As<TorchScriptNode>().method, "forward");
}

TEST(ComputationFromProtoTest, AcceptsExactlyTheNestingLimit) {
  // kMaxNestingDepth levels: the root plus kMaxNestingDepth - 1 calls.
  absl::StatusOr<NodePtr> node =
      ComputationFromProto(NestedCallProto(kMaxNestingDepth - 1));
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(TreeDepth(*node), kMaxNestingDepth);
}

TEST(ComputationFromProtoTest, RejectsOneLevelMoreThanTheLimit) {
  absl::StatusOr<NodePtr> node =
      ComputationFromProto(NestedCallProto(kMaxNestingDepth));
  ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(node.status().message()),
              StartsWith("call.function/call.function/"));
  EXPECT_THAT(std::string(node.status().message()),
              HasSubstr("call.function: nesting deeper than 1000 levels"));
}

TEST(ComputationFromProtoTest, DeepMessageWithinTheProtoLimitIsRejected) {
  // 3000 levels are 6000 nested messages: protobuf accepts them, the
  // computation limit does not.
  const std::string bytes = NestedCallBytes(ReferenceBytes(), 3000);
  absl::StatusOr<fl::Computation> proto = ParseComputationProto(bytes);
  ASSERT_TRUE(proto.ok()) << proto.status();
  absl::StatusOr<NodePtr> node = ComputationFromProto(*proto);
  ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(node.status().message()),
              HasSubstr("nesting deeper than 1000 levels"));
}

// ------------------------------------------------ decoding: rejected trees

struct BadTreeCase {
  const char* name;
  std::string text;
  // The whole message when `exact`, else a prefix of it.
  std::string message;
  bool exact = true;
};

std::vector<BadTreeCase> BadTreeCases() {
  const std::string f32(kF32);
  const std::string unsupported =
      "' (fedexec runs native and torchscript leaves)";
  return {
      {"TensorFlowLeaf", "tensorflow { initialize_op: \"init\" }",
       "root: unsupported leaf kind 'tensorflow" + unsupported},
      {"XlaLeafInsideLambda", "lambda { result { xla { } } }",
       "lambda.result: unsupported leaf kind 'xla" + unsupported},
      {"UnsetComputation", "", "root: computation has no kind"},
      {"UnsetComputationWithType", "type { " + f32 + " }",
       "root: computation has no kind"},
      {"UnsetDeepInside",
       "lambda { result { call { function { intrinsic { uri: \"f\" } } "
       "argument { struct { element { value { reference { name: \"x\" } } } "
       "element { name: \"b\" } } } } } }",
       "lambda.result/call.argument/struct[1]: computation has no kind"},
      {"UnsetBlockLocal",
       "block { local { name: \"a\" value { reference { name: \"q\" } } } "
       "local { name: \"b\" } result { reference { name: \"b\" } } }",
       "block.local[1]: computation has no kind"},
      {"MissingBlockResult",
       "block { local { name: \"a\" value { reference { name: \"q\" } } } }",
       "block.result: computation has no kind"},
      {"MissingCallFunction", "call { }",
       "call.function: computation has no kind"},
      {"MissingSelectionSource", "selection { index: 0 }",
       "selection.source: computation has no kind"},
      {"MissingLambdaResult", "lambda { }",
       "lambda.result: computation has no kind"},
      {"UnsetTypeKind", "type { } reference { name: \"x\" }",
       "root: type: ", false},
      {"UnsetTypeKindInsideAType",
       "type { struct { element { name: \"a\" value { } } } } reference { "
       "name: \"x\" }",
       "root: type: ", false},
      {"TypeOfAChildIsMalformed",
       "call { function { reference { name: \"f\" } } argument { type { "
       "sequence { } } reference { name: \"x\" } } }",
       "call.argument: type: ", false},
      {"LambdaWithParameterButNoType",
       "lambda { parameter_name: \"x\" result { reference { name: \"x\" } } }",
       "root: lambda with parameter 'x' needs a function type with a "
       "parameter, found no type"},
      {"LambdaWithParameterButParameterlessType",
       "type { function { result { " + f32 +
           " } } } lambda { parameter_name: \"x\" result { reference { name: "
           "\"x\" } } }",
       "root: lambda with parameter 'x' needs a function type with a "
       "parameter, found ",
       false},
      {"LambdaWithoutParameterButTypeTakesOne",
       "type { " + std::string(kF32ToF32) +
           " } lambda { result { reference { name: \"x\" } } }",
       "root: lambda has no parameter name but its type (float32 -> float32) "
       "takes a parameter"},
      {"LambdaWithNonFunctionType",
       "type { " + f32 +
           " } lambda { parameter_name: \"x\" result { reference { name: "
           "\"x\" } } }",
       "root: lambda has type float32, expected a function type"},
      {"LiteralWithoutValue", "literal { }", "root: literal: ", false},
      {"LiteralListDoesNotMatchDType",
       "literal { value { dtype: DT_FLOAT shape { } int32_list { value: 1 } "
       "} }",
       "root: literal: ", false},
      {"LiteralCountDoesNotMatchShape",
       "literal { value { dtype: DT_FLOAT shape { dim: 3 } float32_list { "
       "value: 1 value: 2 } } }",
       "root: literal: ", false},
      {"LiteralWithUnknownDim",
       "literal { value { dtype: DT_FLOAT shape { dim: -1 } float32_list { "
       "value: 1 } } }",
       "root: literal: ", false},
      {"UnknownPlacementUri", "placement { uri: \"moon\" }",
       "root: unknown placement uri 'moon' (expected 'server' or 'clients')"},
      {"UppercasePlacementUri", "placement { uri: \"SERVER\" }",
       "root: unknown placement uri 'SERVER' (expected 'server' or "
       "'clients')"},
      {"DuplicateStructNames",
       "struct { element { name: \"a\" value { reference { name: \"x\" } } } "
       "element { name: \"b\" value { reference { name: \"x\" } } } element { "
       "name: \"a\" value { reference { name: \"x\" } } } }",
       "root: struct has duplicate element name 'a' (elements 0 and 2)"},
      {"NegativeSelectionIndex",
       "selection { source { reference { name: \"x\" } } index: -1 }",
       "root: selection has negative index -1"},
      {"EmptyReferenceName", "reference { }",
       "root: reference has an empty name"},
      {"EmptyBlockLocalName",
       "block { local { value { reference { name: \"q\" } } } result { "
       "reference { name: \"q\" } } }",
       "root: block local 0 has an empty name"},
      {"EmptyIntrinsicUri", "intrinsic { }",
       "root: intrinsic has an empty uri"},
      {"NativeWithoutType", "native { name: \"f\" }",
       "root: native function 'f' needs a function type, found none"},
      {"NativeWithTensorType", "type { " + f32 + " } native { name: \"f\" }",
       "root: native function 'f' needs a function type, found float32"},
      {"NativeWithoutName",
       "type { " + std::string(kF32ToF32) + " } native { }",
       "root: native function has an empty name"},
      {"EmptyData", "data { }", "root: data has neither a uri nor content"},
      {"DataContentWithoutTypeUrl", "data { content { value: \"v\" } }",
       "root: data content has an empty type_url"},
  };
}

void PrintTo(const BadTreeCase& c, std::ostream* os) { *os << c.name; }

class ComputationFromProtoErrorTest
    : public testing::TestWithParam<BadTreeCase> {};

TEST_P(ComputationFromProtoErrorTest, IsRejectedWithPathAndReason) {
  const BadTreeCase& c = GetParam();
  const fl::Computation proto = FromText(c.text);
  ExpectNoStderr([&] {
    absl::StatusOr<NodePtr> node = ComputationFromProto(proto);
    ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument)
        << node.status();
    if (c.exact) {
      EXPECT_EQ(node.status().message(), c.message);
    } else {
      EXPECT_THAT(std::string(node.status().message()), StartsWith(c.message));
      // Something follows the prefix: the reason.
      EXPECT_GT(node.status().message().size(), c.message.size());
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Table, ComputationFromProtoErrorTest,
                         testing::ValuesIn(BadTreeCases()),
                         [](const testing::TestParamInfo<BadTreeCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(ComputationFromProtoTest, RejectsLiteralWithBadDTypeNumber) {
  fl::Computation proto;
  fl::Array* array = proto.mutable_literal()->mutable_value();
  array->set_dtype(static_cast<fl::DataType>(99));
  array->mutable_shape();
  array->mutable_int32_list()->add_value(1);
  absl::StatusOr<NodePtr> node = ComputationFromProto(proto);
  ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(node.status().message()),
              StartsWith("root: literal: "));
}

TEST(ComputationFromProtoTest, RejectsTypeWithBadDTypeNumber) {
  fl::Computation proto;
  proto.mutable_type()->mutable_tensor()->set_dtype(
      static_cast<fl::DataType>(99));
  proto.mutable_reference()->set_name("x");
  absl::StatusOr<NodePtr> node = ComputationFromProto(proto);
  ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(node.status().message()), StartsWith("root: type: "));
}

TEST(ComputationFromProtoTest, RejectsTypeNestedDeeperThanTheLimit) {
  // 2000 nested sequence types (4000 messages) are within protobuf's limit;
  // the type decoder rejects them.
  fl::Computation proto;
  fl::Type* type = proto.mutable_type();
  for (int i = 0; i < 2 * kMaxNestingDepth; ++i) {
    type = type->mutable_sequence()->mutable_element();
  }
  type->mutable_tensor()->set_dtype(fl::DT_FLOAT);
  proto.mutable_reference()->set_name("x");
  ExpectNoStderr([&] {
    absl::StatusOr<NodePtr> node = ComputationFromProto(proto);
    ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(node.status().message()),
                StartsWith("root: type: "));
  });
}

// ----------------------------------------------------------- encoding

TEST(ComputationToProtoTest, RejectsNodeWithoutType) {
  absl::StatusOr<fl::Computation> proto =
      ComputationToProto(MakeNode(ReferenceNode{"x"}));
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(proto.status().message(),
            "root: node has no type; run the type checker first");
}

TEST(ComputationToProtoTest, NamesThePathOfAnUntypedChild) {
  const Type f32 = Type::Tensor(DType::kFloat32);
  NodePtr untyped = MakeNode(ReferenceNode{"x"});
  NodePtr tuple = MakeNode(
      StructNode{{{"a", MakeNode(ReferenceNode{"y"}, f32)}, {"", untyped}}},
      Type::Struct({{"a", f32}, {"", f32}}));
  NodePtr lambda =
      MakeNode(LambdaNode{"x", f32, tuple},
               Type::Function(f32, Type::Struct({{"a", f32}, {"", f32}})));
  absl::StatusOr<fl::Computation> proto = ComputationToProto(lambda);
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(proto.status().message(),
            "lambda.result/struct[1]: node has no type; run the type checker "
            "first");
}

TEST(ComputationToProtoTest, RejectsSelectionWithoutIndex) {
  const Type f32 = Type::Tensor(DType::kFloat32);
  NodePtr source = MakeNode(ReferenceNode{"s"}, Type::Struct({{"a", f32}}));
  SelectionNode by_name;
  by_name.source = source;
  by_name.name = "a";
  absl::StatusOr<fl::Computation> proto =
      ComputationToProto(MakeNode(by_name, f32));
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(proto.status().message(),
            "root: selection of 'a' has no index; run the type checker first");
}

TEST(ComputationToProtoTest, RejectsNullTreeAndNullChild) {
  absl::StatusOr<fl::Computation> root = ComputationToProto(nullptr);
  ASSERT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root.status().message(), "root: node is missing (null)");

  const Type f32 = Type::Tensor(DType::kFloat32);
  absl::StatusOr<fl::Computation> child =
      ComputationToProto(MakeNode(CallNode{nullptr, nullptr}, f32));
  ASSERT_EQ(child.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(child.status().message(), "call.function: node is missing (null)");
}

TEST(ComputationToProtoTest, RejectsLiteralWithoutTensor) {
  absl::StatusOr<fl::Computation> proto = ComputationToProto(
      MakeNode(LiteralNode{}, Type::Tensor(DType::kFloat32)));
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(proto.status().message(), "root: literal holds no tensor");
}

TEST(ComputationToProtoTest, RejectsDataWithoutUriOrContent) {
  absl::StatusOr<fl::Computation> proto =
      ComputationToProto(MakeNode(DataNode{}, Type::Tensor(DType::kFloat32)));
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(proto.status().message(),
            "root: data has neither a uri nor content");
}

TEST(ComputationToProtoTest, WritesLiteralsInCanonicalForm) {
  const Tensor t = *Tensor::FromSpan<float>({1.f, 2.f, 3.f, 4.f}, {2, 2});
  absl::StatusOr<fl::Computation> proto = ComputationToProto(
      MakeNode(LiteralNode{t}, Type::Tensor(DType::kFloat32, {2, 2})));
  ASSERT_TRUE(proto.ok()) << proto.status();
  const fl::Array& array = proto->literal().value();
  EXPECT_EQ(array.dtype(), fl::DT_FLOAT);
  ASSERT_TRUE(array.has_shape());
  EXPECT_THAT(array.shape().dim(), testing::ElementsAre(2, 2));
  EXPECT_THAT(array.float32_list().value(),
              testing::ElementsAre(1.f, 2.f, 3.f, 4.f));
  EXPECT_FALSE(array.has_content());
}

TEST(ComputationToProtoTest, WritesEveryFieldOfAKnownTree) {
  const Type f32 = Type::Tensor(DType::kFloat32);
  NodePtr body = MakeNode(
      BlockNode{
          {{"y", MakeNode(ReferenceNode{"x"}, f32)}},
          MakeNode(
              SelectionNode{
                  MakeNode(
                      StructNode{{{"", MakeNode(ReferenceNode{"y"}, f32)}}},
                      Type::Struct({{"", f32}})),
                  0, ""},
              f32)},
      f32);
  NodePtr root = MakeNode(LambdaNode{"x", f32, body}, Type::Function(f32, f32));
  absl::StatusOr<fl::Computation> proto = ComputationToProto(root);
  ASSERT_TRUE(proto.ok()) << proto.status();
  const fl::Computation expected = FromText(
      absl::StrCat("type { ", kF32ToF32,
                   " } lambda { parameter_name: \"x\" result { type { ", kF32,
                   " } block { local { name: \"y\" value { type { ", kF32,
                   " } reference { name: \"x\" } } } result { type { ", kF32,
                   " } selection { source { type { struct { element { value { ",
                   kF32, " } } } } struct { element { value { type { ", kF32,
                   " } reference { name: \"y\" } } } } } index: 0 } } } } }"));
  std::string difference;
  pb::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(expected, *proto)) << difference;
}

TEST(ComputationToProtoTest, RejectsTreeDeeperThanTheLimitWithoutRecursing) {
  const Type f32 = Type::Tensor(DType::kFloat32);
  NodePtr node = MakeNode(ReferenceNode{"x"}, f32);
  for (int i = 0; i < 100000; ++i) {
    node = MakeNode(CallNode{node, nullptr}, f32);
  }
  absl::StatusOr<fl::Computation> proto = ComputationToProto(node);
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(proto.status().message()),
              HasSubstr(": nesting deeper than 1000 levels"));
}

// ------------------------------------------------------- binary decoding

TEST(ParseComputationProtoTest, EmptyInputIsAnEmptyComputation) {
  absl::StatusOr<fl::Computation> proto = ParseComputationProto("");
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->computation_case(), fl::Computation::COMPUTATION_NOT_SET);
}

TEST(ParseComputationProtoTest, UnknownFieldsAreSkipped) {
  // A newer writer may add fields; a varint, a fixed64, bytes and a group
  // of unknown numbers are all skipped.
  const std::string bytes =
      absl::StrCat(Tag(900, kVarintWire), Varint(5), Tag(901, kFixed64Wire),
                   std::string(8, 'a'), Field(902, "zz"),
                   Tag(903, kStartGroupWire), Tag(1, kVarintWire), Varint(1),
                   Tag(903, kEndGroupWire), ReferenceBytes());
  absl::StatusOr<fl::Computation> proto = ParseComputationProto(bytes);
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->reference().name(), "x");
}

TEST(ParseComputationProtoTest, AcceptsPackedAndUnpackedRepeatedFields) {
  // dims of a TensorType, once packed and once one by one.
  const std::string packed =
      Field(kTypeTensor, absl::StrCat(Tag(1, kVarintWire), Varint(1),
                                      Field(2, Varint(3) + Varint(4))));
  const std::string unpacked =
      Field(kTypeTensor,
            absl::StrCat(Tag(1, kVarintWire), Varint(1), Tag(2, kVarintWire),
                         Varint(3), Tag(2, kVarintWire), Varint(4)));
  for (const std::string& type : {packed, unpacked}) {
    absl::StatusOr<fl::Computation> proto =
        ParseComputationProto(Field(kComputationType, type) + ReferenceBytes());
    ASSERT_TRUE(proto.ok()) << proto.status();
    EXPECT_THAT(proto->type().tensor().dims(), testing::ElementsAre(3, 4));
  }
}

TEST(ParseComputationProtoTest, AcceptsExactlyTheProtobufRecursionLimit) {
  // Each call level is two messages (Call, Computation), so these many
  // levels put the innermost (empty) computation at the limit.
  const int levels = kMaxProtoRecursion / 2;
  const std::string at_limit = NestedCallBytes("", levels);
  absl::StatusOr<fl::Computation> ok = ParseComputationProto(at_limit);
  EXPECT_TRUE(ok.ok()) << ok.status();
  // One message more (a Reference inside the innermost computation).
  const std::string over =
      NestedCallBytes(Field(kComputationReference, ""), levels);
  ExpectNoStderr([&] {
    absl::StatusOr<fl::Computation> too_deep = ParseComputationProto(over);
    ASSERT_EQ(too_deep.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(too_deep.status().message()),
                HasSubstr("nesting too deep"));
  });
  // Protobuf draws the line at the same place.
  pb::LogSilencer silencer;
  for (const auto& [bytes, accepted] :
       {std::pair{at_limit, true}, std::pair{over, false}}) {
    pb::io::CodedInputStream input(
        reinterpret_cast<const uint8_t*>(bytes.data()),
        static_cast<int>(bytes.size()));
    input.SetRecursionLimit(kMaxProtoRecursion);
    fl::Computation proto;
    EXPECT_EQ(proto.ParseFromCodedStream(&input), accepted);
  }
}

struct BadBytesCase {
  const char* name;
  std::string bytes;
  std::string message;  // a substring of the error
};

std::vector<BadBytesCase> BadBytesCases() {
  const std::string vector =
      ReadFile(ComputationVectorDir() / "apply_double.pb");
  const std::string prefix = "malformed Computation proto: ";
  return {
      {"TruncatedLastByte", vector.substr(0, vector.size() - 1),
       prefix + "truncated"},
      {"TruncatedInTheMiddle", vector.substr(0, vector.size() / 2),
       prefix + "truncated"},
      {"TruncatedTag", "\x80", prefix + "truncated tag"},
      {"TruncatedLength", Tag(kComputationLambda, kLengthWire) + "\x85",
       prefix + "truncated length"},
      {"TruncatedFixed32", Tag(900, kFixed32Wire) + "ab",
       prefix + "truncated: field 900 needs 4"},
      {"LengthBeyondTheParent",
       Field(kComputationLambda, Field(2, "") + Tag(2, kLengthWire) + "\x09"),
       prefix + "truncated: field 2 claims 9 bytes, 0 remain"},
      {"Garbage", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
       prefix + "malformed tag (varint longer than 10 bytes)"},
      {"TextInsteadOfBinary", "lambda { result { } }", prefix},
      {"FieldNumberZero", std::string("\x00\x01", 2),
       prefix + "invalid field number 0"},
      {"InvalidWireType7", Tag(5, 7), prefix + "invalid wire type 7"},
      {"InvalidWireType6", Tag(5, 6), prefix + "invalid wire type 6"},
      {"WrongWireTypeForAMessage",
       Tag(kComputationLambda, kVarintWire) + "\x01",
       prefix +
           "field federated_language.Computation.lambda (number 4) has wire "
           "type varint, expected length-delimited"},
      {"WrongWireTypeForAString",
       Field(kComputationReference, Tag(1, kFixed32Wire) + "abcd"),
       "field federated_language.Reference.name (number 1) has wire type "
       "fixed32, expected length-delimited"},
      {"WrongWireTypeForAnInt",
       Field(9, Tag(3, kFixed64Wire) + std::string(8, '\0')),
       "field federated_language.Selection.index (number 3) has wire type "
       "fixed64, expected varint"},
      {"PackedFloatsOfBadLength",
       Field(kComputationLiteral, Field(1, Field(13, Field(1, "abc")))),
       "packed field federated_language.Array.Float32List.value has 3 bytes, "
       "not a multiple of 4"},
      {"UnexpectedEndGroup", Tag(5, kEndGroupWire),
       prefix + "unexpected end-group tag for field 5"},
      {"UnclosedGroup", Tag(900, kStartGroupWire),
       prefix + "truncated: group 900 is not closed"},
      {"InvalidUtf8InReferenceName",
       Field(kComputationReference, Field(1, "\xc3\x28")),
       prefix + "invalid UTF-8 in string field federated_language.Reference."
                "name"},
      {"InvalidUtf8InLambdaParameter",
       Field(kComputationLambda, Field(1, "a\xff")),
       "invalid UTF-8 in string field "
       "federated_language.Lambda.parameter_name"},
      {"Utf8Surrogate", Field(kComputationReference, Field(1, "\xed\xa0\x80")),
       "invalid UTF-8"},
      {"Utf8Overlong", Field(kComputationReference, Field(1, "\xc0\xaf")),
       "invalid UTF-8"},
      {"NestedCalls10000Deep", NestedCallBytes(ReferenceBytes(), 10000),
       prefix + "nesting too deep: more than 8064 nested messages"},
      {"NestedTypes10000Deep", NestedTypeBytes(10000),
       prefix + "nesting too deep"},
  };
}

void PrintTo(const BadBytesCase& c, std::ostream* os) { *os << c.name; }

class ParseComputationProtoErrorTest
    : public testing::TestWithParam<BadBytesCase> {};

TEST_P(ParseComputationProtoErrorTest, IsRejectedWithAReason) {
  const BadBytesCase& c = GetParam();
  ExpectNoStderr([&] {
    absl::StatusOr<fl::Computation> proto = ParseComputationProto(c.bytes);
    ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument)
        << proto.status();
    EXPECT_THAT(std::string(proto.status().message()),
                StartsWith("malformed Computation proto: "));
    EXPECT_THAT(std::string(proto.status().message()), HasSubstr(c.message));
  });
}

INSTANTIATE_TEST_SUITE_P(Table, ParseComputationProtoErrorTest,
                         testing::ValuesIn(BadBytesCases()),
                         [](const testing::TestParamInfo<BadBytesCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(ParseComputationProtoTest, ValidUtf8IsAccepted) {
  absl::StatusOr<fl::Computation> proto = ParseComputationProto(Field(
      kComputationReference, Field(1, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->reference().name(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(ParseComputationProtoTest, BytesFieldsMayHoldAnyBytes) {
  // TorchScript.module is bytes, not string.
  absl::StatusOr<fl::Computation> proto =
      ParseComputationProto(Field(1001, Field(1, "\xff\xfe")));
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->torchscript().module(), "\xff\xfe");
}

// Every prefix of a real vector: decoding never crashes, and either fails
// with INVALID_ARGUMENT or gives a message that the tree decoder handles.
TEST(ParseComputationProtoTest, EveryPrefixOfAVectorIsHandled) {
  const std::string bytes =
      ReadFile(ComputationVectorDir() / "weighted_mean.pb");
  ExpectNoStderr([&] {
    for (size_t n = 0; n < bytes.size(); ++n) {
      absl::StatusOr<fl::Computation> proto =
          ParseComputationProto(bytes.substr(0, n));
      if (!proto.ok()) {
        EXPECT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
        continue;
      }
      (void)ComputationFromProto(*proto);
    }
  });
}

// Random mutations of real vectors: the result agrees with protobuf's own
// parser (anything protobuf rejects is rejected; anything accepted protobuf
// accepts too), nothing crashes and nothing is logged.
TEST(ParseComputationProtoTest, MutatedVectorsAgreeWithProtobuf) {
  std::mt19937 rng(20240601);
  std::vector<std::string> vectors;
  for (const fs::path& path : ComputationVectors()) {
    vectors.push_back(ReadFile(path));
  }
  ASSERT_FALSE(vectors.empty());
  int rejected = 0;
  ExpectNoStderr([&] {
    for (int i = 0; i < 3000; ++i) {
      std::string bytes = vectors[i % vectors.size()];
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !bytes.empty(); ++e) {
        const size_t at = rng() % bytes.size();
        switch (rng() % 3) {
          case 0:
            bytes[at] = static_cast<char>(rng());
            break;
          case 1:
            bytes.insert(bytes.begin() + at, static_cast<char>(rng()));
            break;
          default:
            bytes.erase(at, 1);
        }
      }
      absl::StatusOr<fl::Computation> ours = ParseComputationProto(bytes);
      bool theirs;
      {
        pb::LogSilencer silencer;
        fl::Computation proto;
        theirs = proto.ParseFromString(bytes);
      }
      if (!theirs) {
        EXPECT_FALSE(ours.ok()) << "protobuf rejects, we accept";
      }
      if (ours.ok()) {
        EXPECT_TRUE(theirs);
        (void)ComputationFromProto(*ours);
      } else {
        ++rejected;
        EXPECT_EQ(ours.status().code(), absl::StatusCode::kInvalidArgument);
      }
    }
  });
  EXPECT_GT(rejected, 0);
}

// --------------------------------------------------------- text decoding

TEST(ParseComputationTextProtoTest, ParsesTheTextForm) {
  absl::StatusOr<fl::Computation> proto = ParseComputationTextProto(
      "# a comment\nlambda {\n  parameter_name: \"x\"\n  result { reference "
      "{ name: \"x\" } }\n}\n");
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->lambda().parameter_name(), "x");
  EXPECT_EQ(proto->lambda().result().reference().name(), "x");
}

TEST(ParseComputationTextProtoTest, EmptyTextIsAnEmptyComputation) {
  absl::StatusOr<fl::Computation> proto = ParseComputationTextProto("");
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_EQ(proto->computation_case(), fl::Computation::COMPUTATION_NOT_SET);
}

TEST(ParseComputationTextProtoTest, ErrorNamesOneBasedLineAndColumn) {
  absl::StatusOr<fl::Computation> proto =
      ParseComputationTextProto("intrinsic {\n  urx: \"a\"\n}\n");
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  // Protobuf places this error at the token after the unknown name.
  EXPECT_EQ(proto.status().message(),
            "malformed Computation text proto: 2:6: Message type "
            "\"federated_language.Intrinsic\" has no field named \"urx\".");
}

TEST(ParseComputationTextProtoTest, ReportsOnlyTheFirstError) {
  absl::StatusOr<fl::Computation> proto =
      ParseComputationTextProto("reference { name: }\nreference { x }");
  ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
  // The '}' in column 19 of line 1, 1-based.
  EXPECT_THAT(std::string(proto.status().message()),
              StartsWith("malformed Computation text proto: 1:19: "));
}

TEST(ParseComputationTextProtoTest, RejectsUnclosedMessage) {
  ExpectNoStderr([] {
    absl::StatusOr<fl::Computation> proto =
        ParseComputationTextProto("lambda { result {");
    ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(proto.status().message()),
                StartsWith("malformed Computation text proto: 1:"));
  });
}

TEST(ParseComputationTextProtoTest, RejectsInvalidUtf8InAString) {
  ExpectNoStderr([] {
    absl::StatusOr<fl::Computation> proto =
        ParseComputationTextProto("reference { name: \"a\\377\" }");
    ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(proto.status().message(),
              "malformed Computation text proto: invalid UTF-8 in string "
              "field federated_language.Reference.name");
  });
}

TEST(ParseComputationTextProtoTest, Rejects10000DeepNestingCleanly) {
  const std::string text = NestedCallText(10000);
  ExpectNoStderr([&] {
    absl::StatusOr<fl::Computation> proto = ParseComputationTextProto(text);
    ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(proto.status().message()),
                StartsWith("malformed Computation text proto: 1:"));
    EXPECT_THAT(std::string(proto.status().message()), HasSubstr("too deep"));
  });
}

TEST(ParseComputationTextProtoTest, Rejects100000DeepNestingCleanly) {
  const std::string text = NestedCallText(100000);
  ExpectNoStderr([&] {
    absl::StatusOr<fl::Computation> proto = ParseComputationTextProto(text);
    ASSERT_EQ(proto.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(proto.status().message()), HasSubstr("too deep"));
  });
}

TEST(ParseComputationTextProtoTest, TextJustWithinTheRecursionLimitParses) {
  // The innermost Reference sits at kMaxProtoRecursion - 1 messages deep:
  // the deepest the parser goes, on any stack.
  absl::StatusOr<fl::Computation> proto =
      ParseComputationTextProto(NestedCallText(kMaxProtoRecursion / 2 - 1));
  ASSERT_TRUE(proto.ok()) << proto.status();
  // One level more is refused.
  absl::StatusOr<fl::Computation> over =
      ParseComputationTextProto(NestedCallText(kMaxProtoRecursion / 2 + 1));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseComputationTextProtoTest, DeepButAllowedTextThenFailsTheTreeLimit) {
  absl::StatusOr<fl::Computation> proto =
      ParseComputationTextProto(NestedCallText(1500));
  ASSERT_TRUE(proto.ok()) << proto.status();
  absl::StatusOr<NodePtr> node = ComputationFromProto(*proto);
  ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(node.status().message()),
              HasSubstr("nesting deeper than 1000 levels"));
}

}  // namespace
}  // namespace fedexec::ir
