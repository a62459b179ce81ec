// --shard I/N on sweep and bench, and keytok merge, end to end on the fast test model: the
// merged shards hold exactly the rows of one whole run (docs/scale-out.md).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

// The rows of a results file by key ("id#sample" or "task|strategy"), without their wall times.
std::map<std::string, nlohmann::json> rows_by_key(const std::string& path) {
  std::map<std::string, nlohmann::json> rows;
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    const std::string key = j.contains("id") ? j["id"].get<std::string>() + "#" + j["sample"].dump()
                                             : j["task"].get<std::string>() + "|" + j["strategy"].get<std::string>();
    j.erase("seconds");
    j.erase("wall_ms");
    EXPECT_EQ(rows.count(key), 0u) << key << " twice in " << path;
    rows[key] = j;
  }
  return rows;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

nlohmann::json header_of(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  return nlohmann::json::parse(line);
}

TEST(CliShard, SweepShardsMergeIntoTheWholeRun) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("shard_sweep");
  const std::string tasks = dir + "/tasks.jsonl";
  ASSERT_EQ(run_keytok({"tasks", "--family", "copy,count", "--lengths", "2", "--per", "3", "-o", tasks}).exit_code, 0);
  const std::vector<std::string> base = {"sweep", "-m", model, "--tasks", tasks, "--max-tokens", "16", "-t", "1",
                                         "--no-auto-calibrate"};
  auto with = [&base](const std::vector<std::string>& extra) { return concat(base, extra); };
  CliRun r = run_keytok(with({"-o", dir + "/whole.jsonl"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* shard : {"1/2", "2/2"}) {
    r = run_keytok(with({"--shard", shard, "-o", dir + "/part" + shard[0] + ".jsonl"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(header_of(dir + "/part2.jsonl")["settings"]["shard"], "2/2");
  EXPECT_EQ(rows_by_key(dir + "/part1.jsonl").size(), 3u);  // 6 tasks, round robin
  r = run_keytok({"merge", dir + "/part2.jsonl", dir + "/part1.jsonl", "-o", dir + "/merged.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "merged 6 rows from 2 files (shards 1/2, 2/2) into " + dir + "/merged.jsonl\n");
  EXPECT_EQ(rows_by_key(dir + "/merged.jsonl"), rows_by_key(dir + "/whole.jsonl"));
  EXPECT_EQ(header_of(dir + "/merged.jsonl")["settings"], header_of(dir + "/whole.jsonl")["settings"]);

  // The merged file resumes like the whole run's: nothing left to do, and the report reads it.
  r = run_keytok(with({"-o", dir + "/merged.jsonl", "--resume"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming: 6 trials already in"), std::string::npos) << r.err;
  EXPECT_EQ(rows_by_key(dir + "/merged.jsonl").size(), 6u);

  // A shard's file resumes only as that shard.
  EXPECT_TRUE(exits_with(run_keytok(with({"--shard", "1/2", "-o", dir + "/part2.jsonl", "--resume"})), 1,
                         "keytok sweep: error: " + dir + "/part2.jsonl was started with other settings ("));
  EXPECT_TRUE(exits_with(run_keytok(with({"--shard", "3/2", "-o", dir + "/x.jsonl"})), 1,
                         "keytok sweep: error: --shard 3/2: I must be between 1 and N=2 (shards count from 1)\n"));
}

TEST(CliShard, BenchMergeRefusesOtherSettingsAndResumeFillsAMissingShard) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("shard_bench");
  write_file(dir + "/tasks.jsonl",
             "{\"id\":\"a\",\"prompt\":\"What is 2 + 3?\",\"answer\":\"5\",\"match\":\"number\"}\n"
             "{\"id\":\"b\",\"prompt\":\"What is 4 + 4?\",\"answer\":\"8\",\"match\":\"number\"}\n"
             "{\"id\":\"c\",\"prompt\":\"What is 6 + 1?\",\"answer\":\"7\",\"match\":\"number\"}\n");
  const std::vector<std::string> base = {"bench", "-m", model, "--tasks", dir + "/tasks.jsonl", "--strategies",
                                         "greedy,sc:2", "--max-tokens", "6", "-t", "1"};
  auto with = [&base](const std::vector<std::string>& extra) { return concat(base, extra); };
  CliRun r = run_keytok(with({"-o", dir + "/whole.jsonl"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_keytok(with({"--shard", "1/3", "-o", dir + "/p1.jsonl"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_keytok(with({"--shard", "3/3", "-o", dir + "/p3.jsonl"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Another knob (sc's temperature) is another run: refused, naming it.
  r = run_keytok(with({"--shard", "2/3", "--temp", "0.9", "-o", dir + "/p2-other.jsonl"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const CliRun refused = run_keytok({"merge", dir + "/p1.jsonl", dir + "/p2-other.jsonl", "-o", dir + "/m.jsonl"});
  EXPECT_TRUE(exits_with(refused, 1, "keytok merge: error: " + dir + "/p1.jsonl and " + dir +
                                         "/p2-other.jsonl were run with different settings: settings.strategies is "))
      << refused.err;
  // ... and so is resuming a file with other settings.
  EXPECT_TRUE(exits_with(run_keytok(with({"--temp", "0.9", "-o", dir + "/whole.jsonl", "--resume"})), 1,
                         "keytok bench: error: " + dir + "/whole.jsonl was started with other settings "
                         "(strategies is "));

  // Shards 1 and 3 merged; shard 2 (task b) is missing until --resume fills it in.
  r = run_keytok({"merge", dir + "/p1.jsonl", dir + "/p3.jsonl", "-o", dir + "/m.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "warning: shards 2 of 3 are missing; run them and merge again, or run --resume on " + dir +
                       "/m.jsonl without --shard to fill them in\n");
  EXPECT_EQ(rows_by_key(dir + "/m.jsonl").size(), 4u);
  r = run_keytok(with({"-o", dir + "/m.jsonl", "--resume"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows_by_key(dir + "/m.jsonl"), rows_by_key(dir + "/whole.jsonl"));

  // Merging again over an existing file, or the same shard twice, is refused.
  EXPECT_TRUE(exits_with(run_keytok({"merge", dir + "/p1.jsonl", "-o", dir + "/m.jsonl"}), 1,
                         "keytok merge: error: " + dir + "/m.jsonl exists; keytok merge writes a new file"));
  EXPECT_TRUE(exits_with(run_keytok({"merge", dir + "/p1.jsonl", dir + "/p1.jsonl", "-o", dir + "/m2.jsonl"}), 1,
                         "are both shard 1/3; pass each shard once"));
}

}  // namespace
}  // namespace keytok::testing
