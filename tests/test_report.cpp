// taper report on run folders written by hand (config.json, result.json,
// metrics.jsonl): the rows of results.csv, the mean +- sample std of
// summary.md, and the chart geometry pareto.png is drawn with (log x axis,
// error bars, the series' colors at their points).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/plot.h"
#include "support/files.h"
#include "support/run_taper.h"

using namespace taper::app;
using namespace taper::testing;

namespace {

void fake_run(const TempDir& dir, const std::string& name, const std::string& wbits, int seed, double acc,
              bool finished = true, const std::string& match_size = "null") {
  write_text(dir / name + "/config.json", R"({"model": "m", "data": "d", "wbits": ")" + wbits +
                                              R"(", "abits": 2, "width": 1.0, "match_size": )" + match_size +
                                              R"(, "seed": )" +
                                              std::to_string(seed) + R"(, "epochs": 2, "threads": 1, "out": "x"})");
  write_text(dir / name + "/metrics.jsonl", R"({"epoch": 1, "test_acc": 0.1})" "\n" R"({"epoch": 2, "test_acc": )" +
                                                std::to_string(acc) + "}\n");
  if (finished)
    write_text(dir / name + "/result.json",
               R"({"avg_weight_bits": 2.0, "weight_bytes": )" + std::string(wbits == "2" ? "1000" : "700") +
                   R"(, "total_bytes": 1200, "best_epoch": 2, "best_val_acc": 0.5, "test_acc_at_best": )" +
                   std::to_string(acc) + R"(, "final_test_acc": )" + std::to_string(acc) + R"(, "seconds": 3.5})");
}

}  // namespace

TEST_CASE("report: results.csv rows and summary.md mean +- sample std over seeds") {
  TempDir dir;
  fake_run(dir, "a-s1", "2", 1, 0.5);
  fake_run(dir, "a-s2", "2", 2, 0.6);
  fake_run(dir, "b-s1", "4-2-1", 1, 0.55);
  fake_run(dir, "c-s1", "1", 1, 0.3, false);  // unfinished: left out
  RunResult r = run_taper("report " + dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string csv = read_text(dir / "results.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);  // header + 3 finished runs
  CHECK(csv.rfind("run,model,data,wbits,abits,width,match_size,seed,", 0) == 0);
  CHECK(csv.find("a-s2,m,d,2,2,1.0,,2,") != std::string::npos);
  const std::string md = read_text(dir / "summary.md");
  CHECK(md.find("3 finished runs in 2 configurations; 1 run folders not finished") != std::string::npos);
  // 50% and 60%: mean 55, sample std sqrt(50) = 7.07
  CHECK(md.find("| m w2 a2 | 2 | 2 | 1.000 | 2.0000 | 1000 | 1200 | 2 | 55.00 +- 7.07 | 55.00 +- 7.07 |") !=
        std::string::npos);
  CHECK(md.find("| m w4-2-1 a2 | 4-2-1 | 2 | 1.000 | 2.0000 | 700 | 1200 | 1 | 55.00 | 55.00 |") !=
        std::string::npos);
  CHECK(std::filesystem::exists(dir / "pareto.png"));
  CHECK(std::filesystem::exists(dir / "curves.png"));
  CHECK(!std::filesystem::exists(dir / "bits.png"));  // not an equal-size grid
}

TEST_CASE("report: an equal-size grid (one match_size) also gets bits.png") {
  TempDir dir;
  fake_run(dir, "a-s1", "2", 1, 0.5, true, R"("2")");
  fake_run(dir, "b-s1", "4-2-1", 1, 0.55, true, R"("2")");
  RunResult r = run_taper("report " + dir.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "bits.png"));
  CHECK(r.out.find("bits.png") != std::string::npos);

  TempDir mixed;  // two sizes: no common size to compare at; the one-size report's bits.png goes
  fake_run(mixed, "a-s1", "2", 1, 0.5, true, R"("2")");
  REQUIRE(run_taper("report " + mixed.path()).exit_code == 0);
  REQUIRE(std::filesystem::exists(mixed / "bits.png"));
  fake_run(mixed, "b-s1", "4-2-1", 1, 0.55, true, R"("4")");
  r = run_taper("report " + mixed.path());
  REQUIRE(r.exit_code == 0);
  CHECK(!std::filesystem::exists(mixed / "bits.png"));
  CHECK(r.out.find("bits.png") == std::string::npos);
}

TEST_CASE("chart: a log x axis spaces decades evenly, points carry their series' color") {
  Chart c;
  c.log_x = true;
  Series s;
  s.label = "s";
  s.color = palette(3);
  s.marker = Marker::Square;
  s.x = {10, 100, 1000};
  s.y = {1, 2, 3};
  s.err = {0.5, 0, 0};
  c.series = {s};
  PlotPoint a = chart_point(c, 10, 1), b = chart_point(c, 100, 2), d = chart_point(c, 1000, 3);
  CHECK(std::abs((b.x - a.x) - (d.x - b.x)) <= 1);
  CHECK(b.y < a.y);  // larger y is higher up
  Image img = draw_chart(c);
  auto at = [&](PlotPoint p) {
    const uint8_t* px = &img.rgb[(static_cast<size_t>(p.y) * img.width + p.x) * 3];
    return Color{px[0], px[1], px[2]};
  };
  CHECK(at(a) == palette(3));
  CHECK(at(d) == palette(3));
  PlotPoint top = chart_point(c, 10, 1.5);  // the error bar's end
  CHECK(at(top) == palette(3));
  c.series[0].x[0] = 0;  // log of 0
  CHECK_THROWS(draw_chart(c));
}

TEST_CASE("chart: a point's tag goes where it hides no line, error bar or other tag") {
  // A rising line through three points, each tagged and with an error bar:
  // the usual spot (above right) lies on the line, so a tag must move.
  Chart c;
  Series s;
  s.color = palette(0);
  s.line = true;
  s.x = {1, 2, 3};
  s.y = {1, 2, 3};
  s.err = {0.3, 0.3, 0.3};
  Series t = s;  // a second, flat series crossing the middle point
  t.color = palette(1);
  t.x = {1.5, 2.5};
  t.y = {2.02, 2.02};
  t.err.clear();
  c.series = {s, t};
  auto count = [](const Image& img, Color col) {
    size_t n = 0;
    for (size_t i = 0; i < img.rgb.size(); i += 3) n += Color{img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]} == col;
    return n;
  };
  const Image bare = draw_chart(c);
  c.series[0].tags = {"first point", "second point", "third point"};
  const Image tagged = draw_chart(c);
  CHECK(count(tagged, palette(0)) == count(bare, palette(0)));
  CHECK(count(tagged, palette(1)) == count(bare, palette(1)));
  CHECK(count(tagged, Color{30, 30, 30}) > 0);  // the tags' text was drawn
}

