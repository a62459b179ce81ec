// keytok generate and keytok bench through the real binary: bad input fails cleanly; a small
// bench appends rows and resumes without losing or duplicating them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

void expect_clean_failure(const CliRun& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_LT(r.exit_code, 124) << "crashed or hung: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr was: " << r.err;
}

TEST(CliGenerate, UnknownStrategy) {
  expect_clean_failure(run_keytok({"generate", "-p", "hi", "--strategy", "beam:4"}), "unknown strategy");
}

TEST(CliGenerate, TooManySequences) {
  expect_clean_failure(run_keytok({"generate", "-p", "hi", "--strategy", "sc:300"}), "1..256");
  expect_clean_failure(run_keytok({"generate", "-p", "hi", "--strategy", "deepconf:1000"}), "1..256");
}

TEST(CliGenerate, BudgetBelowOneAnswer) {
  REQUIRE_MODEL(model);
  expect_clean_failure(run_keytok({"generate", "-m", model, "-p", "hi", "--strategy", "sc:8", "--budget", "4"}),
                       "below what one answer needs");
  expect_clean_failure(run_keytok({"generate", "-m", model, "-p", "hi", "--budget", "-3"}), "budget");
}

TEST(CliGenerate, PromptLongerThanContext) {
  REQUIRE_MODEL(model);
  std::string prompt;
  for (int i = 0; i < 400; ++i) prompt += "word ";
  expect_clean_failure(run_keytok({"generate", "-m", model, "--ctx", "256", "-p", prompt}), "context");
}

TEST(CliGenerate, JsonHasTreeAndCost) {
  REQUIRE_MODEL(model);
  const CliRun r = run_keytok({"generate", "-m", model, "-p", "What is 2 + 3?", "--strategy", "sc:2",
                               "--max-tokens", "6", "--match", "number", "--json", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["strategy"], "sc:2");
  EXPECT_EQ(j["paths"].size(), 2u);
  EXPECT_LE(j["cost"]["generated_tokens"].get<int>(), 12);
  EXPECT_GT(j["cost"]["prompt_tokens"].get<int>(), 0);
  EXPECT_TRUE(j.contains("vote"));
}

// branch says which key-token rule it forked on and where that rule came from.
TEST(CliGenerate, BranchNamesItsRuleAndItsSource) {
  REQUIRE_MODEL(model);
  CliRun r = run_keytok({"generate", "-m", model, "-p", "What is 2 + 3?", "--strategy", "branch", "--max-tokens",
                         "6", "--json", "--entropy-threshold", "1.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["detector"], "entropy >= 1.500 nats");
  EXPECT_EQ(j["detector_source"], "flags");
  r = run_keytok({"generate", "-m", model, "-p", "What is 2 + 3?", "--strategy", "branch", "--max-tokens", "6",
                  "--no-auto-calibrate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("key tokens: entropy >= 2.000 nats (default rule)\n"), std::string::npos) << r.err;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

TEST(CliBench, AppendsResumesAndRefusesToOverwrite) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("bench");
  write_file(dir + "/tasks.jsonl",
             "{\"id\":\"a\",\"prompt\":\"What is 2 + 3?\",\"answer\":\"5\",\"match\":\"number\"}\n"
             "{\"id\":\"b\",\"prompt\":\"What is 4 + 4?\",\"answer\":\"8\",\"match\":\"number\"}\n");
  const std::string out = dir + "/results.jsonl";
  const std::vector<std::string> base = {"bench", "-m", model, "--tasks", dir + "/tasks.jsonl", "--strategies",
                                         "greedy,sc:2", "--max-tokens", "6", "-t", "1", "-o", out};
  CliRun r = run_keytok(base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sc:2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Wilson"), std::string::npos) << r.out;
  const std::vector<std::string> first = lines_of(read_file(out));
  ASSERT_EQ(first.size(), 5u);  // header + 2 tasks x 2 strategies
  EXPECT_EQ(nlohmann::json::parse(first[0])["format"], "keytok-bench");

  expect_clean_failure(run_keytok(base), "--resume");

  // A kill mid-write leaves a partial last line and a missing row: resume cuts the partial
  // line and re-runs only the missing row.
  std::string body;
  for (std::size_t i = 0; i + 1 < first.size(); ++i) body += first[i] + "\n";
  body += "{\"task\":\"b\",\"strat";
  write_file(out, body);
  std::vector<std::string> resume = base;
  resume.push_back("--resume");
  r = run_keytok(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> second = lines_of(read_file(out));
  ASSERT_EQ(second.size(), 5u) << read_file(out);
  for (std::size_t i = 0; i + 1 < first.size(); ++i) EXPECT_EQ(second[i], first[i]);
  const auto last = nlohmann::json::parse(second.back());
  EXPECT_EQ(last["task"], "b");
  EXPECT_EQ(last["strategy"], "sc:2");

  // Nothing left: a second resume adds no rows.
  r = run_keytok(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(read_file(out)).size(), 5u);
}

TEST(CliBench, UnknownStrategyInList) {
  const std::string dir = temp_dir("bench_bad");
  write_file(dir + "/tasks.jsonl", "{\"id\":\"a\",\"prompt\":\"2+3?\",\"answer\":\"5\",\"match\":\"number\"}\n");
  expect_clean_failure(run_keytok({"bench", "--tasks", dir + "/tasks.jsonl", "--strategies", "greedy,nope"}),
                       "unknown strategy");
  expect_clean_failure(run_keytok({"bench", "--tasks", dir + "/tasks.jsonl", "--strategies", "greedy,,sc:2"}),
                       "empty strategy");
}

}  // namespace
}  // namespace keytok::testing
