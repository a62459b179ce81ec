// --shard I/N (keytok/shard.hpp) and keytok merge (merge_results_files in
// keytok/results_file.hpp) on hand-written results files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "keytok/results_file.hpp"
#include "keytok/shard.hpp"

namespace keytok {
namespace {

TEST(Shard, ParsesIOfN) {
  auto s = parse_shard("2/4");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 4);
  EXPECT_EQ(s->spec(), "2/4");
  EXPECT_TRUE(parse_shard("1/1")->whole());
}

TEST(Shard, RejectsWhatIsNotIOfN) {
  EXPECT_EQ(parse_shard("2").status().message(),
            "--shard: expected I/N, shard I of N counted from 1 (e.g. 2/4), got '2'");
  for (const char* bad : {"", "/", "a/2", "1/b", "1/2/3", "-1/2", "+1/2", " 1/2", "1/2 ", "1.0/2",
                          "99999999999/2"}) {
    const auto s = parse_shard(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), StatusCode::invalid_argument) << bad;
  }
  EXPECT_EQ(parse_shard("0/4").status().message(),
            "--shard 0/4: I must be between 1 and N=4 (shards count from 1)");
  EXPECT_EQ(parse_shard("5/4").status().message(),
            "--shard 5/4: I must be between 1 and N=4 (shards count from 1)");
  EXPECT_EQ(parse_shard("1/0").status().message(), "--shard 1/0: N must be between 1 and 10000");
  EXPECT_EQ(parse_shard("1/10001").status().message(), "--shard 1/10001: N must be between 1 and 10000");
}

std::vector<Task> numbered_tasks(int n) {
  std::vector<Task> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(Task{.id = "t" + std::to_string(i)});
  return tasks;
}

TEST(Shard, RoundRobinSplitCoversEveryTaskOnce) {
  const std::vector<Task> all = numbered_tasks(10);
  std::multiset<std::string> seen;
  for (int i = 1; i <= 3; ++i) {
    for (const Task& t : take_shard(all, Shard{.index = i, .count = 3})) seen.insert(t.id);
  }
  EXPECT_EQ(seen.size(), 10u);
  for (const Task& t : all) EXPECT_EQ(seen.count(t.id), 1u) << t.id;
  const auto second = take_shard(all, Shard{.index = 2, .count = 3});
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[0].id, "t1");  // positions 1, 4, 7, in order
  EXPECT_EQ(second[1].id, "t4");
  EXPECT_EQ(second[2].id, "t7");
  EXPECT_EQ(take_shard(all, Shard{}).size(), 10u);
  EXPECT_TRUE(take_shard(numbered_tasks(2), Shard{.index = 3, .count = 3}).empty());
}

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keytok_merge_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& body) const {
    std::ofstream(path(name), std::ios::binary) << body;
    return path(name);
  }
  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // A sweep header whose settings hold `shard` (none when empty) and `samples`.
  static std::string sweep_header(const std::string& shard, int samples = 1) {
    nlohmann::json settings = {{"model", "m.gguf"}, {"samples", samples}, {"tasks", "t.jsonl"}};
    if (!shard.empty()) settings["shard"] = shard;
    return nlohmann::json({{"format", "keytok-sweep"}, {"version", 1}, {"model", "/a/m.gguf"},
                           {"created", "2026-01-01T00:00:00Z"}, {"settings", settings}})
               .dump() +
           "\n";
  }
  static std::string trial(const std::string& id, int sample) {
    return nlohmann::json({{"id", id}, {"sample", sample}, {"success", true}}).dump() + "\n";
  }
  std::filesystem::path dir_;
};

