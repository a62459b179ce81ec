// Bounded KV memory through the real binary: keytok longctx (rows, results file, kill and
// --resume), the --kv-* flags' errors on longctx, generate and analyze, and the kv fields that
// analyze and bench report.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

constexpr char kBudgetMessage[] = "give cells (e.g. 4096) or a fraction of the text (e.g. 25% or 0.25)\n";

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// A few hundred tokens of prose (tests/data/calibration.txt) in the test's directory.
std::string write_text(const std::string& dir) {
  const std::string path = dir + "/text.txt";
  write_file(path, read_file(std::string(KEYTOK_SOURCE_DIR) + "/tests/data/calibration.txt"));
  return path;
}

// longctx on the text's first 120 tokens: a budget of 25% is 30 cells (4 sinks; 22 recent for
// keytoken, chunk and random, which then free 4 at a time; window frees 16), so every evicting
// policy evicts several times.
std::vector<std::string> longctx_args(const std::string& model, const std::string& text) {
  return {"longctx", "-m", model, "--text", text, "--max-tokens", "120", "--kv-budget", "25%", "--kv-step", "16",
          "-t", "1"};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The results file's rows by policy (the header checked and left out).
std::map<std::string, nlohmann::json> rows_by_policy(const std::string& path) {
  const std::vector<std::string> lines = lines_of(read_file(path));
  std::map<std::string, nlohmann::json> rows;
  EXPECT_FALSE(lines.empty()) << path;
  if (lines.empty()) return rows;
  EXPECT_EQ(nlohmann::json::parse(lines[0])["format"], "keytok-longctx");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto j = nlohmann::json::parse(lines[i]);
    const std::string policy = j["policy"].get<std::string>();
    EXPECT_EQ(rows.count(policy), 0u) << policy << " appears twice in " << path;
    rows[policy] = j;
  }
  return rows;
}

TEST(CliLongctx, PrintsOneRowPerPolicyAndWritesThemToTheResultsFile) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("longctx");
  const std::string text = write_text(dir);
  const std::string out = dir + "/longctx.jsonl";
  const CliRun r = run_keytok(with(longctx_args(model, text), {"-o", out}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("keytok longctx: 120 tokens of " + text + "\n"), std::string::npos) << r.err;
  // The table: a header line, then full (the reference, no budget) and each evicting policy.
  const std::vector<std::string> table = lines_of(r.out);
  ASSERT_EQ(table.size(), 6u) << r.out;
  EXPECT_EQ(table[0].rfind("policy     budget   cells        ppl  ppl_after    d_ppl peak_cell   KV_MiB    cost%", 0),
            0u)
      << table[0];
  const std::vector<std::string> policies = {"full", "window", "keytoken", "chunk", "random"};
  for (std::size_t i = 0; i < policies.size(); ++i) {
    std::istringstream row(table[i + 1]);
    std::string name, budget;
    row >> name >> budget;
    EXPECT_EQ(name, policies[i]) << table[i + 1];
    if (i > 0) {
      EXPECT_EQ(budget, "25%") << table[i + 1];
    }
  }

  const std::vector<std::string> lines = lines_of(read_file(out));
  ASSERT_EQ(lines.size(), 6u) << read_file(out);  // header + 5 rows
  const auto header = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(header["format"], "keytok-longctx");
  EXPECT_EQ(header["text"], "text.txt");
  EXPECT_EQ(header["n_tokens"], 120);
  EXPECT_EQ(header["settings"]["sinks"], 4);
  EXPECT_EQ(header["settings"]["step"], 16);
  const auto rows = rows_by_policy(out);
  ASSERT_EQ(rows.size(), 5u);
  const nlohmann::json& full = rows.at("full");
  EXPECT_EQ(full["budget"], "");
  EXPECT_EQ(full["budget_cells"], 0);
  EXPECT_EQ(full["n_tokens"], 119);  // the first token is not predicted
  EXPECT_EQ(full["peak_cells"], 119);
  EXPECT_EQ(full["evictions"], 0);
  for (const std::string p : {"window", "keytoken", "chunk", "random"}) {
    SCOPED_TRACE(p);
    const nlohmann::json& row = rows.at(p);
    EXPECT_EQ(row["budget"], "25%");
    EXPECT_EQ(row["budget_cells"], 30);  // ceil(0.25 x 120)
    // keytoken, chunk, random: the window is 3/4 of 30 = 22, which leaves 30 - 4 - 22 = 4 cells a
    // round can free; window keeps only the newest beside the sinks, so its step is --kv-step.
    EXPECT_EQ(row["step_cells"], p == "window" ? 16 : 4);
    EXPECT_EQ(row["window_cells"], p == "window" ? 1 : 22);
    EXPECT_EQ(row["n_tokens"], 119);
    EXPECT_LE(row["peak_cells"].get<int>(), 30);
    EXPECT_GT(row["evictions"].get<int>(), 0);
    EXPECT_GT(row["cells_evicted"].get<int>(), 119 - 30 - 1);
    EXPECT_EQ(row["n_after"], 119 - 30 + 1);  // tokens 30..119 are predicted from a full cache
    EXPECT_GT(row["perplexity"].get<double>(), 1.0);
    // Evicting loses information: never better than the full cache on this text.
    EXPECT_GT(row["perplexity"].get<double>(), full["perplexity"].get<double>());
    EXPECT_LT(row["kv_mib_peak"].get<double>(), full["kv_mib_peak"].get<double>());
  }

  // The same -o again without --resume is refused.
  EXPECT_TRUE(exits_with(run_keytok(with(longctx_args(model, text), {"-o", out})), 1,
                         "keytok longctx: error: " + out + " exists; pass --resume to continue it, or remove it\n"));
}