TEST_CASE("chart ticks: round steps of 1, 2 or 5 x 10^k inside the range") {
  using V = std::vector<double>;
  CHECK(nice_ticks(36.0, 88.0, 6) == V{40, 50, 60, 70, 80});        // 8.67: step 10
  CHECK(nice_ticks(71.9, 85.1, 6) == V{72, 74, 76, 78, 80, 82, 84});  // 2.2: step 2
  CHECK(nice_ticks(0.46, 10.54, 10) == V{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});  // 1.008: step 1
  CHECK(nice_ticks(0.5, 5.5, 5) == V{1, 2, 3, 4, 5});
  CHECK(nice_ticks(1.0, 5.0, 10) == V{1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0});
  CHECK(nice_ticks(1.0, 5.0, 10, 1.0) == V{1, 2, 3, 4, 5});  // whole numbers (epochs)
  CHECK(nice_ticks(0.0, 100.0, 10, 1.0) == V{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100});  // a larger step stays
  CHECK(nice_ticks(-1.0, 1.0, 4) == V{-1.0, -0.5, 0.0, 0.5, 1.0});  // 0 and the ends included
  V small = nice_ticks(0.0, 0.25, 5);                               // step 0.05
  REQUIRE(small.size() == 6);
  CHECK(std::abs(small[1] - 0.05) < 1e-12);
  CHECK(tick_label(small[1], small[1] - small[0]) == "0.05");
  CHECK(tick_label(40, 10) == "40");
  CHECK(tick_label(2.5, 0.5) == "2.5");
  CHECK(tick_label(0.0, 0.5) == "0.0");
  CHECK_THROWS(nice_ticks(1.0, 1.0, 5));
  CHECK_THROWS(nice_ticks(0.0, INFINITY, 5));
}