TEST_F(MergeTest, JoinsShardsInOrderKeepingRowsAsWritten) {
  const std::string b = write("b.jsonl", sweep_header("2/2") + trial("t1", 0) + trial("t3", 0));
  const std::string a = write("a.jsonl", sweep_header("1/2") + trial("t0", 0) + trial("t2", 0));
  auto s = merge_results_files({b, a}, path("out.jsonl"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->format, "keytok-sweep");
  EXPECT_EQ(s->rows, 4u);
  EXPECT_EQ(s->shards, (std::vector<std::string>{"1/2", "2/2"}));
  EXPECT_EQ(s->shard_count, 2);
  EXPECT_TRUE(s->missing_shards.empty());
  EXPECT_TRUE(s->cut_off.empty());
  const std::string out = read(path("out.jsonl"));
  std::istringstream in(out);
  std::string header_line;
  std::getline(in, header_line);
  const auto header = nlohmann::json::parse(header_line);
  EXPECT_EQ(header_line.rfind(R"({"format":"keytok-sweep","version":1,)", 0), 0u) << header_line;
  EXPECT_FALSE(header["settings"].contains("shard"));  // a --resume without --shard matches it
  EXPECT_EQ(header["settings"]["samples"], 1);
  EXPECT_EQ(header["merged_from"].size(), 2u);
  EXPECT_EQ(header["merged_from"][0]["file"], "a.jsonl");
  EXPECT_EQ(header["merged_from"][0]["shard"], "1/2");
  EXPECT_EQ(header["merged_from"][0]["rows"], 2);
  const std::string rows((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(rows, trial("t0", 0) + trial("t2", 0) + trial("t1", 0) + trial("t3", 0));
  EXPECT_FALSE(std::filesystem::exists(path("out.jsonl.merging")));
}

TEST_F(MergeTest, ListsMissingShardsAndCutOffLines) {
  const std::string a = write("a.jsonl", sweep_header("1/3") + trial("t0", 0) + R"({"id":"t3","sam)");
  auto s = merge_results_files({a}, path("out.jsonl"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->rows, 1u);
  EXPECT_EQ(s->missing_shards, (std::vector<int>{2, 3}));
  EXPECT_EQ(s->cut_off, (std::vector<std::string>{a + ":3"}));
}

TEST_F(MergeTest, RefusesOverlappingRows) {
  const std::string a = write("a.jsonl", sweep_header("1/2") + trial("t0", 0) + trial("t2", 0));
  const std::string b = write("b.jsonl", sweep_header("2/2") + trial("t1", 0) + trial("t2", 0));
  const auto s = merge_results_files({a, b}, path("out.jsonl"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(s.status().message(),
            a + ":3 and " + b + R"(:3 hold the same row (["t2",0]); the files overlap, so they are )"
                                "not the shards of one run");
  EXPECT_FALSE(std::filesystem::exists(path("out.jsonl")));
  // Twice in one file, too.
  const std::string c = write("c.jsonl", sweep_header("") + trial("t0", 1) + trial("t0", 1));
  EXPECT_EQ(merge_results_files({c}, path("out.jsonl")).status().code(), StatusCode::invalid_argument);
}

TEST_F(MergeTest, RefusesOtherSettingsNamingTheField) {
  const std::string a = write("a.jsonl", sweep_header("1/2") + trial("t0", 0));
  const std::string b = write("b.jsonl", sweep_header("2/2", 3) + trial("t1", 0));
  const auto s = merge_results_files({a, b}, path("out.jsonl"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::format_error);
  EXPECT_EQ(s.status().message(),
            a + " and " + b + " were run with different settings: settings.samples is 1 in one and "
                              "3 in the other; only the shards of one run merge (same flags, task "
                              "file and model, other --shard)");
}

TEST_F(MergeTest, RefusesTheSameShardTwiceAndShardsOfOtherN) {
  const std::string a = write("a.jsonl", sweep_header("1/2") + trial("t0", 0));
  const std::string b = write("b.jsonl", sweep_header("1/2") + trial("t2", 0));
  EXPECT_EQ(merge_results_files({a, b}, path("out.jsonl")).status().message(),
            a + " and " + b + " are both shard 1/2; pass each shard once");
  const std::string c = write("c.jsonl", sweep_header("2/3") + trial("t1", 0));
  EXPECT_EQ(merge_results_files({a, c}, path("out.jsonl")).status().message(),
            a + " is shard 1/2 and " + c + " shard 2/3: the shards of one run share N");
}

TEST_F(MergeTest, RefusesMixedFormatsOtherFilesAndAnExistingOutput) {
  const std::string a = write("a.jsonl", sweep_header("1/2") + trial("t0", 0));
  const std::string bench = write(
      "bench.jsonl", R"({"format":"keytok-bench","version":1,"model":"m","settings":{}})" "\n"
                     R"({"task":"t1","strategy":"greedy"})" "\n");
  EXPECT_EQ(merge_results_files({a, bench}, path("out.jsonl")).status().message(),
            a + " is a sweep results file and " + bench + " a bench results file; keytok merge joins "
                                                          "files of one kind");
  const std::string tasks = write("tasks.jsonl", R"({"id":"x","prompt":"p","answer":"1"})" "\n");
  EXPECT_EQ(merge_results_files({tasks}, path("out.jsonl")).status().message(),
            tasks + ":1: not a results file of keytok sweep or keytok bench (its first line must "
                    "be their header); keytok merge joins those files only");
  EXPECT_EQ(merge_results_files({a}, a).status().message(),
            a + " exists; keytok merge writes a new file (remove it, or pass another -o)");
  EXPECT_EQ(merge_results_files({}, path("out.jsonl")).status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(merge_results_files({path("absent.jsonl")}, path("out.jsonl")).status().code(),
            StatusCode::not_found);
}

TEST_F(MergeTest, BenchRowsAreKeyedByTaskAndStrategy) {
  const std::string h = R"({"format":"keytok-bench","version":1,"model":"m","settings":{"shard":"X"}})" "\n";
  const std::string bad = write("bad.jsonl", h);
  EXPECT_EQ(merge_results_files({bad}, path("out.jsonl")).status().message(),
            bad + ":1: the header's settings.shard is not I/N: --shard: expected I/N, shard I of N "
                  "counted from 1 (e.g. 2/4), got 'X'");
  const std::string head = R"({"format":"keytok-bench","version":1,"model":"m","settings":{"shard":"1/2"}})" "\n";
  const std::string head2 = R"({"format":"keytok-bench","version":1,"model":"m","settings":{"shard":"2/2"}})" "\n";
  const std::string a = write("a.jsonl", head + R"({"task":"t0","strategy":"greedy"})" "\n"
                                                R"({"task":"t0","strategy":"sc:2"})" "\n");
  const std::string b = write("b.jsonl", head2 + R"({"task":"t1","strategy":"greedy"})" "\n");
  auto s = merge_results_files({a, b}, path("out.jsonl"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->rows, 3u);
  const std::string c = write("c.jsonl", head2 + R"({"task":"t1"})" "\n");
  EXPECT_EQ(merge_results_files({a, c}, path("out2.jsonl")).status().message(),
            c + ":2: a bench results file row without \"strategy\"");
}

}  // namespace
}  // namespace keytok
