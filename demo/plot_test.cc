#include "demo/plot.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_files.h"

namespace fedexec::demo {
namespace {

using ::fedexec::test_util::ReadFile;
using ::fedexec::test_util::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHeader[] =
    "round,train_loss,test_loss,test_accuracy,round_seconds,"
    "clients_per_second,elapsed_seconds";

// Ten rounds; the test metrics are measured every third round and at the end.
std::vector<RoundMetrics> TenRounds() {
  std::vector<RoundMetrics> rounds;
  for (int i = 1; i <= 10; ++i) {
    RoundMetrics r;
    r.round = i;
    r.train_loss = 2.3 / i;
    if (i % 3 == 0 || i == 10) {
      r.test_loss = 2.5 / i;
      r.test_accuracy = 0.1 + 0.07 * i;
    }
    r.round_seconds = 0.25 + 0.01 * i;
    r.clients_per_second = 40 / r.round_seconds;
    r.elapsed_seconds = 0.3 * i;
    rounds.push_back(r);
  }
  return rounds;
}

int Count(std::string_view text, std::string_view what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

// Checks that the tags of `svg` nest properly: every <name ...> is closed by
// a matching </name>, <name .../> closes itself, and the root is <svg>.
// Returns "" or what is wrong.
std::string TagBalance(std::string_view svg) {
  std::vector<std::string> open;
  size_t at = 0;
  bool seen_root = false;
  while ((at = svg.find('<', at)) != std::string_view::npos) {
    const size_t end = svg.find('>', at);
    if (end == std::string_view::npos) return "unterminated tag";
    std::string_view tag = svg.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag.find('<') != std::string_view::npos) return "'<' inside a tag";
    if (tag.front() == '/') {
      const std::string name(tag.substr(1));
      if (open.empty() || open.back() != name) return "stray </" + name + ">";
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    const std::string name(tag.substr(0, tag.find_first_of(" \n/")));
    if (open.empty()) {
      if (seen_root) return "content after the root";
      if (name != "svg") return "root is <" + name + ">";
      seen_root = true;
    }
    if (!self_closing) open.push_back(name);
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  return seen_root ? "" : "no root";
}

// Text between tags must not hold a raw '&' except as an entity, nor '>'
// (a loose check that the title is escaped).
bool EntitiesValid(std::string_view svg) {
  for (size_t at = svg.find('&'); at != std::string_view::npos;
       at = svg.find('&', at + 1)) {
    const size_t semicolon = svg.find(';', at);
    if (semicolon == std::string_view::npos) return false;
    const std::string_view entity = svg.substr(at, semicolon - at + 1);
    if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" &&
        entity != "&quot;" && entity != "&apos;") {
      return false;
    }
  }
  return true;
}

void ExpectWellFormed(const std::string& svg) {
  EXPECT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 40);
  ASSERT_GE(svg.size(), 7u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(TagBalance(svg), "");
  EXPECT_TRUE(EntitiesValid(svg));
  EXPECT_THAT(svg, HasSubstr("viewBox=\"0 0 900 420\""));
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  EXPECT_THAT(svg, Not(HasSubstr("href")));  // nothing external
  EXPECT_THAT(svg, Not(HasSubstr("script")));
}

// The text contents of the <text> elements.
std::vector<std::string> Texts(std::string_view svg) {
  std::vector<std::string> texts;
  for (size_t at = svg.find("<text"); at != std::string_view::npos;
       at = svg.find("<text", at + 1)) {
    const size_t start = svg.find('>', at) + 1;
    texts.emplace_back(svg.substr(start, svg.find("</text>", start) - start));
  }
  return texts;
}

// The y tick labels (right-aligned texts) of panel `panel` (0: loss,
// 1: accuracy), in drawing order (bottom to top).
std::vector<std::string> YTickLabels(std::string_view svg, int panel) {
  size_t begin = svg.find("<g>");
  for (int i = 0; i < panel; ++i) begin = svg.find("<g>", begin + 1);
  const std::string_view group =
      svg.substr(begin, svg.find("</g>", begin) - begin);
  std::vector<std::string> labels;
  for (size_t at = group.find("text-anchor=\"end\">");
       at != std::string_view::npos;
       at = group.find("text-anchor=\"end\">", at + 1)) {
    const size_t start = group.find('>', at) + 1;
    labels.emplace_back(
        group.substr(start, group.find("</text>", start) - start));
  }
  return labels;
}

bool HasText(std::string_view svg, std::string_view text) {
  for (const std::string& t : Texts(svg)) {
    if (t == text) return true;
  }
  return false;
}

// The numbers in the points attributes of the polylines.
std::vector<double> PolylineCoordinates(std::string_view svg) {
  std::vector<double> values;
  for (size_t at = svg.find("points=\""); at != std::string_view::npos;
       at = svg.find("points=\"", at + 1)) {
    const size_t start = at + 8;
    const std::string points(svg.substr(start, svg.find('"', start) - start));
    for (const std::string& pair :
         std::vector<std::string>(absl::StrSplit(points, ' '))) {
      for (const std::string& v :
           std::vector<std::string>(absl::StrSplit(pair, ','))) {
        values.push_back(std::strtod(v.c_str(), nullptr));
      }
    }
  }
  return values;
}

TEST(MetricsCsvTest, HeaderOnlyWithoutRounds) {
  EXPECT_EQ(MetricsCsv({}), std::string(kHeader) + "\n");
}

TEST(MetricsCsvTest, OneLinePerRoundWithEmptyFieldsForNaN) {
  RoundMetrics measured{.round = 3,
                        .train_loss = 0.5,
                        .test_loss = 0.75,
                        .test_accuracy = 0.875,
                        .round_seconds = 2,
                        .clients_per_second = 12.5,
                        .elapsed_seconds = 6.25};
  RoundMetrics unmeasured{.round = 4,
                          .train_loss = 0.25,
                          .round_seconds = 1,
                          .clients_per_second = 25,
                          .elapsed_seconds = 7.25};
  RoundMetrics odd{.round = 5,
                   .train_loss = std::numeric_limits<double>::infinity(),
                   .test_loss = -std::numeric_limits<double>::infinity()};
  EXPECT_EQ(MetricsCsv({measured, unmeasured, odd}),
            std::string(kHeader) +
                "\n"
                "3,0.5,0.75,0.875,2,12.5,6.25\n"
                "4,0.25,,,1,25,7.25\n"
                "5,inf,-inf,,0,0,0\n");
}

TEST(MetricsCsvTest, DoublesRoundTrip) {
  const std::vector<double> values = {0.1,
                                      1.0 / 3,
                                      2.0 / 3 * 1e-300,
                                      123456789.123456789,
                                      1e308,
                                      std::numeric_limits<double>::denorm_min(),
                                      -0.0,
                                      5e-324,
                                      M_PI};
  std::vector<RoundMetrics> rounds;
  for (size_t i = 0; i < values.size(); ++i) {
    rounds.push_back({.round = static_cast<int64_t>(i + 1),
                      .train_loss = values[i],
                      .test_loss = -values[i],
                      .test_accuracy = values[i] / 7,
                      .round_seconds = values[i] * 3,
                      .clients_per_second = std::nextafter(values[i], 1.0),
                      .elapsed_seconds = values[i] + 1});
  }
  const std::string csv = MetricsCsv(rounds);
  std::vector<std::string> lines = absl::StrSplit(csv, '\n');
  ASSERT_EQ(lines.size(), rounds.size() + 2);  // header, rounds, ""
  EXPECT_EQ(lines.front(), kHeader);
  EXPECT_EQ(lines.back(), "");
  for (size_t i = 0; i < rounds.size(); ++i) {
    const std::vector<std::string> fields = absl::StrSplit(lines[i + 1], ',');
    ASSERT_EQ(fields.size(), 7u) << lines[i + 1];
    const RoundMetrics& r = rounds[i];
    EXPECT_EQ(fields[0], std::to_string(r.round));
    const double expected[] = {r.train_loss,         r.test_loss,
                               r.test_accuracy,      r.round_seconds,
                               r.clients_per_second, r.elapsed_seconds};
    for (int f = 0; f < 6; ++f) {
      const double parsed = std::strtod(fields[f + 1].c_str(), nullptr);
      EXPECT_EQ(parsed, expected[f]) << fields[f + 1];
      EXPECT_EQ(std::signbit(parsed), std::signbit(expected[f]));
    }
  }
}

TEST(MetricsSvgTest, DrawsBothPanelsWithTicksAndLegends) {
  const std::string svg = MetricsSvg(TenRounds(), "FedAvg on Fashion-MNIST");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 3);
  EXPECT_TRUE(HasText(svg, "FedAvg on Fashion-MNIST"));
  EXPECT_THAT(svg, HasSubstr("<title>FedAvg on Fashion-MNIST</title>"));
  for (const char* text : {"Loss", "Test accuracy", "train loss", "test loss",
                           "test accuracy", "loss", "accuracy (%)"}) {
    EXPECT_TRUE(HasText(svg, text)) << text;
  }
  EXPECT_EQ(Count(svg, ">round</text>"), 2);
  // The rounds 1..10 get integer ticks of step 2 (on both panels); the train
  // loss 0.23..2.3 ticks of 0.5; the accuracy 31%..80% ticks of 10.
  for (const char* tick : {"0", "2", "4", "6", "8", "10"}) {
    EXPECT_EQ(Count(svg, absl::StrCat(">", tick, "</text>")), 2) << tick;
  }
  for (const char* tick : {"0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "30", "40",
                           "50", "60", "70", "80"}) {
    EXPECT_TRUE(HasText(svg, tick)) << tick;
  }
  EXPECT_FALSE(HasText(svg, "no data"));
  // Test series have a marker per measured round: 4 test loss, 4 accuracy.
  EXPECT_EQ(Count(svg, "<circle"), 8);
  // Every point lies on the canvas.
  const std::vector<double> coordinates = PolylineCoordinates(svg);
  EXPECT_EQ(coordinates.size(), 2u * (10 + 4 + 4));
  for (const double c : coordinates) {
    EXPECT_GE(c, 0);
    EXPECT_LE(c, 900);
  }
}

TEST(MetricsSvgTest, EscapesTheTitle) {
  const std::string svg = MetricsSvg(TenRounds(), "a<b & \"c\" > 'd'");
  ExpectWellFormed(svg);
  EXPECT_THAT(
      svg, HasSubstr("a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;</text>"));
  EXPECT_THAT(svg, Not(HasSubstr("a<b")));
}

TEST(MetricsSvgTest, NoRoundsGivesAnEmptyChart) {
  const std::string svg = MetricsSvg({}, "empty");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 0);
  EXPECT_EQ(Count(svg, ">no data</text>"), 2);
  EXPECT_FALSE(HasText(svg, "train loss"));
  EXPECT_TRUE(HasText(svg, "empty"));
}

TEST(MetricsSvgTest, OneRound) {
  const RoundMetrics round{
      .round = 1, .train_loss = 2.3, .test_loss = 2.2, .test_accuracy = 0.12};
  const std::string svg = MetricsSvg({&round, 1}, "one");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 3);
  // Single points are visible as markers, the train loss one too.
  EXPECT_EQ(Count(svg, "<circle"), 3);
  // The x axis spans whole rounds around round 1.
  EXPECT_EQ(Count(svg, ">1</text>"), 2);
  EXPECT_EQ(Count(svg, ">0</text>"), 2);
}

