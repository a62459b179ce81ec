// keytok sweep end to end: results lines, a real kill mid-run, --resume, report.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

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
  const CliRun again = run_keytok({"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "12"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  // Resuming with other settings must refuse too.
  const CliRun other = run_keytok({"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "13", "--resume"});
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("other settings"), std::string::npos) << other.err;
}

TEST(CliSweep, ResumesAfterARealKillWithoutLosingOrRepeatingTrials) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("sweep_kill");
  const std::string tasks = make_tasks(dir, 5);  // 10 trials
  const std::string out = dir + "/results.jsonl";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(KEYTOK_CLI_BINARY, "keytok", "sweep", "-m", model.c_str(), "--tasks", tasks.c_str(), "-o", out.c_str(),
          "--max-tokens", "24", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it once at least two trials are on disk (and well before all ten are).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (count_trial_lines(out) < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const int before = count_trial_lines(out);
  ASSERT_GE(before, 2);
  ASSERT_LT(before, 10) << "the sweep finished before it could be killed";

  const CliRun r = run_keytok({"sweep", "-m", model, "--tasks", tasks, "-o", out, "--max-tokens", "24", "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(read_file(out));
  std::string line;
  std::getline(in, line);  // header
  std::map<std::string, int> seen;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto t = nlohmann::json::parse(line);  // no cut-off line remains
    ++seen[t["id"].get<std::string>() + "#" + std::to_string(t["sample"].get<int>())];
  }
  EXPECT_EQ(seen.size(), 10u);
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key << " appears " << n << " times";
}

TEST(CliSweep, BadTaskFilesNameTheLine) {
  const std::string dir = temp_dir("sweep_bad");
  write_file(dir + "/bad.jsonl", "{\"id\":\"a\",\"prompt\":\"p\",\"answer\":\"x\",\"match\":\"exact\"}\n"
                                 "{\"id\":\"b\",\"prompt\":\"p\",\"answer\":\"x\",\"match\":\"fuzzy\"}\n");
  const CliRun r = run_keytok({"sweep", "--tasks", dir + "/bad.jsonl", "-o", dir + "/o.jsonl"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  write_file(dir + "/empty.jsonl", "");
  const CliRun e = run_keytok({"sweep", "--tasks", dir + "/empty.jsonl", "-o", dir + "/o.jsonl"});
  EXPECT_NE(e.exit_code, 0);
  EXPECT_LT(e.exit_code, 124);
  const CliRun samples = run_keytok({"sweep", "--tasks", dir + "/bad.jsonl", "--samples", "4"});
  EXPECT_NE(samples.exit_code, 0);
  EXPECT_NE(samples.err.find("--temp"), std::string::npos) << samples.err;
}

TEST(CliSweep, ReportRejectsResultsOfAnotherVersion) {
  const std::string dir = temp_dir("sweep_ver");
  write_file(dir + "/old.jsonl", "{\"format\":\"keytok-sweep\",\"version\":7}\n");
  const CliRun r = run_keytok({"sweep", "--report", dir + "/old.jsonl"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("version"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace keytok::testing