// KEYTOK_DEBUG_KILL_AFTER_ROWS: longctx SIGKILLs itself right after its first row is flushed;
// --resume runs the rest and ends with the rows an uninterrupted run writes.
TEST(CliLongctx, ResumesAfterARealKillWithTheSameRows) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("longctx_kill");
  const std::string text = write_text(dir);
  const std::string out = dir + "/killed.jsonl";
  const std::vector<std::string> args = with(longctx_args(model, text), {"--kv-policy", "full,keytoken"});
  const CliRun killed = run_keytok(with(args, {"-o", out}), 300, {"KEYTOK_DEBUG_KILL_AFTER_ROWS=1"});
  ASSERT_FALSE(killed.timed_out);
  ASSERT_EQ(killed.signal, SIGKILL) << "exit code " << killed.exit_code << ": " << killed.err;
  const std::string before = read_file(out);
  ASSERT_EQ(lines_of(before).size(), 2u) << before;  // header + full

  const CliRun resumed = run_keytok(with(args, {"-o", out, "--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("(from " + out + ")"), std::string::npos) << resumed.out;
  const std::string after = read_file(out);
  EXPECT_EQ(after.substr(0, before.size()), before);  // the killed run's lines stay as they were

  const std::string straight = dir + "/straight.jsonl";
  ASSERT_EQ(run_keytok(with(args, {"-o", straight})).exit_code, 0);
  EXPECT_EQ(lines_of(after)[0], lines_of(read_file(straight))[0]);  // one header
  const auto got = rows_by_policy(out), want = rows_by_policy(straight);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(want.size(), 2u);
  for (const auto& [policy, row] : want) {
    SCOPED_TRACE(policy);
    ASSERT_EQ(got.count(policy), 1u);
    for (const char* field : {"budget", "budget_cells", "n_tokens", "perplexity", "perplexity_after", "peak_cells",
                              "evictions", "cells_evicted"}) {
      EXPECT_EQ(got.at(policy)[field], row[field]) << field;
    }
  }

  // A complete file resumes to nothing new.
  const CliRun again = run_keytok(with(args, {"-o", out, "--resume"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_file(out), after);
}

TEST(CliLongctx, ResumeWithOtherSettingsIsRefusedNamingThem) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("longctx_settings");
  const std::string text = write_text(dir);
  const std::string out = dir + "/longctx.jsonl";
  const std::vector<std::string> args = with(longctx_args(model, text), {"--kv-policy", "full", "-o", out});
  ASSERT_EQ(run_keytok(args).exit_code, 0);
  const std::string before = read_file(out);

  const CliRun sinks = run_keytok(with(args, {"--resume", "--kv-sinks", "2"}));
  EXPECT_TRUE(exits_with(sinks, 1,
                         "keytok longctx: error: " + out +
                             " was started with other settings (settings.sinks is 4 in the file, 2 now); resume "
                             "with the same text and flags, or -o a new file\n"));
  // Another length of text is another n_tokens.
  std::vector<std::string> shorter = args;
  ASSERT_EQ(shorter[5], "--max-tokens");
  shorter[6] = "100";
  EXPECT_TRUE(exits_with(run_keytok(with(shorter, {"--resume"})), 1,
                         "keytok longctx: error: " + out +
                             " was started with other settings (n_tokens is 120 in the file, 100 now); resume with "
                             "the same text and flags, or -o a new file\n"));
  EXPECT_EQ(read_file(out), before);
}

TEST(CliLongctx, BadBudgetsAndPolicies) {
  const std::string dir = temp_dir("longctx_bad");
  const std::string text = write_text(dir);
  // Checked before the model loads.
  for (const std::string bad : {"0", "150%", "-3", "abc"}) {
    EXPECT_TRUE(exits_with(run_keytok({"longctx", "--text", text, "--kv-budget", bad}), 1,
                           "keytok longctx: error: invalid KV budget '" + bad + "': " + kBudgetMessage));
  }
  EXPECT_TRUE(exits_with(run_keytok({"longctx", "--text", text, "--kv-budget", "64,25%x"}), 1,
                         std::string("keytok longctx: error: invalid KV budget '25%x': ") + kBudgetMessage));
  EXPECT_TRUE(exits_with(run_keytok({"longctx", "--text", text, "--kv-policy", "full,bogus"}), 1,
                         "keytok longctx: error: unknown --kv-policy 'bogus'; use full, window, keytoken, chunk or "
                         "random\n"));
  EXPECT_TRUE(exits_with(run_keytok({"longctx", "--text", dir + "/absent.txt"}), 1,
                         "keytok longctx: error: text file not found: " + dir + "/absent.txt"));
}

// Kept cells keep their positions, so a text past the trained positions is refused up front,
// with the --max-tokens that fits (SmolLM2 was trained on 8,192).
TEST(CliLongctx, TextPastTheTrainedPositionsIsRefused) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("longctx_long");
  std::string long_text;
  for (int i = 0; i < 2500; ++i) long_text += "The grass is green. ";
  write_file(dir + "/long.txt", long_text);
  const CliRun r = run_keytok({"longctx", "-m", model, "--text", dir + "/long.txt", "--kv-policy", "full", "-t", "1"});
  // 2,500 x 5 tokens, plus the BOS SmolLM2 adds; the name is the GGUF's general.name.
  EXPECT_TRUE(exits_with(r, 1,
                         "keytok longctx: error: the text is 12501 tokens, past the 8192 positions Smollm2 135M 8k "
                         "Lc100K Mix1 Ep2 was trained on; pass --max-tokens 8192\n"));
}

TEST(CliLongctx, BudgetWithNoRoomBesideTheSinksIsRefusedBeforeAnyRun) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("longctx_small");
  const std::string text = write_text(dir);
  const std::string out = dir + "/refused.jsonl";
  // full comes first in the list, but the bad budget is refused before it runs: no file, no row.
  EXPECT_TRUE(exits_with(
      run_keytok({"longctx", "-m", model, "--text", text, "--max-tokens", "40", "--kv-policy", "full,window",
                  "--kv-budget", "5", "-t", "1", "-o", out}),
      1,
      "keytok longctx: error: window 5: a KV budget of 5 cells leaves nothing to evict beside the 4 sink cells "
      "and the 1 recent ones policy window always keeps; raise --kv-budget to at least 6 or lower --kv-sinks / "
      "--kv-window\n"));
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(CliKvFlags, GenerateAndAnalyzeRefuseBadCombinations) {
  REQUIRE_MODEL(model);
  const std::vector<std::string> gen = {"generate", "-m", model, "-p", "hi", "--no-auto-calibrate", "-t", "1"};
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-policy", "keytoken"})), 1,
                         "keytok generate: error: --kv-policy keytoken needs --kv-budget (cells, e.g. 1024)\n"));
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-policy", "keytoken", "--kv-budget", "25%"})), 1,
                         "keytok generate: error: --kv-budget 25% is a fraction of a text, and this command has "
                         "none; give cells, e.g. 1024\n"));
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-budget", "64"})), 1,
                         "keytok generate: error: --kv-budget needs an evicting --kv-policy (window, keytoken, chunk "
                         "or random)\n"));
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-policy", "full", "--kv-budget", "64"})), 1,
                         "keytok generate: error: --kv-budget needs an evicting --kv-policy (window, keytoken, chunk "
                         "or random)\n"));
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-policy", "window", "--kv-budget", "0"})), 1,
                         std::string("keytok generate: error: invalid KV budget '0': ") + kBudgetMessage));
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-policy", "keytoken", "--kv-budget", "5"})), 1,
                         "keytok generate: error: a KV budget of 5 cells leaves nothing to evict beside the 4 sink "
                         "cells and the 3 recent ones policy keytoken always keeps; raise --kv-budget to at least 8 "
                         "or lower --kv-sinks / --kv-window\n"));
  EXPECT_TRUE(exits_with(run_keytok(with(gen, {"--kv-policy", "bogus"})), 105,
                         "--kv-policy: bogus not in {full,window,keytoken,chunk,random}"));

  const std::string dir = temp_dir("kv_flags");
  const std::string text = write_text(dir);
  const std::vector<std::string> analyze = {"analyze", "-m", model, "--text", text, "--no-auto-calibrate", "-t", "1"};
  EXPECT_TRUE(exits_with(run_keytok(with(analyze, {"--kv-policy", "keytoken", "--kv-budget", "150%"})), 1,
                         std::string("keytok analyze: error: invalid KV budget '150%': ") + kBudgetMessage));
  EXPECT_TRUE(exits_with(run_keytok(with(analyze, {"--kv-policy", "chunk"})), 1,
                         "keytok analyze: error: --kv-policy chunk needs --kv-budget (cells, e.g. 1024)\n"));
}

