#include "ir/computation_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "google/protobuf/text_format.h"
#include "ir/proto_codec.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"

namespace fedexec::ir {

absl::StatusOr<ComputationFormat> FormatFromPath(absl::string_view path) {
  if (absl::EndsWith(path, ".fed")) return ComputationFormat::kText;
  if (absl::EndsWith(path, ".pb")) return ComputationFormat::kBinaryProto;
  if (absl::EndsWith(path, ".textproto")) return ComputationFormat::kTextProto;
  return absl::InvalidArgumentError(
      absl::StrCat(path,
                   ": unknown file extension (expected .fed, .pb or "
                   ".textproto)"));
}

absl::StatusOr<ComputationFormat> FormatFromName(absl::string_view name) {
  if (name == "fed") return ComputationFormat::kText;
  if (name == "pb") return ComputationFormat::kBinaryProto;
  if (name == "textproto") return ComputationFormat::kTextProto;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown computation format '", name,
                   "' (expected fed, pb or textproto)"));
}

absl::StatusOr<NodePtr> ParseComputationAs(absl::string_view contents,
                                           ComputationFormat format) {
  switch (format) {
    case ComputationFormat::kText:
      return ParseComputation(contents);
    case ComputationFormat::kBinaryProto: {
      FEDEXEC_ASSIGN_OR_RETURN(auto proto, ParseComputationProto(contents));
      return ComputationFromProto(proto);
    }
    case ComputationFormat::kTextProto: {
      FEDEXEC_ASSIGN_OR_RETURN(auto proto, ParseComputationTextProto(contents));
      return ComputationFromProto(proto);
    }
  }
  return absl::InternalError("unknown format");
}

namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  }
  return contents.str();
}

// "FILE:LINE:COL: ..." for located messages, "FILE: ..." otherwise.
absl::Status WithPath(const std::string& path, const absl::Status& status) {
  absl::string_view message = status.message();
  bool located = !message.empty() && message[0] >= '0' && message[0] <= '9';
  return absl::Status(status.code(),
                      absl::StrCat(path, located ? ":" : ": ", message));
}

}  // namespace

absl::StatusOr<NodePtr> LoadComputation(const std::string& path) {
  FEDEXEC_ASSIGN_OR_RETURN(ComputationFormat format, FormatFromPath(path));
  FEDEXEC_ASSIGN_OR_RETURN(std::string contents, ReadWholeFile(path));
  auto root = ParseComputationAs(contents, format);
  if (!root.ok()) return WithPath(path, root.status());
  return root;
}

absl::StatusOr<NodePtr> LoadCheckedComputation(const std::string& path) {
  FEDEXEC_ASSIGN_OR_RETURN(NodePtr root, LoadComputation(path));
  auto checked = CheckComputation(root);
  if (!checked.ok()) return WithPath(path, checked.status());
  return checked;
}

absl::StatusOr<std::string> SerializeComputation(const NodePtr& checked,
                                                 ComputationFormat format) {
  if (format == ComputationFormat::kText) return PrintComputation(checked);
  FEDEXEC_ASSIGN_OR_RETURN(auto proto, ComputationToProto(checked));
  std::string out;
  if (format == ComputationFormat::kBinaryProto) {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    proto.SerializeToCodedStream(&coded);
  } else {
    google::protobuf::TextFormat::PrintToString(proto, &out);
  }
  return out;
}

}  // namespace fedexec::ir
