// Reliability input and output: CSV and sweep-results readers (with their error messages),
// the JSON report round trip, the HTML page, Wilson and bootstrap intervals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "keytok/reliability.hpp"
#include "reliability_sim.hpp"

namespace keytok {
namespace {

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "keytok_reliability_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void expect_error(const Status& status, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(status.ok());
  for (const std::string& f : fragments) {
    EXPECT_NE(status.message().find(f), std::string::npos)
        << "message: " << status.message() << "\nmissing: " << f;
  }
}

constexpr const char* kHeader = R"({"format":"keytok-sweep","version":1,"model":"m.gguf"})";

std::string trial_line(int length, bool success, int tokens, const char* key) {
  char line[256];
  std::snprintf(
      line, sizeof line,
      R"({"id":"t","family":"copy","length":%d,"success":%s,"n_output_tokens":%d,"n_key":%s})",
      length, success ? "true" : "false", tokens, key);
  return line;
}

TEST(TrialsCsv, ExpandsRowsIntoTrials) {
  auto trials =
      parse_trials_csv("length,trials,successes\n4,3,2\n\n# comment\n8, 2, 0\r\n", "r.csv");
  ASSERT_TRUE(trials.ok()) << trials.status().to_string();
  ASSERT_EQ(trials->size(), 5u);
  int successes = 0;
  for (const Trial& t : *trials) {
    EXPECT_EQ(t.k, -1);
    successes += t.success;
  }
  EXPECT_EQ(successes, 2);
  EXPECT_EQ((*trials)[3].n, 8);
}

TEST(TrialsCsv, BadRowsNameTheLine) {
  expect_error(parse_trials_csv("4,3,2\n8,2\n", "r.csv").status(), {"r.csv:2:", "three"});
  expect_error(parse_trials_csv("4,3,5\n", "r.csv").status(), {"r.csv:1:", "successes <= trials"});
  expect_error(parse_trials_csv("0,3,1\n", "r.csv").status(), {"r.csv:1:", "length >= 1"});
  expect_error(parse_trials_csv("4,x,1\n", "r.csv").status(), {"r.csv:1:"});
  expect_error(parse_trials_csv("", "r.csv").status(), {"no trials"});
}

// The measured-k model's survival data: a failed trial whose first error the sweep located
// counts the steps and key steps before that error and notes whether the error step was
// flagged; what it generated after failing is left out. A success counts every step.
TEST(SweepResults, MeasuredKSurvivalDataStopAtTheFirstError) {
  const std::string text =
      std::string(kHeader) + "\n" +
      R"({"id":"a","family":"copy","length":8,"success":false,"n_output_tokens":40,"n_key":9,"n_at_risk":6,"n_key_at_risk":2,"first_error_key":true})" +
      "\n" +
      R"({"id":"b","family":"copy","length":8,"success":true,"n_output_tokens":12,"n_key":3,"n_at_risk":13,"n_key_at_risk":3})" +
      "\n" +
      R"({"id":"c","family":"copy","length":8,"success":false,"n_output_tokens":7,"n_key":1,"n_at_risk":5,"n_key_at_risk":1,"first_error_key":false})" +
      "\n" + R"({"id":"d","family":"copy","length":8,"success":false,"n_output_tokens":7,"n_key":2})" + "\n";
  auto trials = parse_sweep_trials(text, "s.jsonl");
  ASSERT_TRUE(trials.ok()) << trials.status().to_string();
  ASSERT_EQ(trials->size(), 4u);
  const Trial& a = (*trials)[0];
  EXPECT_EQ(a.k, 9);  // predictions still see the whole output
  EXPECT_EQ(a.n_tokens, 40);
  EXPECT_EQ(a.k_at_risk, 1);  // 2 key steps at risk, the error step among them
  EXPECT_EQ(a.t_at_risk, 5);
  EXPECT_EQ(a.error_key, 1);
  const Trial& b = (*trials)[1];
  EXPECT_EQ(b.k_at_risk, 3);
  EXPECT_EQ(b.t_at_risk, 13);
  EXPECT_EQ(b.error_key, -1);
  const Trial& c = (*trials)[2];
  EXPECT_EQ(c.k_at_risk, 1);
  EXPECT_EQ(c.t_at_risk, 4);
  EXPECT_EQ(c.error_key, 0);
  const Trial& d = (*trials)[3];  // no reference: the binomial form over the whole output
  EXPECT_EQ(d.k_at_risk, -1);
  EXPECT_EQ(d.error_key, -1);
}

TEST(SweepResults, ReadsTrialsWithTaskLengthOrOutputTokens) {
  const std::string text = std::string(kHeader) + "\n" + trial_line(8, true, 12, "2") + "\n" +
                           trial_line(16, false, 0, "null") + "\n";
  auto by_length = parse_sweep_trials(text, "s.jsonl");
  ASSERT_TRUE(by_length.ok()) << by_length.status().to_string();
  ASSERT_EQ(by_length->size(), 2u);
  EXPECT_EQ((*by_length)[0].n, 8);
  EXPECT_EQ((*by_length)[0].k, 2);
  EXPECT_EQ((*by_length)[0].n_tokens, 12);
  EXPECT_TRUE((*by_length)[0].success);
  EXPECT_EQ((*by_length)[1].k, -1);        // null n_key: unknown
  EXPECT_EQ((*by_length)[1].n_tokens, 1);  // an empty output counts as one decision
  auto by_tokens = parse_sweep_trials(text, "s.jsonl", TrialLength::output_tokens);
  ASSERT_TRUE(by_tokens.ok());
  EXPECT_EQ((*by_tokens)[0].n, 12);
  EXPECT_EQ((*by_tokens)[1].n, 1);
}

TEST(SweepResults, RejectsOtherFormatsAndVersionsNamingTheLine) {
  expect_error(
      parse_sweep_trials(std::string(1, '\n') + trial_line(8, true, 3, "0"), "s.jsonl").status(),
      {"s.jsonl:2: not a sweep results file: the first line must be the header"});
  expect_error(parse_sweep_trials(R"({"format":"keytok-tasks","version":1})", "s.jsonl").status(),
               {"s.jsonl:1:", "keytok-tasks"});
  expect_error(parse_sweep_trials(R"({"format":"keytok-sweep","version":2})", "s.jsonl").status(),
               {"s.jsonl:1:", "version 2"});
  expect_error(parse_sweep_trials(std::string(kHeader) + "\n" + kHeader, "s.jsonl").status(),
               {"s.jsonl:2:", "second header"});
}

TEST(SweepResults, BadTrialLinesNameTheLine) {
  const std::string h = std::string(kHeader) + "\n";
  expect_error(
      parse_sweep_trials(h + R"({"length":4,"n_output_tokens":3,"n_key":0})", "s").status(),
      {"s:2:", "success"});
  expect_error(
      parse_sweep_trials(h + R"({"success":true,"n_output_tokens":3,"n_key":0})", "s").status(),
      {"s:2:", "\"length\""});
  expect_error(parse_sweep_trials(h + trial_line(4, true, 3, "5"), "s").status(),
               {"s:2:", "n_key 5"});
  expect_error(parse_sweep_trials(h + trial_line(0, true, 3, "0"), "s").status(),
               {"s:2:", "--n output_tokens"});
  expect_error(parse_sweep_trials(h +
                                      R"({"length":4,"succ)"
                                      "\n" +
                                      trial_line(4, true, 3, "0"),
                                  "s")
                   .status(),
               {"s:2:", "not valid JSON"});
  expect_error(
      parse_sweep_trials(h + trial_line(4, true, 3, "0") + "\n" + R"({"length":4,"succ)", "s")
          .status(),
      {"s:3:", "cut off", "--resume"});
  expect_error(parse_sweep_trials(std::string(kHeader) + "\n", "s").status(), {"no trials"});
  expect_error(parse_sweep_trials("", "s").status(), {"empty"});
}

