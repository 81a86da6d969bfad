#include "demo/plot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/status.h"

namespace fedexec::demo {
namespace {

// SVG layout, in user units.
constexpr double kWidth = 900;
constexpr double kHeight = 420;
constexpr double kPanelWidth = kWidth / 2;
// The plot area of a panel: its left and right margins inside the panel,
// and its top and bottom.
constexpr double kPlotMarginLeft = 64;
constexpr double kPlotMarginRight = 24;
constexpr double kPlotTop = 84;
constexpr double kPlotBottom = kHeight - 56;
// About how many ticks an axis gets.
constexpr int kXTicks = 8;
constexpr int kYTicks = 5;

constexpr char kTrainColor[] = "#1f77b4";
constexpr char kTestLossColor[] = "#ff7f0e";
constexpr char kAccuracyColor[] = "#2ca02c";

bool Drawable(double v) {
  return std::isfinite(v) && std::abs(v) <= kMaxPlotMagnitude;
}

// The shortest text that reads back as `v`; nothing for NaN.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) return;
  char buffer[32];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), v);
  out.append(buffer, result.ptr);
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A coordinate, to a tenth of a unit.
std::string Px(double v) { return absl::StrFormat("%.1f", v); }

// An axis range of whole 1-2-5 steps: ticks at k * step for k in
// [first, last], the range [first * step, last * step].
struct Axis {
  double step = 1;
  int exponent = 0;  // step = {1, 2, 5} * 10^exponent
  int64_t first = 0;
  int64_t last = 1;

  double lo() const { return static_cast<double>(first) * step; }
  double hi() const { return static_cast<double>(last) * step; }
  // The position of v between `from` (at lo) and `to` (at hi).
  double Map(double v, double from, double to) const {
    return from + (v - lo()) / (hi() - lo()) * (to - from);
  }
};

// The axis over [lo, hi] (drawable values) with about `ticks` steps of at
// least `min_step` (a power of ten, or 0). A range too narrow for its
// magnitude is widened around it, so constant data gets a real range.
Axis NiceAxis(double lo, double hi, int ticks, double min_step) {
  // Below this, widths could underflow the step arithmetic.
  constexpr double kTiny = 1e-290;
  const double magnitude = std::max(std::abs(lo), std::abs(hi));
  if (hi - lo <= 1e-9 * magnitude || hi - lo < kTiny) {
    const double pad = magnitude >= kTiny ? 0.05 * magnitude : 1;
    lo -= pad;
    hi += pad;
  }
  Axis axis;
  const double raw = (hi - lo) / ticks;
  axis.exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double fraction = raw / std::pow(10.0, axis.exponent);
  double multiple = fraction <= 1   ? 1
                    : fraction <= 2 ? 2
                    : fraction <= 5 ? 5
                                    : 10;
  if (multiple == 10) {
    multiple = 1;
    ++axis.exponent;
  }
  axis.step = multiple * std::pow(10.0, axis.exponent);
  if (axis.step < min_step) {
    axis.step = min_step;
    axis.exponent = static_cast<int>(std::lround(std::log10(min_step)));
  }
  axis.first = static_cast<int64_t>(std::floor(lo / axis.step));
  axis.last = static_cast<int64_t>(std::ceil(hi / axis.step));
  if (axis.last == axis.first) ++axis.last;
  return axis;
}

// The label of tick k: fixed-point with the step's decimals, or scientific
// notation for very large or small numbers.
std::string TickLabel(const Axis& axis, int64_t k) {
  const double v = static_cast<double>(k) * axis.step;
  const double largest = std::max(std::abs(axis.lo()), std::abs(axis.hi()));
  if (axis.exponent >= -6 && largest < 1e9) {
    return absl::StrFormat("%.*f", std::max(0, -axis.exponent), v);
  }
  const int digits = std::max(
      0, static_cast<int>(std::floor(std::log10(largest))) - axis.exponent);
  return absl::StrFormat("%.*e", digits, v);
}

// One line of a panel: its drawable (round, value) points in input order.
struct Series {
  const char* name;
  const char* color;
  bool markers = false;
  std::vector<std::pair<double, double>> points;
};

struct Panel {
  double left = 0;  // the panel's left edge
  std::string_view title;
  std::string_view y_label;
  std::vector<Series> series;
};

Series MakeSeries(const char* name, const char* color, bool markers,
                  absl::Span<const RoundMetrics> rounds,
                  double (*value)(const RoundMetrics&)) {
  Series series{name, color, markers, {}};
  for (const RoundMetrics& r : rounds) {
    const double v = value(r);
    if (Drawable(v)) series.points.emplace_back(r.round, v);
  }
  return series;
}

