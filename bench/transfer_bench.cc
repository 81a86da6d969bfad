// Loopback transfer of a large tensor to a worker and back: fedexec's
// remote executor (CreateValueStream up, ComputeStream down, in chunks)
// beside a bare gRPC stream of the same bytes in the same run (the
// transport's own ceiling), and the same over TLS.
//
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench/transfer_bench
//       [--mib 256] [--repetitions 5] [--chunk-kib 1024] [--no-tls]
//
// Prints GB/s (10^9 bytes per second) of the round trip: 2 x size / time,
// the median of the repetitions. Checks that the tensor came back intact.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "core/mutable_tensor.h"
#include "core/tensor.h"
#include "core/value.h"
#include "executors/remote_executor.h"
#include "fedexec/v1/executor_stream.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "net/grpc_channel.h"
#include "service/worker.h"
#include "stacks/executor_factory.h"

namespace fedexec {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// The transport alone: uploads are read and dropped, downloads are chunks
// of one preallocated buffer. No values, no executors.
class BareStream final : public fedexec::v1::ExecutorStream::CallbackService {
 public:
  BareStream(const char* data, int64_t bytes, int64_t chunk)
      : data_(data), bytes_(bytes), chunk_(chunk) {}

  grpc::ServerReadReactor<fedexec::v1::CreateValueStreamRequest>*
  CreateValueStream(grpc::CallbackServerContext*,
                    tensorflow_federated::v0::CreateValueResponse*) override {
    class Reader : public grpc::ServerReadReactor<
                       fedexec::v1::CreateValueStreamRequest> {
     public:
      Reader() { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (ok) {
          request_.Clear();
          StartRead(&request_);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      void OnDone() override { delete this; }

     private:
      fedexec::v1::CreateValueStreamRequest request_;
    };
    return new Reader();
  }

  grpc::ServerWriteReactor<fedexec::v1::ValueChunk>* ComputeStream(
      grpc::CallbackServerContext*,
      const fedexec::v1::ComputeStreamRequest*) override {
    class Writer : public grpc::ServerWriteReactor<fedexec::v1::ValueChunk> {
     public:
      Writer(const char* data, int64_t bytes, int64_t chunk)
          : data_(data), bytes_(bytes), chunk_(chunk) {
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (sent_ >= bytes_) return Finish(grpc::Status::OK);
        const int64_t n = std::min(chunk_, bytes_ - sent_);
        message_.set_data(data_ + sent_, static_cast<size_t>(n));
        sent_ += n;
        StartWrite(&message_);
      }
      const char* data_;
      int64_t bytes_, chunk_, sent_ = 0;
      fedexec::v1::ValueChunk message_;
    };
    return new Writer(data_, bytes_, chunk_);
  }

 private:
  const char* data_;
  int64_t bytes_, chunk_;
};

// One round trip over the bare stream; returns seconds.
double BareRoundTrip(fedexec::v1::ExecutorStream::Stub& stub, const char* data,
                     char* out, int64_t bytes, int64_t chunk) {
  const auto start = std::chrono::steady_clock::now();
  {
    grpc::ClientContext context;
    tensorflow_federated::v0::CreateValueResponse response;
    auto writer = stub.CreateValueStream(&context, &response);
    fedexec::v1::CreateValueStreamRequest request;
    for (int64_t at = 0; at < bytes; at += chunk) {
      request.mutable_chunk()->set_data(
          data + at, static_cast<size_t>(std::min(chunk, bytes - at)));
      if (!writer->Write(request)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (!s.ok()) std::cerr << "bare upload: " << s.error_message() << "\n";
  }
  {
    grpc::ClientContext context;
    fedexec::v1::ComputeStreamRequest request;
    auto reader = stub.ComputeStream(&context, request);
    fedexec::v1::ValueChunk chunk_message;
    int64_t at = 0;
    while (reader->Read(&chunk_message)) {
      std::memcpy(out + at, chunk_message.data().data(),
                  chunk_message.data().size());
      at += static_cast<int64_t>(chunk_message.data().size());
    }
    grpc::Status s = reader->Finish();
    if (!s.ok() || at != bytes) std::cerr << "bare download incomplete\n";
  }
  return Seconds(start);
}

// fedexec round trips through a RemoteExecutor; returns seconds per trip.
std::vector<double> FedexecRoundTrips(
    const service::WorkerOptions& worker_options,
    const ChannelOptions& channel_options, const Value& value, int repetitions,
    int64_t chunk, bool* intact) {
  auto factory = stacks::LocalExecutorFactory::Create({.threads = 1});
  stacks::LocalExecutorFactory* f = factory->get();
  auto worker = service::Worker::Start(
      worker_options, [f](int64_t n) { return f->ExecutorFor(n); });
  if (!worker.ok()) {
    std::cerr << "worker: " << worker.status() << "\n";
    std::exit(1);
  }
  auto channel = MakeChannel((*worker)->target(), channel_options);
  exec::RemoteOptions options;
  options.name = (*worker)->target();
  options.chunk_bytes = chunk;
  auto remote = exec::RemoteExecutor::Create(*channel, 0, options);
  if (!remote.ok()) {
    std::cerr << "remote executor: " << remote.status() << "\n";
    std::exit(1);
  }
  std::vector<double> seconds;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    auto id = (*remote)->CreateValue(value);
    auto back = id.ok() ? (*remote)->Materialize(*id)
                        : absl::StatusOr<Value>(id.status());
    seconds.push_back(Seconds(start));
    if (!back.ok()) {
      std::cerr << "round trip: " << back.status() << "\n";
      std::exit(1);
    }
    if (r == 0) *intact = *back == value;
  }
  return seconds;
}

int Main(int argc, char** argv) {
  CLI::App app{"Loopback transfer of a large tensor to a worker and back"};
  int64_t mib = 256;
  int repetitions = 5;
  int64_t chunk_kib = 1024;
  bool no_tls = false;
  app.add_option("--mib", mib, "Tensor size in MiB")
      ->check(CLI::PositiveNumber);
  app.add_option("--repetitions", repetitions)->check(CLI::PositiveNumber);
  app.add_option("--chunk-kib", chunk_kib, "Chunk size in KiB")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-tls", no_tls, "Skip the TLS figure");
  CLI11_PARSE(app, argc, argv);

  const int64_t bytes = mib << 20;
  const int64_t chunk = chunk_kib << 10;
  auto tensor = MutableTensor::Uninitialized(DType::kFloat32, {bytes / 4});
  float* p = static_cast<float*>(tensor->raw_mutable_data());
  for (int64_t i = 0; i < bytes / 4; ++i)
    p[i] = static_cast<float>(i % 1000003);
  const Value value(std::move(*tensor).Freeze());
  const char* raw = static_cast<const char*>(value.tensor().raw_data());
  std::vector<char> out(static_cast<size_t>(bytes));

  std::printf(
      "%lld MiB of float32 to a worker and back over loopback, chunks "
      "of %lld KiB, median of %d:\n",
      static_cast<long long>(mib), static_cast<long long>(chunk_kib),
      repetitions);

  bool intact = false;
  service::WorkerOptions plain;
  std::vector<double> fedexec_s =
      FedexecRoundTrips(plain, {}, value, repetitions, chunk, &intact);
  const double gb = 2.0 * static_cast<double>(bytes) / 1e9;
  std::printf(
      "  fedexec (CreateValueStream + ComputeStream)  %6.2f GB/s  "
      "(%.3f s per round trip; value %s)\n",
      gb / Median(fedexec_s), Median(fedexec_s),
      intact ? "intact" : "CORRUPTED");

  {
    BareStream service(raw, bytes, chunk);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.SetMaxReceiveMessageSize(static_cast<int>(kDefaultMaxMessageBytes));
    builder.SetMaxSendMessageSize(static_cast<int>(kDefaultMaxMessageBytes));
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    auto channel = MakeChannel(absl::StrCat("127.0.0.1:", port), {});
    auto stub = fedexec::v1::ExecutorStream::NewStub(*channel);
    std::vector<double> bare_s;
    for (int r = 0; r < repetitions; ++r) {
      bare_s.push_back(BareRoundTrip(*stub, raw, out.data(), bytes, chunk));
    }
    const bool same =
        std::memcmp(out.data(), raw, static_cast<size_t>(bytes)) == 0;
    std::printf(
        "  bare gRPC stream of the same bytes           %6.2f GB/s  "
        "(%.3f s; bytes %s)\n",
        gb / Median(bare_s), Median(bare_s), same ? "intact" : "CORRUPTED");
    server->Shutdown();
  }

  if (!no_tls) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        absl::StrCat("fedexec-transfer-bench-", getpid());
    std::filesystem::create_directories(dir);
    const std::string key = (dir / "key.pem").string();
    const std::string cert = (dir / "cert.pem").string();
    const std::string command = absl::StrCat(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '",
        key, "' -out '", cert, "' >/dev/null 2>&1");
    if (std::system(command.c_str()) != 0) {
      std::printf("  TLS: skipped (no openssl to make a certificate)\n");
    } else {
      service::WorkerOptions tls;
      tls.tls_cert_file = cert;
      tls.tls_key_file = key;
      ChannelOptions channel;
      channel.tls = true;
      channel.tls_root_cert_file = cert;
      channel.tls_server_name = "localhost";
      bool tls_intact = false;
      std::vector<double> tls_s = FedexecRoundTrips(
          tls, channel, value, repetitions, chunk, &tls_intact);
      std::printf(
          "  fedexec over TLS                             %6.2f GB/s  "
          "(%.3f s; value %s)\n",
          gb / Median(tls_s), Median(tls_s),
          tls_intact ? "intact" : "CORRUPTED");
    }
    std::filesystem::remove_all(dir);
  }
  return 0;
}

}  // namespace
}  // namespace fedexec

int main(int argc, char** argv) { return fedexec::Main(argc, argv); }
