// The analyze, calibrate and demo subcommands end to end on the default model.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

TEST(CliAnalyze, GenerateWritesJsonlHtmlAndSummary) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("analyze");
  const CliRun r = run_keytok({"analyze", "-m", model, "-p", "Name two planets.", "--generate", "12",
                               "--jsonl", dir + "/t.jsonl", "--html", dir + "/r.html", "--no-auto-calibrate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  for (const char* k : {"model", "n_tokens", "n_key", "key_fraction", "mean_entropy", "surprisal_share_key",
                        "rule", "rule_source"}) {
    EXPECT_TRUE(summary.contains(k)) << k;
  }
  EXPECT_EQ(summary["rule_source"], "default rule");
  std::istringstream lines(read_file(dir + "/t.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  const auto header = nlohmann::json::parse(line);
  EXPECT_EQ(header["format"], "keytok-tokens");
  EXPECT_EQ(header["version"], 1);
  EXPECT_EQ(header["model"], summary["model"]);
  EXPECT_EQ(header["mode"], "generate");
  EXPECT_EQ(header["rule_source"], "default rule");
  int n = 0, n_key = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    for (const char* k : {"pos", "token_id", "piece", "logprob", "entropy", "varentropy", "top1_prob", "margin",
                          "rank", "key", "top"}) {
      EXPECT_TRUE(j.contains(k)) << k;
    }
    EXPECT_EQ(j["pos"], n);
    n_key += j["key"].get<bool>();
    ++n;
  }
  EXPECT_EQ(n, summary["n_tokens"].get<int>());
  EXPECT_EQ(n_key, summary["n_key"].get<int>());
  const std::string html = read_file(dir + "/r.html");
  EXPECT_NE(html.find("<!doctype html>"), std::string::npos);
  EXPECT_NE(html.find("\"tokens\":["), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained
}

TEST(CliAnalyze, CalibrateThenAnalyzeUsesCalibration) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("calibrate");
  const std::string text = std::string(KEYTOK_SOURCE_DIR) + "/tests/data/calibration.txt";
  const CliRun cal = run_keytok({"calibrate", "-m", model, "--text", text, "--key-fraction", "0.1", "-o",
                                 dir + "/cal.json"});
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  const CliRun r = run_keytok({"analyze", "-m", model, "--text", text, "--calibration", dir + "/cal.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out);
  EXPECT_NE(s["rule_source"].get<std::string>().find("calibration"), std::string::npos);
  EXPECT_NEAR(s["key_fraction"].get<double>(), 0.1, 0.01);
}

TEST(CliDemo, WritesReportAndSaysWhere) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("demo");
  const CliRun r = run_keytok({"demo", "-m", model, "-n", "24", "-o", dir + "/report.html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report: " + dir + "/report.html"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key"), std::string::npos);
  EXPECT_FALSE(read_file(dir + "/report.html").empty());
}

}  // namespace
}  // namespace keytok::testing
