// The cost of the two Array encodings of the executor protocol for one
// large tensor: raw `content` (what fedexec peers read) against the typed
// list of its dtype (what TensorFlow Federated's client reads, and what a
// fedexec worker answers a client that does not ask for content).
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
//   build/bench/array_encoding_bench
//       [--mb 100] [--dtype float32|int8] [--repetitions 5]
//
// For each encoding, the median over the repetitions of: encode
// (ir::ValueToProto), serialize (the bytes a gRPC message carries), parse,
// and decode (ir::ValueFromProto), and the message size. Checks that the
// tensor decodes back bit for bit.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "core/tensor.h"
#include "core/value.h"
#include "ir/value_proto.h"

namespace fedexec {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// `bytes` of deterministic values of `dtype` (with negative values, which
// widened integer lists write in 10 bytes each).
Tensor MakeTensor(const std::string& dtype, int64_t bytes) {
  if (dtype == "int8") {
    std::vector<int8_t> v(static_cast<size_t>(bytes));
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = static_cast<int8_t>(static_cast<int>(i * 7919 % 255) - 127);
    }
    return Tensor::Vector<int8_t>(v);
  }
  std::vector<float> v(static_cast<size_t>(bytes / 4));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<float>(i % 10007) * 0.37f - 1000.0f;
  }
  return Tensor::Vector<float>(v);
}

struct Figures {
  double encode = 0, serialize = 0, parse = 0, decode = 0;
  size_t message_bytes = 0;
};

int Run(int64_t mb, const std::string& dtype, int repetitions) {
  const Value value(MakeTensor(dtype, mb * 1000 * 1000));
  std::printf("%s[%lld]: %lld MB, median of %d\n", dtype.c_str(),
              static_cast<long long>(value.tensor().num_elements()),
              static_cast<long long>(mb), repetitions);
  std::printf("%-12s %9s %9s %9s %9s %9s %12s\n", "encoding", "encode",
              "serialize", "parse", "decode", "total", "message");
  for (ir::ArrayEncoding encoding :
       {ir::ArrayEncoding::kContent, ir::ArrayEncoding::kTypedLists}) {
    ir::ValueToProtoOptions options;
    options.arrays = encoding;
    std::vector<double> encode, serialize, parse, decode, total;
    size_t message_bytes = 0;
    for (int r = 0; r < repetitions; ++r) {
      tensorflow_federated::v0::Value proto;
      const auto t0 = Clock::now();
      absl::Status s = ir::ValueToProto(value, &proto, options);
      const auto t1 = Clock::now();
      if (!s.ok()) {
        std::fprintf(stderr, "encode: %s\n", s.ToString().c_str());
        return 1;
      }
      std::string bytes;
      proto.SerializeToString(&bytes);
      const auto t2 = Clock::now();
      proto.Clear();
      tensorflow_federated::v0::Value parsed;
      if (!parsed.ParseFromString(bytes)) {
        std::fprintf(stderr, "parse failed\n");
        return 1;
      }
      const auto t3 = Clock::now();
      absl::StatusOr<Value> back = ir::ValueFromProto(parsed);
      const auto t4 = Clock::now();
      if (!back.ok() || !(*back == value)) {
        std::fprintf(stderr, "the tensor did not come back intact\n");
        return 1;
      }
      message_bytes = bytes.size();
      encode.push_back(Seconds(t0, t1));
      serialize.push_back(Seconds(t1, t2));
      parse.push_back(Seconds(t2, t3));
      decode.push_back(Seconds(t3, t4));
      total.push_back(Seconds(t0, t4));
    }
    std::printf(
        "%-12s %8.3fs %8.3fs %8.3fs %8.3fs %8.3fs %9.1f MB\n",
        encoding == ir::ArrayEncoding::kContent ? "content" : "typed list",
        Median(encode), Median(serialize), Median(parse), Median(decode),
        Median(total), message_bytes / 1e6);
  }
  return 0;
}

}  // namespace
}  // namespace fedexec

int main(int argc, char** argv) {
  CLI::App app{
      "Encode and decode one large tensor as raw content and as a "
      "typed list"};
  int64_t mb = 100;
  std::string dtype = "float32";
  int repetitions = 5;
  app.add_option("--mb", mb, "Size of the tensor in MB (10^6 bytes)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--dtype", dtype, "float32 or int8")
      ->check(CLI::IsMember({"float32", "int8"}));
  app.add_option("--repetitions", repetitions, "Runs of each encoding")
      ->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  return fedexec::Run(mb, dtype, repetitions);
}