void DrawPanel(const Panel& panel, const Axis& x_axis, std::string& out) {
  const double x0 = panel.left + kPlotMarginLeft;
  const double x1 = panel.left + kPanelWidth - kPlotMarginRight;
  const double y0 = kPlotTop;
  const double y1 = kPlotBottom;
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& series : panel.series) {
    for (const auto& [x, y] : series.points) {
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
  }
  const bool empty = lo > hi;
  const Axis y_axis =
      empty ? NiceAxis(0, 1, kYTicks, 0) : NiceAxis(lo, hi, kYTicks, 0);

  absl::StrAppend(&out, "<g>\n<text x=\"", Px(x0),
                  "\" y=\"52\" font-size=\"13\""
                  " font-weight=\"bold\">",
                  XmlEscape(panel.title), "</text>\n");
  // Horizontal grid lines and y ticks.
  for (int64_t k = y_axis.first; k <= y_axis.last; ++k) {
    const std::string y = Px(y_axis.Map(k * y_axis.step, y1, y0));
    absl::StrAppend(&out, "<line x1=\"", Px(x0), "\" y1=\"", y, "\" x2=\"",
                    Px(x1), "\" y2=\"", y, "\" stroke=\"#e4e4e4\"/>\n",
                    "<text x=\"", Px(x0 - 6), "\" y=\"", y,
                    "\" dy=\"4\" text-anchor=\"end\">", TickLabel(y_axis, k),
                    "</text>\n");
  }
  // x ticks.
  for (int64_t k = x_axis.first; k <= x_axis.last; ++k) {
    const std::string x = Px(x_axis.Map(k * x_axis.step, x0, x1));
    absl::StrAppend(&out, "<line x1=\"", x, "\" y1=\"", Px(y1), "\" x2=\"", x,
                    "\" y2=\"", Px(y1 + 5), "\" stroke=\"#333\"/>\n",
                    "<text x=\"", x, "\" y=\"", Px(y1 + 18),
                    "\" text-anchor=\"middle\">", TickLabel(x_axis, k),
                    "</text>\n");
  }
  // The frame and the axis labels.
  absl::StrAppend(&out, "<rect x=\"", Px(x0), "\" y=\"", Px(y0), "\" width=\"",
                  Px(x1 - x0), "\" height=\"", Px(y1 - y0),
                  "\" fill=\"none\" stroke=\"#333\"/>\n", "<text x=\"",
                  Px((x0 + x1) / 2), "\" y=\"", Px(y1 + 40),
                  "\" text-anchor=\"middle\">round</text>\n",
                  "<text transform=\"translate(", Px(panel.left + 18), " ",
                  Px((y0 + y1) / 2), ") rotate(-90)\" text-anchor=\"middle\">",
                  XmlEscape(panel.y_label), "</text>\n");
  if (empty) {
    absl::StrAppend(&out, "<text x=\"", Px((x0 + x1) / 2), "\" y=\"",
                    Px((y0 + y1) / 2),
                    "\" text-anchor=\"middle\" font-size=\"14\""
                    " fill=\"#888\">no data</text>\n</g>\n");
    return;
  }
  // The legend, in a row above the plot area, and the lines.
  double legend_x = x0;
  for (const Series& series : panel.series) {
    if (series.points.empty()) continue;
    absl::StrAppend(&out, "<line x1=\"", Px(legend_x), "\" y1=\"66\" x2=\"",
                    Px(legend_x + 18), "\" y2=\"66\" stroke=\"", series.color,
                    "\" stroke-width=\"2\"/>\n<text x=\"", Px(legend_x + 22),
                    "\" y=\"70\">", XmlEscape(series.name), "</text>\n");
    legend_x += 40 + 6.5 * static_cast<double>(std::strlen(series.name));
  }
  for (const Series& series : panel.series) {
    if (series.points.empty()) continue;
    std::string points;
    std::string markers;
    const bool mark = series.markers || series.points.size() == 1;
    for (const auto& [round, value] : series.points) {
      const std::string x = Px(x_axis.Map(round, x0, x1));
      const std::string y = Px(y_axis.Map(value, y1, y0));
      absl::StrAppend(&points, points.empty() ? "" : " ", x, ",", y);
      if (mark) {
        absl::StrAppend(&markers, "<circle cx=\"", x, "\" cy=\"", y,
                        "\" r=\"2.5\" fill=\"", series.color, "\"/>\n");
      }
    }
    absl::StrAppend(
        &out, "<polyline fill=\"none\" stroke=\"", series.color,
        "\" stroke-width=\"1.8\" stroke-linejoin=\"round\" points=\"", points,
        "\"/>\n", markers);
  }
  out += "</g>\n";
}

