// The sweep report on hand-made trial records, and the trial-line round trip.
#include <gtest/gtest.h>

#include <fstream>

#include "keytok/sweep.hpp"

namespace keytok {
namespace {

TrialRecord trial(std::string id, std::string family, int length, bool success, int n_out, int n_key,
                  std::optional<int> err_token, std::optional<bool> err_key, int n_key_at_risk) {
  TrialRecord t;
  t.id = std::move(id);
  t.family = std::move(family);
  t.length = length;
  t.success = success;
  t.n_output_tokens = n_out;
  t.n_key = n_key;
  t.first_error_token = err_token;
  t.first_error_key = err_key;
  if (err_token) {
    t.first_error_kind = "mismatch";
    t.n_at_risk = *err_token + 1;
  } else {
    t.n_at_risk = n_out + 1;
  }
  t.n_key_at_risk = n_key_at_risk;
  return t;
}

TEST(SweepReport, CountsRecallAndPerStepRates) {
  // 4 trials: two errors on key steps, one on a non-key step, one success.
  const std::vector<TrialRecord> trials = {
      trial("a", "copy", 4, false, 10, 2, 3, true, 2),    // 4 steps at risk, 2 key
      trial("b", "copy", 4, false, 10, 1, 1, true, 1),    // 2 steps, 1 key
      trial("c", "count", 8, false, 10, 1, 5, false, 1),  // 6 steps, 1 key
      trial("d", "count", 8, true, 9, 2, std::nullopt, std::nullopt, 2),  // 10 steps, 2 key
  };
  const SweepReport r = summarize_sweep(trials, {.resamples = 200, .seed = 3});
  EXPECT_EQ(r.overall.trials, 4);
  EXPECT_EQ(r.overall.successes, 1);
  EXPECT_EQ(r.overall.first_errors, 3);
  EXPECT_NEAR(r.overall.error_recall.estimate, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.overall.key_fraction, 6.0 / 39.0, 1e-12);
  ASSERT_TRUE(r.overall.p_error_key.has_value());
  // Key steps at risk: 2 + 1 + 1 + 2 = 6 with 2 errors; non-key: 2 + 1 + 5 + 8 = 16 with 1 error.
  EXPECT_NEAR(r.overall.p_error_key->estimate, 2.0 / 6.0, 1e-12);
  EXPECT_NEAR(r.overall.p_error_non_key->estimate, 1.0 / 16.0, 1e-12);
  ASSERT_TRUE(r.overall.error_ratio.has_value());
  EXPECT_NEAR(r.overall.error_ratio->estimate, (2.0 / 6.0) / (1.0 / 16.0), 1e-9);
  ASSERT_EQ(r.by_family.size(), 2u);
  EXPECT_EQ(r.by_family[0].family, "copy");
  EXPECT_NEAR(r.by_family[0].error_recall.estimate, 1.0, 1e-12);
  ASSERT_EQ(r.by_family_length.size(), 2u);
  EXPECT_EQ(r.by_family_length[1].length, 8);
  EXPECT_NE(sweep_report_text(r).find("(all)"), std::string::npos);
}

TEST(SweepReport, NoErrorsLeavesRecallUndefined) {
  const std::vector<TrialRecord> trials = {trial("a", "copy", 4, true, 5, 1, std::nullopt, std::nullopt, 1)};
  const SweepReport r = summarize_sweep(trials, {.resamples = 50});
  EXPECT_EQ(r.overall.first_errors, 0);
  EXPECT_FALSE(r.overall.error_ratio.has_value());  // no errors: the ratio is undefined
  EXPECT_NE(sweep_report_text(r).find("n/a"), std::string::npos);
}

TEST(TrialRecord, RoundTripsThroughJson) {
  TrialRecord t = trial("x-1", "add", 16, false, 12, 3, 12, true, 3);
  t.first_error_kind = "stopped_early";
  t.first_error_entropy = 2.5;
  t.first_error_margin = 0.125;
  t.output = "12 \"quoted\"\nline";
  t.sample = 2;
  auto back = parse_trial_record(trial_record_json(t), "here:1");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->id, t.id);
  EXPECT_EQ(back->sample, 2);
  EXPECT_EQ(back->output, t.output);
  EXPECT_EQ(back->first_error_token, t.first_error_token);
  EXPECT_EQ(back->first_error_kind, t.first_error_kind);
  EXPECT_EQ(back->first_error_key, t.first_error_key);
  EXPECT_EQ(back->first_error_entropy, t.first_error_entropy);
  EXPECT_EQ(back->n_at_risk, t.n_at_risk);
  EXPECT_EQ(back->n_key_at_risk, t.n_key_at_risk);
  auto bad = parse_trial_record("{\"id\": 1}", "res.jsonl:7");
  EXPECT_EQ(bad.status().code(), StatusCode::format_error);
  EXPECT_EQ(bad.status().message(), "res.jsonl:7: the trial line has no \"length\"");
}

TEST(SweepResults, LoadToleratesOnlyACutOffLastLine) {
  const std::string path = ::testing::TempDir() + "/cut.jsonl";
  const std::string good = trial_record_json(trial("a", "copy", 4, true, 5, 1, std::nullopt, std::nullopt, 1));
  std::ofstream(path) << "{\"format\":\"keytok-sweep\",\"version\":1,\"model\":\"m.gguf\","
                         "\"settings\":{\"samples\":1}}\n"
                      << good << "\n" << good.substr(0, 20);
  auto r = load_sweep_results(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->cut_off_line, 3);
  ASSERT_EQ(r->trials.size(), 1u);
  EXPECT_EQ(r->trials[0].id, "a");
  EXPECT_EQ(r->header.model, "m.gguf");
  EXPECT_EQ(r->header.settings_json, "{\"samples\":1}");
  // A broken line that is not the last is an error, with its line number.
  std::ofstream(path) << "{\"format\":\"keytok-sweep\",\"version\":1}\n" << good.substr(0, 20) << "\n" << good << "\n";
  auto broken = load_sweep_results(path);
  EXPECT_EQ(broken.status().code(), StatusCode::format_error);
  EXPECT_EQ(broken.status().message().rfind(path + ":2: not valid JSON", 0), 0u) << broken.status().message();
  std::ofstream(path) << "{\"format\":\"keytok-tasks\",\"version\":1}\n";
  auto other = load_sweep_results(path);
  EXPECT_EQ(other.status().code(), StatusCode::format_error);
  EXPECT_NE(other.status().message().find(path + ":1: not a sweep results file"), std::string::npos);
  EXPECT_NE(other.status().message().find("\"keytok-tasks\", a task file"), std::string::npos)
      << other.status().message();
}

TEST(SweepResults, HeaderLineRoundTrips) {
  const SweepHeader h{.model = "models/x.gguf", .tasks = "t.jsonl", .samples = 3, .temperature = 0.7,
                      .seed = 42, .detector = "entropy >= 2", .detector_source = "builtin",
                      .created = "2026-12-01T00:00:00Z", .settings_json = "{\"raw\":false}"};
  const std::string path = ::testing::TempDir() + "/header.jsonl";
  std::ofstream(path) << sweep_header_line(h) << "\n";
  auto r = load_sweep_results(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->trials.empty());
  EXPECT_EQ(r->header.model, h.model);
  EXPECT_EQ(r->header.tasks, h.tasks);
  EXPECT_EQ(r->header.samples, 3);
  EXPECT_DOUBLE_EQ(r->header.temperature, 0.7);
  EXPECT_EQ(r->header.seed, 42u);
  EXPECT_EQ(r->header.detector, h.detector);
  EXPECT_EQ(r->header.detector_source, h.detector_source);
  EXPECT_EQ(r->header.created, h.created);
  EXPECT_EQ(r->header.settings_json, h.settings_json);
  EXPECT_EQ(sweep_header_line(h).rfind("{\"format\":\"keytok-sweep\",\"version\":1,", 0), 0u);
}

TEST(SweepResults, TrialLinesAreValidated) {
  const auto message = [](const std::string& line) {
    return parse_trial_record(line, "f:9").status().message();
  };
  EXPECT_EQ(message(R"({"id":"a","length":-1,"success":true,"n_output_tokens":3})"),
            "f:9: \"length\" must be a non-negative integer");
  EXPECT_EQ(message(R"({"id":"a","length":1,"success":true,"n_output_tokens":3,"n_key":4})"),
            "f:9: n_key 4 exceeds n_output_tokens 3");
  EXPECT_EQ(message(R"({"id":"a","length":1,"success":"yes","n_output_tokens":3})"),
            "f:9: the trial line needs a boolean \"success\"");
  EXPECT_EQ(message(R"({"id":"a","length":1,"success":true,"n_output_tokens":3,"first_error_key":7})"),
            "f:9: \"first_error_key\" has the wrong type (7)");
  EXPECT_EQ(message("[1]"), "f:9: not a valid trial line (a JSON object); rerun keytok sweep with --resume, or delete the line");
}

}  // namespace
}  // namespace keytok
