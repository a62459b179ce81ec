// keytok generate and keytok bench through the real binary: bad input fails with exit code 1
// and its message; a small bench appends rows and resumes after a partial line or a real kill
// without losing or duplicating them.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

TEST(CliGenerate, UnknownStrategy) {
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-p", "hi", "--strategy", "beam:4"}), 1,
                         "keytok generate: error: unknown strategy 'beam:4'; use greedy, sample, sc:N, branch, "
                         "deepconf:N or cascade\n"));
}

TEST(CliGenerate, CascadeNeedsALargeModelOfTheSameVocabulary) {
  REQUIRE_MODEL(model);
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "-s", "cascade"}), 1,
                         "keytok generate: error: strategy cascade needs a large model; pass --big-model PATH "
                         "(e.g. --big-model qwen2.5-coder-1.5b)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "--big-model", "smollm2-135m"}), 1,
                         "keytok generate: error: --big-model is used by the cascade strategy only; add cascade "
                         "or drop it\n"));
  EXPECT_TRUE(exits_with(
      run_keytok({"generate", "-m", "qwen2.5-coder-0.5b", "-p", "hi", "-s", "cascade", "--big-model", "smollm2-135m",
                  "--no-auto-calibrate"}),
      1,
      "keytok generate: error: the models do not share one vocabulary: Qwen2.5 Coder 0.5B Instruct AWQ and "
      "Smollm2 135M 8k Lc100K Mix1 Ep2 differ in size (151936 and 49152 tokens); a cascade needs two models of one "
      "family with one tokenizer (e.g. qwen2.5-coder-0.5b and qwen2.5-coder-1.5b)\n"));
  EXPECT_TRUE(exits_with(
      run_keytok({"generate", "-m", model, "-p", "hi", "-s", "cascade", "--big-model", "/nonexistent.gguf"}), 1,
      "keytok generate: error: --big-model: "));
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "-s", "cascade", "--rollback", "-1"}),
                         105, "--rollback: must be >= 0 (got -1)"));
}

TEST(CliGenerate, TooManySequences) {
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-p", "hi", "--strategy", "sc:300"}), 1,
                         "keytok generate: error: strategy 'sc:300': N must be in 1..256"));
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-p", "hi", "--strategy", "deepconf:1000"}), 1,
                         "keytok generate: error: strategy 'deepconf:1000': N must be in 1..256"));
}

TEST(CliGenerate, BudgetBelowOneAnswer) {
  REQUIRE_MODEL(model);
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "--strategy", "sc:8", "--budget", "4"}), 1,
                         "keytok generate: error: strategy sc:8: a budget of 4 tokens is below what one answer "
                         "needs: 8"));
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "--budget", "-3"}), 1,
                         "keytok generate: error: strategy greedy: the budget must be >= 0 (0 = unlimited)\n"));
}

TEST(CliGenerate, StopAgreeBeyondThePathsOrNegative) {
  REQUIRE_MODEL(model);
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "-s", "sc:4", "--stop-agree", "5"}), 1,
                         "keytok generate: error: strategy sc:4: stop-agree 5 can never be met by at most 4 paths; "
                         "lower it (0 = off)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "-p", "hi", "-s", "branch", "--stop-agree", "-1"}),
                         105, "--stop-agree: must be >= 0 (got -1)"));
}

TEST(CliGenerate, PromptLongerThanContext) {
  REQUIRE_MODEL(model);
  std::string prompt;
  for (int i = 0; i < 400; ++i) prompt += "word ";
  EXPECT_TRUE(exits_with(run_keytok({"generate", "-m", model, "--ctx", "256", "-p", prompt}), 1,
                         "keytok generate: error: the prompt is 410 tokens but the context holds 256 with room "
                         "needed to generate; raise --ctx or shorten the prompt\n"));
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

  EXPECT_TRUE(exits_with(run_keytok(base), 1,
                         "keytok bench: error: " + out + " exists; pass --resume to continue it, or remove it\n"));

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

// KEYTOK_DEBUG_KILL_AFTER_ROWS: bench SIGKILLs itself right after its 3rd row is flushed.
TEST(CliBench, ResumesAfterARealKillWithoutLosingOrRepeatingRows) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("bench_kill");
  write_file(dir + "/tasks.jsonl",
             "{\"id\":\"a\",\"prompt\":\"What is 2 + 3?\",\"answer\":\"5\",\"match\":\"number\"}\n"
             "{\"id\":\"b\",\"prompt\":\"What is 4 + 4?\",\"answer\":\"8\",\"match\":\"number\"}\n"
             "{\"id\":\"c\",\"prompt\":\"What is 6 + 1?\",\"answer\":\"7\",\"match\":\"number\"}\n");
  const std::string out = dir + "/results.jsonl";
  const std::vector<std::string> base = {"bench", "-m", model, "--tasks", dir + "/tasks.jsonl", "--strategies",
                                         "greedy,sc:2", "--max-tokens", "6", "-t", "1", "-o", out};
  const CliRun killed = run_keytok(base, 300, {"KEYTOK_DEBUG_KILL_AFTER_ROWS=3"});
  ASSERT_FALSE(killed.timed_out);
  ASSERT_EQ(killed.signal, SIGKILL) << "exit code " << killed.exit_code << ": " << killed.err;
  const std::vector<std::string> first = lines_of(read_file(out));
  ASSERT_EQ(first.size(), 4u) << read_file(out);  // header + 3 rows

  std::vector<std::string> resume = base;
  resume.push_back("--resume");
  const CliRun r = run_keytok(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> second = lines_of(read_file(out));
  ASSERT_EQ(second.size(), 7u) << read_file(out);  // header + 3 tasks x 2 strategies
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(second[i], first[i]);
  std::map<std::string, int> seen;
  for (std::size_t i = 1; i < second.size(); ++i) {
    const auto row = nlohmann::json::parse(second[i]);
    ++seen[row["task"].get<std::string>() + "/" + row["strategy"].get<std::string>()];
  }
  EXPECT_EQ(seen.size(), 6u);
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key << " appears " << n << " times";
}

TEST(CliBench, UnknownStrategyInList) {
  const std::string dir = temp_dir("bench_bad");
  write_file(dir + "/tasks.jsonl", "{\"id\":\"a\",\"prompt\":\"2+3?\",\"answer\":\"5\",\"match\":\"number\"}\n");
  EXPECT_TRUE(exits_with(run_keytok({"bench", "--tasks", dir + "/tasks.jsonl", "--strategies", "greedy,nope"}), 1,
                         "keytok bench: error: unknown strategy 'nope'; use greedy, sample, sc:N, branch, "
                         "deepconf:N or cascade\n"));
  EXPECT_TRUE(exits_with(run_keytok({"bench", "--tasks", dir + "/tasks.jsonl", "--strategies", "greedy,,sc:2"}), 1,
                         "keytok bench: error: empty strategy in 'greedy,,sc:2'; write e.g. greedy,sc:8,branch\n"));
}

}  // namespace
}  // namespace keytok::testing