TEST(MetricsSvgTest, OmitsSeriesThatAreNeverMeasured) {
  std::vector<RoundMetrics> rounds = TenRounds();
  for (RoundMetrics& r : rounds) {
    r.test_loss = NAN;
    r.test_accuracy = NAN;
  }
  const std::string svg = MetricsSvg(rounds, "train only");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 1);
  EXPECT_TRUE(HasText(svg, "train loss"));
  EXPECT_FALSE(HasText(svg, "test loss"));
  EXPECT_FALSE(HasText(svg, "test accuracy"));
  EXPECT_EQ(Count(svg, ">no data</text>"), 1);  // the accuracy panel
}

TEST(MetricsSvgTest, ConstantSeriesGetARealRange) {
  for (const double value : {0.0, 0.5, 1e-30, -3e12}) {
    std::vector<RoundMetrics> rounds = TenRounds();
    for (RoundMetrics& r : rounds) {
      r.train_loss = value;
      r.test_loss = NAN;
      r.test_accuracy = NAN;
    }
    const std::string svg = MetricsSvg(rounds, "flat");
    ExpectWellFormed(svg);
    ASSERT_EQ(Count(svg, "<polyline"), 1);
    // The line is horizontal, strictly inside the plot area (84..364).
    const std::vector<double> coordinates = PolylineCoordinates(svg);
    ASSERT_EQ(coordinates.size(), 20u);
    for (size_t i = 1; i < coordinates.size(); i += 2) {
      EXPECT_EQ(coordinates[i], coordinates[1]) << value;
      EXPECT_GT(coordinates[i], 84) << value;
      EXPECT_LT(coordinates[i], 364) << value;
    }
    // The loss panel has at least three distinct y tick labels.
    const std::vector<std::string> labels = YTickLabels(svg, 0);
    EXPECT_GE(labels.size(), 3u) << value;
    EXPECT_EQ(std::set<std::string>(labels.begin(), labels.end()).size(),
              labels.size())
        << value;
  }
}

