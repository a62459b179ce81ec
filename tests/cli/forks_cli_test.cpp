// keytok forks through the real binary (SmolLM2): the results file, summary and page, a kill
// and --resume that end with the rows of an uninterrupted run, and the errors for bad input.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
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

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Two one-digit additions whose answers SmolLM2 writes as numbers.
std::string write_tasks(const std::string& dir) {
  const std::string path = dir + "/tasks.jsonl";
  write_file(path,
             R"({"id":"a","prompt":"What is 2 plus 3? Answer with the number.","answer":"5","match":"number"})"
             "\n"
             R"({"id":"b","prompt":"What is 4 plus 4? Answer with the number.","answer":"8","match":"number"})"
             "\n");
  return path;
}

std::vector<std::string> forks_args(const std::string& model, const std::string& tasks, const std::string& out) {
  return {"forks", "-m", model, "--tasks", tasks, "--samples", "2", "--max-tokens", "16", "--max-alternatives", "2",
          "--random-rate", "0.5", "-t", "1", "-o", out};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(CliForks, WritesRowsSummaryAndPage) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("forks_rows");
  const std::string out = dir + "/forks.jsonl";
  const CliRun r = run_keytok(forks_args(model, write_tasks(dir), out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fork share"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("wrote " + dir + "/forks.summary.json\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wrote " + dir + "/forks.html\n"), std::string::npos) << r.err;

  const std::vector<std::string> lines = lines_of(read_file(out));
  ASSERT_GE(lines.size(), 3u);
  const auto header = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(header["format"], "keytok-forks");
  EXPECT_EQ(header["settings"]["samples"], 2);
  // Per task: its row, then one row per position of its answer, in order, each studied
  // position with its candidates, the base token first.
  std::size_t i = 1;
  int tasks = 0;
  while (i < lines.size()) {
    const auto task = nlohmann::json::parse(lines[i++]);
    ASSERT_EQ(task["kind"], "task") << lines[i - 1];
    ++tasks;
    const std::size_t n = task["tokens"].size();
    for (std::size_t k = 0; k < n; ++k, ++i) {
      ASSERT_LT(i, lines.size());
      const auto row = nlohmann::json::parse(lines[i]);
      EXPECT_EQ(row["kind"], "position");
      EXPECT_EQ(row["task"], task["task"]);
      EXPECT_EQ(row["index"], k);
      if (row["studied"].get<bool>()) {
        ASSERT_GE(row["candidates"].size(), 2u);
        EXPECT_EQ(row["candidates"][0]["token"], task["tokens"][k]);
        EXPECT_EQ(row["candidates"][0]["answers"].size(), 2u);
      }
    }
  }
  EXPECT_EQ(tasks, 2);
  const auto summary = nlohmann::json::parse(read_file(dir + "/forks.summary.json"));
  EXPECT_EQ(summary["tasks"], 2);
  const std::string html = read_file(dir + "/forks.html");
  EXPECT_NE(html.find("<html"), std::string::npos);

  // --report gives the same summary from the file alone.
  const CliRun rep =
      run_keytok({"forks", "--report", out, "--summary", dir + "/again.json", "--html", dir + "/again.html"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_EQ(rep.out, r.out);
  EXPECT_EQ(read_file(dir + "/again.json"), read_file(dir + "/forks.summary.json"));

  // Without --summary and --html, --report writes beside the file it reads.
  const std::string copy = dir + "/copy.jsonl";
  std::ofstream(copy) << read_file(out);
  const CliRun beside = run_keytok({"forks", "--report", copy});
  ASSERT_EQ(beside.exit_code, 0) << beside.err;
  EXPECT_EQ(read_file(dir + "/copy.summary.json"), read_file(dir + "/forks.summary.json"));
  EXPECT_EQ(read_file(dir + "/copy.html"), read_file(dir + "/forks.html"));

  // --fork-shift with --report relabels the rows, in files named after the threshold: at the
  // run's own 0.5 the figures are the run's; at 1 a position forks only where an alternative's
  // shift is 1, and the fork share is the weighted share of such rows.
  const CliRun same = run_keytok({"forks", "--report", copy, "--fork-shift", "0.5"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.err.find("note: forks relabelled at --fork-shift 0.5 (the run used 0.5)\n"), std::string::npos)
      << same.err;
  EXPECT_EQ(read_file(dir + "/copy.shift0.5.summary.json"), read_file(dir + "/forks.summary.json"));
  const CliRun strict = run_keytok({"forks", "--report", copy, "--fork-shift", "1"});
  ASSERT_EQ(strict.exit_code, 0) << strict.err;
  double forking = 0.0, total = 0.0;
  for (const std::string& line : lines) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") != "position" || j["pass"] != 0) continue;
    total += j["weight"].get<double>();
    if (j["studied"].get<bool>() && j["max_shift"].get<double>() >= 1.0) forking += j["weight"].get<double>();
  }
  const auto relabelled = nlohmann::json::parse(read_file(dir + "/copy.shift1.summary.json"));
  EXPECT_DOUBLE_EQ(relabelled["fork_share"]["estimate"].get<double>(), forking / total);
  EXPECT_EQ(read_file(dir + "/copy.summary.json"), read_file(dir + "/forks.summary.json"));  // untouched
  const CliRun zero = run_keytok({"forks", "--report", copy, "--fork-shift", "0"});
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_EQ(zero.err,
            "keytok forks: error: --fork-shift must be in (0, 1] (got 0); the run's own is in the file's header\n");
}

// --noise-tasks 1: the first task's studied positions get a second row (pass 1, other seeds),
// the second task's do not, and the summary compares the two passes over exactly those.
TEST(CliForks, NoiseTasksStudyTheFirstTasksTwice) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("forks_noise");
  const std::string out = dir + "/forks.jsonl";
  const CliRun r = run_keytok(with(forks_args(model, write_tasks(dir), out), {"--noise-tasks", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> studied, second;
  for (const std::string& line : lines_of(read_file(out))) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") != "position") continue;
    if (j["pass"] == 1) {
      ++second[j["task"]];
      EXPECT_TRUE(j["studied"].get<bool>());
    } else if (j["studied"].get<bool>()) {
      ++studied[j["task"]];
    }
  }
  ASSERT_GT(studied["a"], 0);
  EXPECT_EQ(second["a"], studied["a"]);
  EXPECT_EQ(second.count("b"), 0u);
  const auto summary = nlohmann::json::parse(read_file(dir + "/forks.summary.json"));
  EXPECT_EQ(summary["noise_positions"], studied["a"]);
}

// KEYTOK_DEBUG_KILL_AFTER_ROWS: forks SIGKILLs itself right after its fifth position row; the
// summary of the cut file leaves the unfinished task out, and --resume ends with the rows an
// uninterrupted run writes.
TEST(CliForks, ResumesAfterARealKillWithTheSameRows) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("forks_kill");
  const std::string tasks = write_tasks(dir);
  const std::string out = dir + "/killed.jsonl";
  const CliRun killed = run_keytok(forks_args(model, tasks, out), 300, {"KEYTOK_DEBUG_KILL_AFTER_ROWS=5"});
  ASSERT_FALSE(killed.timed_out);
  ASSERT_EQ(killed.signal, SIGKILL) << "exit code " << killed.exit_code << ": " << killed.err;
  const std::string before = read_file(out);
  ASSERT_EQ(lines_of(before).size(), 7u) << before;  // header, task row, 5 positions

  const CliRun partial =
      run_keytok({"forks", "--report", out, "--summary", dir + "/p.json", "--html", dir + "/p.html"});
  ASSERT_EQ(partial.exit_code, 0) << partial.err;
  EXPECT_NE(partial.err.find("note: 1 task(s) in " + out + " are not complete and are left out"), std::string::npos)
      << partial.err;

  const CliRun resumed = run_keytok(with(forks_args(model, tasks, out), {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 5 position rows already in " + out), std::string::npos) << resumed.err;
  const std::string after = read_file(out);
  EXPECT_EQ(after.substr(0, before.size()), before);

  const std::string straight = dir + "/straight.jsonl";
  ASSERT_EQ(run_keytok(forks_args(model, tasks, straight)).exit_code, 0);
  EXPECT_EQ(lines_of(after), lines_of(read_file(straight)));

  // A complete file resumes to nothing new.
  ASSERT_EQ(run_keytok(with(forks_args(model, tasks, out), {"--resume"})).exit_code, 0);
  EXPECT_EQ(read_file(out), after);
}

TEST(CliForks, BadInputGetsAClearErrorAndWritesNothing) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("forks_bad");
  const std::string tasks = write_tasks(dir);
  const std::string out = dir + "/f.jsonl";
  EXPECT_TRUE(exits_with(run_keytok(with(forks_args(model, tasks, out), {"--budget-tokens", "3"})), 1,
                         "keytok forks: error: --budget-tokens 3 is too small: one position needs at least 4 "
                         "completion tokens (the base token and one alternative, --samples 2 each); raise it or "
                         "pass 0 (no limit)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"forks", "-m", model, "-p", "What is 2 plus 3?"}), 1,
                         "keytok forks: error: -p needs --answer: the answer that counts as correct\n"));
  EXPECT_TRUE(exits_with(run_keytok({"forks", "-m", model}), 1,
                         "keytok forks: error: pass --tasks FILE, or -p PROMPT with --answer (one of them)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"forks", "-m", model, "-p", "What is 2 plus 3?", "--answer", "five"}), 1,
                         "keytok forks: error: -p/--answer:1:"));
  // No answer the match mode can read in the base answer: -p is an error naming the task.
  EXPECT_TRUE(exits_with(run_keytok({"forks", "-m", model, "-p", "What is 2 plus 3?", "--answer", "ZZZ(\\d+)",
                                     "--match", "regex", "--max-tokens", "8", "-o", out}),
                         1, "keytok forks: error: task prompt: the base answer holds no answer that match mode "
                            "`regex` can read"));
  EXPECT_TRUE(exits_with(run_keytok(with(forks_args(model, tasks, out), {"--temp", "0"})), 1,
                         "keytok forks: error: the completions must be sampled (temperature > 0)"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.summary.json"));

  // An existing file without --resume, and a resume with other settings, are refused.
  ASSERT_EQ(run_keytok(forks_args(model, tasks, out)).exit_code, 0);
  const std::string before = read_file(out);
  EXPECT_TRUE(exits_with(run_keytok(forks_args(model, tasks, out)), 1,
                         "keytok forks: error: " + out + " exists; pass --resume to continue it, or remove it\n"));
  EXPECT_TRUE(exits_with(run_keytok(with(forks_args(model, tasks, out), {"--resume", "--seed", "3"})), 1,
                         "keytok forks: error: " + out + " was started with other settings (settings.seed is 0 in "
                         "the file, 3 now); resume with the same flags, or -o a new file\n"));
  EXPECT_EQ(read_file(out), before);
}

}  // namespace
}  // namespace keytok::testing
