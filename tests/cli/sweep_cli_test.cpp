// keytok sweep end to end: results lines, a real kill mid-run, --resume, report.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

int count_trial_lines(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  int n = -1;  // the header
  while (std::getline(in, line)) n += !line.empty();
  return std::max(n, 0);
}

std::string make_tasks(const std::string& dir, int per) {
  const std::string tasks = dir + "/tasks.jsonl";
  const CliRun r = run_keytok({"tasks", "--family", "copy,count", "--lengths", "2", "--per", std::to_string(per),
                               "-o", tasks});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return tasks;
}

TEST(CliSweep, WritesHeaderAndOneLinePerTrial) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("sweep");
  const std::string tasks = make_tasks(dir, 2);
  const std::string out = dir + "/results.jsonl";
  const CliRun r = run_keytok({"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "12"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("error recall"), std::string::npos) << r.out;
  std::istringstream in(read_file(out));
  std::string line;
  std::getline(in, line);
  const auto header = nlohmann::json::parse(line);
  EXPECT_EQ(header["format"], "keytok-sweep");
  EXPECT_EQ(header["version"], 1);
  int n = 0;
  while (std::getline(in, line)) {
    const auto t = nlohmann::json::parse(line);
    for (const char* k : {"id", "family", "length", "sample", "success", "output", "n_output_tokens", "n_key",
                          "first_error_token", "first_error_key", "first_error_entropy", "first_error_margin",
                          "n_at_risk", "n_key_at_risk"}) {
      EXPECT_TRUE(t.contains(k)) << k;
    }
    if (!t["first_error_token"].is_null()) {
      EXPECT_LE(t["first_error_token"].get<int>(), t["n_output_tokens"].get<int>());
      EXPECT_EQ(t["n_at_risk"].get<int>(), t["first_error_token"].get<int>() + 1);
    }
    EXPECT_LE(t["n_output_tokens"].get<int>(), 12);
    ++n;
  }
  EXPECT_EQ(n, 4);
  // Running again without --resume must refuse rather than mix two runs.
  EXPECT_TRUE(exits_with(run_keytok({"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "12"}), 1,
                         "keytok sweep: error: " + out + " already exists; pass --resume to continue it, or -o a "
                         "new file\n"));
  // Resuming with other settings must refuse too.
  EXPECT_TRUE(exits_with(
      run_keytok({"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "13", "--resume"}), 1,
      "keytok sweep: error: " + out + " was started with other settings ("));
}

// KEYTOK_DEBUG_KILL_AFTER_ROWS makes the kill certain: the sweep SIGKILLs itself right after
// its 2nd trial line is flushed, so the test never races a sweep that finishes first.
TEST(CliSweep, ResumesAfterARealKillWithoutLosingOrRepeatingTrials) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("sweep_kill");
  const std::string tasks = make_tasks(dir, 3);  // 6 trials
  const std::string out = dir + "/results.jsonl";
  const std::vector<std::string> args = {"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "24"};
  const CliRun killed = run_keytok(args, 300, {"KEYTOK_DEBUG_KILL_AFTER_ROWS=2"});
  ASSERT_FALSE(killed.timed_out);
  ASSERT_EQ(killed.signal, SIGKILL) << "exit code " << killed.exit_code << ": " << killed.err;
  ASSERT_EQ(count_trial_lines(out), 2) << read_file(out);
  const std::string before = read_file(out);

  std::vector<std::string> resume = args;
  resume.push_back("--resume");
  const CliRun r = run_keytok(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming: 2 trials already in"), std::string::npos) << r.err;
  const std::string after = read_file(out);
  EXPECT_EQ(after.substr(0, before.size()), before);  // the killed run's lines stay as they were
  std::istringstream in(after);
  std::string line;
  std::getline(in, line);  // header
  std::map<std::string, int> seen;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    const auto t = nlohmann::json::parse(line);
    ++seen[t["id"].get<std::string>() + "#" + std::to_string(t["sample"].get<int>())];
  }
  EXPECT_EQ(seen.size(), 6u);
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key << " appears " << n << " times";
}

// A run killed in the middle of writing a line leaves half of it: --resume cuts it and runs
// that trial again.
TEST(CliSweep, ResumeDropsAHalfWrittenLastLine) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("sweep_partial");
  const std::string tasks = make_tasks(dir, 1);  // 2 trials
  const std::string out = dir + "/results.jsonl";
  const std::vector<std::string> args = {"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "24"};
  const CliRun killed = run_keytok(args, 300, {"KEYTOK_DEBUG_KILL_AFTER_ROWS=1"});
  ASSERT_EQ(killed.signal, SIGKILL) << "exit code " << killed.exit_code << ": " << killed.err;
  const std::string whole = read_file(out);
  ASSERT_EQ(count_trial_lines(out), 1) << whole;
  write_file(out, whole + R"({"id":"count-2-0","family":"cou)");

  std::vector<std::string> resume = args;
  resume.push_back("--resume");
  const CliRun r = run_keytok(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string after = read_file(out);
  EXPECT_EQ(after.substr(0, whole.size()), whole);
  EXPECT_EQ(after.find(R"("family":"cou)" "\n"), std::string::npos) << after;
  std::istringstream in(after);
  std::string line;
  std::getline(in, line);  // header
  std::set<std::string> ids;
  while (std::getline(in, line)) ids.insert(nlohmann::json::parse(line)["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(count_trial_lines(out), 2);
}

TEST(CliSweep, BadTaskFilesNameTheLine) {
  const std::string dir = temp_dir("sweep_bad");
  write_file(dir + "/bad.jsonl", "{\"id\":\"a\",\"prompt\":\"p\",\"answer\":\"x\",\"match\":\"exact\"}\n"
                                 "{\"id\":\"b\",\"prompt\":\"p\",\"answer\":\"x\",\"match\":\"fuzzy\"}\n");
  EXPECT_TRUE(exits_with(run_keytok({"sweep", "--tasks", dir + "/bad.jsonl", "-o", dir + "/o.jsonl"}), 1,
                         "keytok sweep: error: " + dir + "/bad.jsonl:2: unknown match mode \"fuzzy\"; use exact, "
                         "number, contains or regex\n"));
  write_file(dir + "/empty.jsonl", "");
  EXPECT_TRUE(exits_with(run_keytok({"sweep", "--tasks", dir + "/empty.jsonl", "-o", dir + "/o.jsonl"}), 1,
                         "keytok sweep: error: " + dir + "/empty.jsonl: the file has no tasks (it is empty or blank)"));
  EXPECT_TRUE(exits_with(run_keytok({"sweep", "--tasks", dir + "/bad.jsonl", "--samples", "4"}), 1,
                         "keytok sweep: error: --samples > 1 needs sampling: pass --temp > 0 (greedy repeats "
                         "itself)\n"));
}

TEST(CliSweep, ReportRejectsResultsOfAnotherVersion) {
  const std::string dir = temp_dir("sweep_ver");
  write_file(dir + "/old.jsonl", "{\"format\":\"keytok-sweep\",\"version\":7}\n");
  EXPECT_TRUE(exits_with(run_keytok({"sweep", "--report", dir + "/old.jsonl"}), 1,
                         "keytok sweep: error: " + dir + "/old.jsonl:1: sweep results file version 7 is not "
                         "supported (this keytok reads version 1); use the keytok that wrote the file, or write "
                         "it again with this one\n"));
}

}  // namespace
}  // namespace keytok::testing