TEST(MetricsSvgTest, SkipsNonFiniteAndHugeValues) {
  std::vector<RoundMetrics> rounds = TenRounds();
  rounds[1].train_loss = NAN;
  rounds[2].train_loss = std::numeric_limits<double>::infinity();
  rounds[4].train_loss = -std::numeric_limits<double>::infinity();
  rounds[5].train_loss = 1e305;
  rounds[2].test_accuracy = std::numeric_limits<double>::infinity();
  const std::string svg = MetricsSvg(rounds, "gaps");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "<polyline"), 3);
  // 6 train, 4 test loss and 3 accuracy points.
  EXPECT_EQ(PolylineCoordinates(svg).size(), 2u * (6 + 4 + 3));
  // The loss axis covers only the drawable values (up to 2.5).
  EXPECT_TRUE(HasText(svg, "2.5"));
  EXPECT_FALSE(HasText(svg, "3.0"));
}

TEST(MetricsSvgTest, LargeAndTinyValuesGetScientificTicks) {
  std::vector<RoundMetrics> rounds = TenRounds();
  for (RoundMetrics& r : rounds) r.train_loss *= 1e200;
  std::string svg = MetricsSvg(rounds, "large");
  ExpectWellFormed(svg);
  EXPECT_TRUE(HasText(svg, "1.0e+200")) << svg;
  for (RoundMetrics& r : rounds) {
    r.train_loss *= 1e-205;
    r.train_loss *= 1e-205;
    r.test_loss = NAN;
  }
  svg = MetricsSvg(rounds, "tiny");
  ExpectWellFormed(svg);
  EXPECT_TRUE(HasText(svg, "1.0e-210")) << svg;
}