TEST(SweepResults, LoadTrialsDetectsTheFormatByContent) {
  const std::string csv = temp_path("trials.csv");
  std::ofstream(csv) << "length,trials,successes\n4,2,1\n";
  const std::string jsonl = temp_path("sweep.jsonl");
  std::ofstream(jsonl) << kHeader << "\n" << trial_line(4, true, 5, "1") << "\n";
  auto a = load_trials(csv);
  auto b = load_trials(jsonl);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 2u);
  EXPECT_EQ(b->size(), 1u);
  EXPECT_EQ(load_trials(temp_path("missing.jsonl")).status().code(), StatusCode::not_found);
}

FitReport small_report() {
  const testing::SimCase c = testing::sim_cases()[1];  // two_rate_measured_k: every model fits
  auto report = fit_reliability(testing::simulate(c, testing::kDoubling4To128, 30, 5), {});
  EXPECT_TRUE(report.ok());
  return *report;
}

TEST(FitReportJson, RoundTripsEveryField) {
  FitReport r = small_report();
  r.models.push_back(ModelFit{.model = ReliabilityModel::power_law,
                              .name = "power_law",
                              .skip_reason = "skipped for the test",
                              .n_params = 2});
  const std::string json = fit_report_json(r);
  EXPECT_EQ(json.find("{\n  \"format\": \"keytok-fit\",\n  \"version\": 1"), 0u);
  auto back = parse_fit_report_json(json);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(fit_report_json(*back), json);  // everything written is read back
  EXPECT_EQ(back->winner, r.winner);
  ASSERT_EQ(back->models.size(), r.models.size());
  EXPECT_EQ(back->models[0].parameters[0].lo, r.models[0].parameters[0].lo);
  EXPECT_FALSE(back->models.back().fitted);
}

