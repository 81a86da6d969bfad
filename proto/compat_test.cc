// The project's .proto files against the vectors encoded with the upstream
// schemas (testdata/compat): every .pb decodes to a message whose text form
// equals its .textproto, and every .textproto encodes to exactly the .pb.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "federated_language/computation.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tensorflow_federated/v0/executor.pb.h"
#include "testing/test_files.h"

namespace {

namespace fs = std::filesystem;
namespace v0 = tensorflow_federated::v0;

using ::fedexec::test_util::ReadFile;

fs::path CompatDir() {
  return ::fedexec::test_util::SourceDir() / "testdata" / "compat";
}

// Maps a protocol vector's file stem to its message.
std::unique_ptr<google::protobuf::Message> ProtocolMessage(
    const std::string& stem) {
  if (stem == "get_executor_request")
    return std::make_unique<v0::GetExecutorRequest>();
  if (stem == "create_value_request" ||
      stem == "create_value_federated_request")
    return std::make_unique<v0::CreateValueRequest>();
  if (stem == "create_call_request")
    return std::make_unique<v0::CreateCallRequest>();
  if (stem == "compute_response")
    return std::make_unique<v0::ComputeResponse>();
  return nullptr;
}

void CheckVector(const fs::path& pb_path,
                 std::unique_ptr<google::protobuf::Message> prototype) {
  SCOPED_TRACE(pb_path.string());
  fs::path text_path = pb_path;
  text_path.replace_extension(".textproto");
  ASSERT_TRUE(fs::exists(text_path));
  const std::string bytes = ReadFile(pb_path);
  const std::string text = ReadFile(text_path);

  std::unique_ptr<google::protobuf::Message> decoded(prototype->New());
  ASSERT_TRUE(decoded->ParseFromString(bytes));
  std::unique_ptr<google::protobuf::Message> from_text(prototype->New());
  ASSERT_TRUE(
      google::protobuf::TextFormat::ParseFromString(text, from_text.get()));

  // No field may be unknown to our schema.
  EXPECT_EQ(decoded->GetReflection()->GetUnknownFields(*decoded).field_count(),
            0);
  std::string decoded_text, expected_text;
  google::protobuf::TextFormat::PrintToString(*decoded, &decoded_text);
  google::protobuf::TextFormat::PrintToString(*from_text, &expected_text);
  EXPECT_EQ(decoded_text, expected_text);

  std::string encoded;
  ASSERT_TRUE(from_text->SerializeToString(&encoded));
  EXPECT_EQ(encoded, bytes) << "the .textproto does not encode to the .pb";
}

TEST(CompatTest, ComputationVectorsRoundTrip) {
  int count = 0;
  for (const auto& entry :
       fs::directory_iterator(CompatDir() / "computations")) {
    if (entry.path().extension() != ".pb") continue;
    CheckVector(entry.path(),
                std::make_unique<federated_language::Computation>());
    ++count;
  }
  EXPECT_EQ(count, 4);
}

TEST(CompatTest, ProtocolVectorsRoundTrip) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(CompatDir() / "protocol")) {
    if (entry.path().extension() != ".pb") continue;
    auto message = ProtocolMessage(entry.path().stem().string());
    ASSERT_NE(message, nullptr) << "no message for " << entry.path();
    CheckVector(entry.path(), std::move(message));
    ++count;
  }
  EXPECT_EQ(count, 5);
}

}  // namespace
