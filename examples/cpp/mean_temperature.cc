// A federated analytics example of the C++ API (stacks/runtime.h).
//
// Each client is a weather station holding its own temperature readings.
// The computation averages each station's readings at the station, then
// tells the server the mean over stations and the warmest station's mean:
// the readings themselves never leave the stations.
//
//   mean_temperature                      the built-in sample readings
//   mean_temperature '{[1.0, 2.0], [3.0]}@CLIENTS'   readings of your own
//
// Exit codes: 0 ok, 2 bad input, 1 other errors.
#include <iostream>
#include <string>

#include "absl/status/statusor.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"
#include "ir/value_syntax.h"
#include "stacks/runtime.h"

namespace {

constexpr char kComputation[] = R"(
(readings: {float32[?]}@CLIENTS) ->
  let
    station_means = federated_map(
      native("reduce_mean", (float32[?] -> float32)),
      readings
    )
  in <mean=federated_mean(station_means), warmest=federated_max(station_means)>
)";

constexpr char kSampleReadings[] =
    "{[12.5, 14.0, 15.5], [20.0, 21.5], [9.5, 10.5, 11.0, 12.0]}@CLIENTS";

int Fail(const absl::Status& status) {
  std::cerr << "mean_temperature: " << status << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedexec;  // NOLINT: a short example

  // The computation, parsed and type checked. A program would usually load
  // it from a file: ir::LoadCheckedComputation("mean_temperature.fed").
  absl::StatusOr<ir::NodePtr> parsed = ir::ParseComputation(kComputation);
  if (!parsed.ok()) return Fail(parsed.status());
  absl::StatusOr<ir::NodePtr> computation = ir::CheckComputation(*parsed);
  if (!computation.ok()) return Fail(computation.status());

  // The argument in the value syntax (docs/syntax.md): one tensor of
  // readings per client. The number of clients comes from it.
  const std::string text = argc > 1 ? argv[1] : kSampleReadings;
  absl::StatusOr<Value> readings =
      ir::ParseValueAs(text, *(*computation)->type()->parameter());
  if (!readings.ok()) return Fail(readings.status());

  absl::StatusOr<std::unique_ptr<stacks::Runtime>> runtime =
      stacks::Runtime::Create();
  if (!runtime.ok()) return Fail(runtime.status());
  absl::StatusOr<Value> result = (*runtime)->Call(*computation, *readings);
  if (!result.ok()) return Fail(result.status());

  std::cout << ir::PrintValue(*result) << "\n";
  return 0;
}