TEST(CliKvFlags, AnalyzeReportsItsBoundedCache) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("kv_analyze");
  write_file(dir + "/short.txt", read_file(std::string(KEYTOK_SOURCE_DIR) + "/tests/data/calibration.txt").substr(0, 700));
  const std::vector<std::string> base = {"analyze", "-m", model, "--text", dir + "/short.txt", "--no-auto-calibrate",
                                         "-t", "1"};
  const CliRun r = run_keytok(with(base, {"--kv-policy", "keytoken", "--kv-budget", "32", "--kv-step", "16"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("kv")) << r.out;
  const auto& kv = j["kv"];
  EXPECT_EQ(kv["policy"], "keytoken");
  EXPECT_EQ(kv["budget"], 32);
  EXPECT_EQ(kv["n_ctx"], 256);  // the budget, rounded up by llama.cpp
  EXPECT_LE(kv["peak_cells"].get<int>(), 32);
  EXPECT_GT(kv["peak_cells"].get<int>(), 0);
  EXPECT_GT(kv["evictions"].get<int>(), 0);
  EXPECT_GT(kv["cells_evicted"].get<int>(), 0);
  EXPECT_GT(j["n_tokens"].get<int>(), 100);  // the whole text was scored
  EXPECT_GE(kv["policy_cost_fraction"].get<double>(), 0.0);

  // A fraction of the text: 25% of its tokens.
  const CliRun f = run_keytok(with(base, {"--kv-policy", "window", "--kv-budget", "25%", "--kv-step", "16"}));
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const auto jf = nlohmann::json::parse(f.out);
  const int n = jf["n_tokens"].get<int>();
  EXPECT_EQ(jf["kv"]["budget"], (n + 3) / 4) << "n_tokens " << n;
  EXPECT_LE(jf["kv"]["peak_cells"].get<int>(), (n + 3) / 4);

  // Without an evicting policy the summary is as it was: no "kv".
  const CliRun plain = run_keytok(base);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(nlohmann::json::parse(plain.out).contains("kv")) << plain.out;
}

TEST(CliKvFlags, BenchOnNeedleTasksStaysWithinTheBudget) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("kv_bench");
  const std::string tasks = dir + "/needle.jsonl";
  const CliRun t = run_keytok({"tasks", "--family", "needle", "--lengths", "40", "--per", "2", "-o", tasks});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const std::string out = dir + "/bench.jsonl";
  const CliRun r = run_keytok({"bench", "-m", model, "--tasks", tasks, "--strategies", "greedy", "--kv-policy",
                               "window", "--kv-budget", "128", "--max-tokens", "8", "--no-auto-calibrate", "-t", "1",
                               "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(read_file(out));
  ASSERT_EQ(lines.size(), 3u) << read_file(out);  // header + 2 tasks
  const auto header = nlohmann::json::parse(lines[0]);
  const auto& kv = header["settings"]["kv"];
  EXPECT_EQ(kv["policy"], "window");
  EXPECT_EQ(kv["budget"], 128);
  EXPECT_EQ(kv["sinks"], 4);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto row = nlohmann::json::parse(lines[i]);
    SCOPED_TRACE(row["task"].get<std::string>());
    EXPECT_GT(row["prompt_tokens"].get<int>(), 128);  // the prompt alone is past the budget
    EXPECT_LE(row["peak_cells"].get<int>(), 128);
    EXPECT_GT(row["peak_cells"].get<int>(), 0);
    EXPECT_GT(row["cells_evicted"].get<int>(), 0);
  }
}

}  // namespace
}  // namespace keytok::testing
