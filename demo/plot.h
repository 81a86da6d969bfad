// The output files of the FedAvg demo (`fedexec demo fedavg --out DIR`): a
// CSV table of the per-round training metrics and an SVG chart of them.
//
// metrics.csv: a header line
//   round,train_loss,test_loss,test_accuracy,round_seconds,
//   clients_per_second,elapsed_seconds            (one line, no spaces)
// then one line per RoundMetrics, in the order given, each ending in '\n'.
// `round` is a decimal integer; the other fields are the shortest decimal
// text that reads back as the same double (std::to_chars), "inf"/"-inf" for
// infinities, and an empty field for NaN (a metric not measured that round).
//
// plot.svg: a self-contained SVG 1.1 document (no external fonts, styles or
// scripts; 900x420 user units with a viewBox) of two panels sharing the x
// axis "round": on the left the training loss and, where measured, the test
// loss; on the right the test accuracy in percent, where measured. Each
// panel has axes with 1-2-5 "nice" ticks and labels, a title, a legend of
// the series it draws, and one polyline per series with at least one
// drawable point (test series also get a marker per point, since they are
// sparse). A value is drawable when it is finite and its magnitude is at
// most kMaxPlotMagnitude; other values are skipped (the line joins the
// points around them). A series without a drawable point is left out of the
// legend; a panel without one shows "no data". A constant series gets a
// small non-degenerate y range around its value.
//
// Writing: WriteMetrics creates the directory (and its parents) when
// needed, and replaces each file atomically: the text goes to a fresh
// temporary file in the directory which is then renamed over the target, so
// a reader sees the old file or the new one, never a part. The temporary
// file is removed on failure.
//
// Errors (WriteMetrics): INVALID_ARGUMENT naming --out and the path when the
// path is empty or exists but is not a directory; otherwise the errno-derived
// status of ErrnoError (core/status.h) with the failing path.
//
// Thread-safety: the functions are stateless and may run concurrently;
// concurrent WriteMetrics calls into one directory each replace whole files
// (the last rename wins).
#ifndef FEDEXEC_DEMO_PLOT_H_
#define FEDEXEC_DEMO_PLOT_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedexec::demo {

// One round's metrics. Optional values are NaN when not measured that round
// (the test metrics are computed every few rounds only).
struct RoundMetrics {
  int64_t round = 0;              // 1-based
  double train_loss = NAN;        // weighted mean client training loss
  double test_loss = NAN;         // NaN when not evaluated this round
  double test_accuracy = NAN;     // in [0, 1]; NaN when not evaluated
  double round_seconds = 0;       // wall time of the federated computation
  double clients_per_second = 0;  // the round's clients / round_seconds
  double elapsed_seconds = 0;     // since training started, evaluation included
};

// Values of larger magnitude are not drawn (they would overflow the axis
// arithmetic; a loss this large means training diverged anyway).
inline constexpr double kMaxPlotMagnitude = 1e300;

// The file names WriteMetrics writes in its directory.
inline constexpr char kMetricsCsvFile[] = "metrics.csv";
inline constexpr char kMetricsSvgFile[] = "plot.svg";

// The contents of metrics.csv (see the file comment).
std::string MetricsCsv(absl::Span<const RoundMetrics> rounds);

// The contents of plot.svg (see the file comment), with `title` (XML-escaped)
// on top. Ends in "</svg>\n".
std::string MetricsSvg(absl::Span<const RoundMetrics> rounds,
                       std::string_view title);

// Writes dir/metrics.csv and dir/plot.svg, creating `dir` if needed (see the
// file comment).
absl::Status WriteMetrics(const std::string& dir,
                          absl::Span<const RoundMetrics> rounds,
                          std::string_view title);

}  // namespace fedexec::demo

#endif  // FEDEXEC_DEMO_PLOT_H_