// Writes `contents` to a fresh temporary file in `dir`, then renames it to
// dir/name. The temporary file is removed on failure.
absl::Status WriteFileAtomically(const std::string& dir, const char* name,
                                 std::string_view contents) {
  static std::atomic<uint64_t> counter{0};
  const std::string path = (std::filesystem::path(dir) / name).string();
  std::string temp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    temp = (std::filesystem::path(dir) /
            absl::StrCat(".", name, ".", ::getpid(), ".", counter++, ".tmp"))
               .string();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno == EINTR) continue;
    // A leftover of an earlier process with the same id: try another name.
    if (errno == EEXIST && attempt < 100) continue;
    return ErrnoError(path, "cannot create", errno);
  }
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t written =
        ::write(fd, contents.data() + done, contents.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return ErrnoError(path, "cannot write", error);
    }
    done += static_cast<size_t>(written);
  }
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return ErrnoError(path, "cannot write", error);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return ErrnoError(path, "cannot replace", error);
  }
  return absl::OkStatus();
}

}  // namespace

std::string MetricsCsv(absl::Span<const RoundMetrics> rounds) {
  std::string out =
      "round,train_loss,test_loss,test_accuracy,round_seconds,"
      "clients_per_second,elapsed_seconds\n";
  for (const RoundMetrics& r : rounds) {
    absl::StrAppend(&out, r.round);
    for (const double v :
         {r.train_loss, r.test_loss, r.test_accuracy, r.round_seconds,
          r.clients_per_second, r.elapsed_seconds}) {
      out += ',';
      AppendDouble(out, v);
    }
    out += '\n';
  }
  return out;
}

std::string MetricsSvg(absl::Span<const RoundMetrics> rounds,
                       std::string_view title) {
  Axis x_axis = NiceAxis(0, 1, kXTicks, 1);
  if (!rounds.empty()) {
    const auto [min, max] =
        std::minmax_element(rounds.begin(), rounds.end(),
                            [](const RoundMetrics& a, const RoundMetrics& b) {
                              return a.round < b.round;
                            });
    x_axis = NiceAxis(min->round, max->round, kXTicks, 1);
  }
  Panel loss{0, "Loss", "loss", {}};
  loss.series.push_back(
      MakeSeries("train loss", kTrainColor, false, rounds,
                 [](const RoundMetrics& r) { return r.train_loss; }));
  loss.series.push_back(
      MakeSeries("test loss", kTestLossColor, true, rounds,
                 [](const RoundMetrics& r) { return r.test_loss; }));
  Panel accuracy{kPanelWidth, "Test accuracy", "accuracy (%)", {}};
  accuracy.series.push_back(
      MakeSeries("test accuracy", kAccuracyColor, true, rounds,
                 [](const RoundMetrics& r) { return 100 * r.test_accuracy; }));

  const std::string escaped_title = XmlEscape(title);
  std::string out = absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"",
      kWidth, "\" height=\"", kHeight, "\" viewBox=\"0 0 ", kWidth, " ",
      kHeight, "\" font-family=\"sans-serif\" font-size=\"11\">\n<title>",
      escaped_title, "</title>\n<rect width=\"", kWidth, "\" height=\"",
      kHeight, "\" fill=\"#fff\"/>\n<text x=\"", kWidth / 2,
      "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" "
      "font-weight=\"bold\">",
      escaped_title, "</text>\n");
  DrawPanel(loss, x_axis, out);
  DrawPanel(accuracy, x_axis, out);
  out += "</svg>\n";
  return out;
}

absl::Status WriteMetrics(const std::string& dir,
                          absl::Span<const RoundMetrics> rounds,
                          std::string_view title) {
  if (dir.empty()) {
    return absl::InvalidArgumentError("--out: the directory path is empty");
  }
  struct stat info;
  if (::stat(dir.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--out ", dir, ": exists and is not a directory"));
    }
  } else if (errno == ENOENT) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) return ErrnoError(dir, "cannot create directory", error.value());
  } else {
    return ErrnoError(dir, "cannot access", errno);
  }
  FEDEXEC_RETURN_IF_ERROR(
      WriteFileAtomically(dir, kMetricsCsvFile, MetricsCsv(rounds)));
  return WriteFileAtomically(dir, kMetricsSvgFile, MetricsSvg(rounds, title));
}

}  // namespace fedexec::demo
