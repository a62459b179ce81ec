// `keytok tasks` and `keytok fit` run as the real binary: output files, stdout, exit codes and
// error messages. No model needed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

constexpr const char* kCsv =
    "length,trials,successes\n4,100,90\n8,100,80\n16,100,66\n32,100,45\n64,100,22\n128,100,6\n";

TEST(TasksCli, SameSeedWritesTheSameFile) {
  const std::string dir = temp_dir("tasks_seed");
  const std::vector<std::string> args = {"tasks", "--family", "copy,add", "--lengths", "4,8",
                                         "--per", "3",        "--seed",   "9",         "-o"};
  std::vector<std::string> a = args, b = args;
  a.push_back(dir + "/a.jsonl");
  b.push_back(dir + "/b.jsonl");
  const CliRun ra = run_keytok(a);
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(run_keytok(b).exit_code, 0);
  EXPECT_EQ(read_file(dir + "/a.jsonl"), read_file(dir + "/b.jsonl"));
  const auto summary = nlohmann::json::parse(ra.out);
  EXPECT_EQ(summary["count"], 12);
  EXPECT_EQ(read_file(dir + "/a.jsonl").rfind(R"({"format":"keytok-tasks","version":1)", 0), 0u);
}

TEST(TasksCli, NeedleOnlyWhenNamed) {
  const std::string dir = temp_dir("tasks_needle");
  const CliRun r = run_keytok(
      {"tasks", "--family", "needle", "--lengths", "300", "--per", "10", "-o", dir + "/n.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["count"], 10);
  std::istringstream lines(read_file(dir + "/n.jsonl"));
  std::string line;
  std::getline(lines, line);  // header
  int n = 0;
  for (; std::getline(lines, line); ++n) {
    const auto task = nlohmann::json::parse(line);
    EXPECT_EQ(task["family"], "needle");
    EXPECT_EQ(task["match"], "number");
    EXPECT_EQ(task["length"], 300);
    EXPECT_EQ(task["answer"].get<std::string>().size(), 5u);
  }
  EXPECT_EQ(n, 10);
  // The default families leave needle out; --list names it.
  const CliRun d = run_keytok({"tasks", "--lengths", "4", "--per", "1", "-o", dir + "/d.jsonl"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(read_file(dir + "/d.jsonl").find("needle"), std::string::npos);
  EXPECT_EQ(run_keytok({"tasks", "--list"}).out,
            "copy\nreverse\ncount\nsequence\nspell\nadd\nneedle\n");
}

TEST(TasksCli, BadArgumentsFailWithAMessage) {
  const std::string dir = temp_dir("tasks_bad");
  // Flag values CLI11 checks: its ValidationError, 105; a missing -o: keytok's own error, 1.
  EXPECT_TRUE(exits_with(run_keytok({"tasks", "--family", "nope", "-o", dir + "/t.jsonl"}), 105,
                         "--family: nope not in {copy,reverse,count,sequence,spell,add,needle}\n"));
  EXPECT_TRUE(
      exits_with(run_keytok({"tasks", "--lengths", "4"}), 1,
                 "keytok tasks: error: no output file; pass -o FILE (e.g. -o tasks.jsonl)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"tasks", "--lengths", "0", "-o", dir + "/t.jsonl"}), 105,
                         "--lengths: Value 0 not in range 1 to 4096\n"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/t.jsonl"));
}

TEST(FitCli, FitsACsvAndWritesHtml) {
  const std::string dir = temp_dir("fit_csv");
  write_file(dir + "/c.csv", kCsv);
  const CliRun r = run_keytok({"fit", dir + "/c.csv", "--html", dir + "/fit.html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("winner: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("two_rate_measured_k     skipped"), std::string::npos) << r.out;
  EXPECT_NE(read_file(dir + "/fit.html").find("<svg"), std::string::npos);
}

TEST(FitCli, JsonReportHasTheFormatHeader) {
  const std::string dir = temp_dir("fit_json");
  write_file(dir + "/c.csv", kCsv);
  const CliRun r = run_keytok({"fit", dir + "/c.csv", "--json", "--no-ci", "--models",
                               "exponential,stretched_exponential"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["format"], "keytok-fit");
  EXPECT_EQ(report["version"], 1);
  EXPECT_EQ(report["models"].size(), 2u);
  EXPECT_EQ(report["n_trials"], 600);
}

TEST(FitCli, FitsSweepResultsWithKeyCounts) {
  const std::string dir = temp_dir("fit_sweep");
  std::string text = R"({"format":"keytok-sweep","version":1})"
                     "\n";
  for (int n : {4, 8, 16, 32}) {
    for (int i = 0; i < 20; ++i) {
      const int k = i % 4;
      const bool ok = (i * 7 + n) % 10 < (n <= 8 ? 8 : 5) - k;
      char line[200];
      std::snprintf(line, sizeof line,
                    R"({"id":"t%d-%d","family":"copy","length":%d,"success":%s,)"
                    R"("n_output_tokens":%d,"n_key":%d})"
                    "\n",
                    n, i, n, ok ? "true" : "false", 2 * n, k);
      text += line;
    }
  }
  write_file(dir + "/r.jsonl", text);
  const CliRun r = run_keytok({"fit", dir + "/r.jsonl", "--json", "--no-ci"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["n_trials"], 80);
  bool measured = false;
  for (const auto& m : report["models"]) {
    if (m["name"] == "two_rate_measured_k") measured = m["fitted"].get<bool>();
  }
  EXPECT_TRUE(measured);
}

TEST(FitCli, ResultsOfAnotherVersionAreRejectedNamingTheLine) {
  const std::string dir = temp_dir("fit_version");
  write_file(dir + "/r.jsonl", R"({"format":"keytok-sweep","version":7})"
                               "\n");
  EXPECT_TRUE(exits_with(run_keytok({"fit", dir + "/r.jsonl"}), 1,
                         "keytok fit: error: " + dir +
                             "/r.jsonl:1: sweep results file version 7 is not supported "
                             "(this keytok reads version 1); use the keytok that wrote the file, or write it "
                             "again with this one\n"));
  EXPECT_TRUE(exits_with(
      run_keytok({"fit", dir + "/missing.jsonl"}), 1,
      "keytok fit: error: results file not found: " + dir + "/missing.jsonl; check the path\n"));
  EXPECT_TRUE(exits_with(run_keytok({"fit", dir + "/r.jsonl", "--models", "cubic"}), 105,
                         "--models: Check cubic value in {exponential->0,"));
}

}  // namespace
}  // namespace keytok::testing