TEST(FitReportJson, RejectsOtherFormatsAndVersions) {
  expect_error(parse_fit_report_json(R"({"format":"keytok-sweep","version":1})").status(),
               {"keytok-fit"});
  expect_error(parse_fit_report_json(R"({"format":"keytok-fit","version":9})").status(),
               {"version 9"});
  expect_error(parse_fit_report_json("{").status(), {"not valid JSON"});
  expect_error(parse_fit_report_json(R"({"format":"keytok-fit","version":1})").status(),
               {"missing"});
}

TEST(FitReportHtml, IsOneSelfContainedPageWithPlotAndTables) {
  const FitReport r = small_report();
  const std::string html = fit_report_html(r, "title <x>");
  EXPECT_EQ(html.find("<!DOCTYPE html>"), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  EXPECT_NE(html.find("title &lt;x&gt;"), std::string::npos);
  for (const ModelFit& m : r.models) EXPECT_NE(html.find(m.name), std::string::npos) << m.name;
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external links
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  const std::string path = temp_path("fit.html");
  ASSERT_TRUE(write_fit_html(r, path).ok());
  EXPECT_GT(std::filesystem::file_size(path), 1000u);
  EXPECT_FALSE(write_fit_html(r, temp_path("no/such/dir/fit.html")).ok());
}

TEST(Intervals, WilsonMatchesKnownValues) {
  // 8 of 10 at 95%: [0.4902, 0.9433] (Wilson 1927; e.g. R's prop.test without correction).
  const Interval w = wilson_interval(8, 10);
  EXPECT_DOUBLE_EQ(w.estimate, 0.8);
  EXPECT_NEAR(w.lo, 0.4902, 1e-4);
  EXPECT_NEAR(w.hi, 0.9433, 1e-4);
  const Interval zero = wilson_interval(0, 20);
  EXPECT_EQ(zero.lo, 0.0);
  EXPECT_NEAR(zero.hi, 0.1611, 1e-4);
  const Interval none = wilson_interval(0, 0);
  EXPECT_EQ(none.lo, 0.0);
  EXPECT_EQ(none.hi, 1.0);
}

TEST(Intervals, BootstrapOfAMeanIsDeterministicAndCoversIt) {
  std::vector<double> x;
  for (int i = 0; i < 200; ++i) x.push_back(i % 10);  // mean 4.5, sd ~2.87
  const auto mean = [&](const std::vector<std::size_t>& idx) {
    double s = 0;
    for (const std::size_t i : idx) s += x[i];
    return s / idx.size();
  };
  auto a = bootstrap_ci(x.size(), mean, {.resamples = 1000, .seed = 3});
  auto b = bootstrap_ci(x.size(), mean, {.resamples = 1000, .seed = 3});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->lo, b->lo);
  EXPECT_EQ(a->hi, b->hi);
  EXPECT_DOUBLE_EQ(a->estimate, 4.5);
  // Normal approximation: 4.5 +- 1.96 * 2.87 / sqrt(200) = [4.10, 4.90].
  EXPECT_NEAR(a->lo, 4.10, 0.1);
  EXPECT_NEAR(a->hi, 4.90, 0.1);
  EXPECT_FALSE(bootstrap_ci(0, mean).ok());
}

TEST(Intervals, BootstrapRateRatioOfKeyAndNonKeyErrors) {
  // 100 trials: 2 of 10 key tokens wrong vs 1 of 90 non-key tokens wrong -> ratio 0.2 / 0.0111
  // = 18.
  std::vector<RateRatioUnit> units;
  for (int i = 0; i < 100; ++i) {
    units.push_back({.num_events = i % 5 == 0 ? 1.0 : 0.0,
                     .num_total = 1.0,
                     .den_events = i % 10 == 0 ? 1.0 : 0.0,
                     .den_total = 9.0});
  }
  auto r = bootstrap_rate_ratio(units, {.resamples = 1000, .seed = 1});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NEAR(r->estimate, 18.0, 1e-9);
  EXPECT_LT(r->lo, 18.0);
  EXPECT_GT(r->hi, 18.0);
  EXPECT_GT(r->lo, 5.0);
  std::vector<RateRatioUnit> no_events(10, RateRatioUnit{1, 1, 0, 9});
  EXPECT_FALSE(bootstrap_rate_ratio(no_events).ok());
}

}  // namespace
}  // namespace keytok