TEST(MetricsSvgTest, ManyRoundsKeepFewTicks) {
  std::vector<RoundMetrics> rounds;
  for (int i = 1; i <= 1000; ++i) {
    rounds.push_back({.round = i, .train_loss = 1.0 / i});
  }
  const std::string svg = MetricsSvg(rounds, "long");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, ">1000</text>"), 2);
  EXPECT_EQ(Count(svg, ">200</text>"), 2);
  EXPECT_LE(Texts(svg).size(), 60u);
}

TEST(WriteMetricsTest, CreatesNestedDirectoriesAndWritesBothFiles) {
  TempDir temp;
  const std::string dir = temp.File("a/b/c");
  const std::vector<RoundMetrics> rounds = TenRounds();
  ASSERT_TRUE(WriteMetrics(dir, rounds, "run").ok());
  EXPECT_EQ(ReadFile(dir + "/metrics.csv"), MetricsCsv(rounds));
  EXPECT_EQ(ReadFile(dir + "/plot.svg"), MetricsSvg(rounds, "run"));
  // Nothing else (no temporary files).
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"metrics.csv", "plot.svg"}));
}

TEST(WriteMetricsTest, OverwritesExistingFiles) {
  TempDir temp;
  const std::vector<RoundMetrics> rounds = TenRounds();
  ASSERT_TRUE(WriteMetrics(temp.path() + "/", rounds, "first").ok());
  const std::vector<RoundMetrics> fewer(rounds.begin(), rounds.begin() + 2);
  ASSERT_TRUE(WriteMetrics(temp.path(), fewer, "second").ok());
  EXPECT_EQ(ReadFile(temp.File("metrics.csv")), MetricsCsv(fewer));
  EXPECT_EQ(ReadFile(temp.File("plot.svg")), MetricsSvg(fewer, "second"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(temp.path()),
                          std::filesystem::directory_iterator()),
            2);
}

TEST(WriteMetricsTest, RejectsAFileOrAnEmptyPath) {
  TempDir temp;
  const std::string file = temp.File("file");
  { std::ofstream(file) << "x"; }
  absl::Status status = WriteMetrics(file, TenRounds(), "t");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--out"));
  EXPECT_THAT(status.message(), HasSubstr(file));
  EXPECT_EQ(ReadFile(file), "x");

  status = WriteMetrics("", TenRounds(), "t");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--out"));
}

TEST(WriteMetricsTest, ReportsAPathUnderAFile) {
  TempDir temp;
  const std::string file = temp.File("file");
  { std::ofstream(file) << "x"; }
  const std::string dir = file + "/sub/dir";
  const absl::Status status = WriteMetrics(dir, TenRounds(), "t");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(dir));
  EXPECT_THAT(status.message(), HasSubstr("Not a directory"));
  EXPECT_EQ(ReadFile(file), "x");
}

TEST(WriteMetricsTest, ReportsAFailedWriteAndLeavesNoTemporaryFile) {
  // plot.svg is a directory with content, so it cannot be renamed over;
  // metrics.csv is written, the temporary svg is removed.
  TempDir temp;
  std::filesystem::create_directories(temp.File("plot.svg/keep"));
  const absl::Status status = WriteMetrics(temp.path(), TenRounds(), "t");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(temp.File("plot.svg")));
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(temp.path())) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"metrics.csv", "plot.svg"}));
}

}  // namespace
}  // namespace fedexec::demo
