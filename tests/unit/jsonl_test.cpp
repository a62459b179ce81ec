// The JSON-lines reader and writer every keytok file format shares, and the enum name tables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "keytok/bench.hpp"
#include "keytok/key_token.hpp"
#include "keytok/reliability.hpp"
#include "keytok/results_file.hpp"
#include "keytok/strategy.hpp"
#include "keytok/tasks.hpp"
#include "util/jsonl.hpp"

namespace keytok {
namespace {

using detail::parse_jsonl;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string temp_file(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/jsonl_" + name;
  std::filesystem::remove(path);
  return path;
}

TEST(Jsonl, SplitsLinesWithNumbersAndCutOffFlag) {
  const auto lines = detail::split_lines("a\r\n\n  \nb\nc");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].number, 1);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_TRUE(lines[0].complete);
  EXPECT_EQ(lines[1].number, 4);
  EXPECT_EQ(lines[2].number, 5);
  EXPECT_EQ(lines[2].text, "c");
  EXPECT_FALSE(lines[2].complete);
  EXPECT_TRUE(detail::split_lines("").empty());
}

TEST(Jsonl, ReadsHeaderAndRows) {
  auto doc = parse_jsonl("{\"format\":\"keytok-bench\",\"version\":1,\"model\":\"m\"}\n\n{\"a\":1}\n{\"a\":2}\n",
                         "f", detail::kBenchFormat);
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_EQ(doc->header["model"], "m");
  ASSERT_EQ(doc->rows.size(), 2u);
  EXPECT_EQ(doc->rows[0].line, 3);
  EXPECT_EQ(doc->rows[1].value["a"], 2);
  EXPECT_EQ(doc->cut_off_line, 0);
  EXPECT_EQ(doc->n_lines, 3);
}

TEST(Jsonl, HeaderErrorsNameTheLineAndTheFormatFound) {
  const auto message = [](std::string_view text, const detail::JsonlFormat& f) {
    return parse_jsonl(text, "f.jsonl", f).status().message();
  };
  EXPECT_EQ(message("{\"a\":1}\n", detail::kSweepFormat),
            "f.jsonl:1: not a sweep results file: the first line must be the header "
            "{\"format\":\"keytok-sweep\",\"version\":1,...} (found no \"format\"); pass the file "
            "keytok sweep wrote, or a length,trials,successes CSV");
  EXPECT_EQ(message("{\"format\":\"keytok-bench\",\"version\":1}\n", detail::kTaskFormat),
            "f.jsonl:1: not a task file: the first line must be the header "
            "{\"format\":\"keytok-tasks\",\"version\":1,...} (found \"keytok-bench\", a bench results "
            "file); pass a task file (keytok tasks -o FILE writes one)");
  EXPECT_EQ(message("{\"format\":\"keytok-bench\",\"version\":2}\n", detail::kBenchFormat),
            "f.jsonl:1: bench results file version 2 is not supported (this keytok reads version 1); "
            "use the keytok that wrote the file, or write it again with this one");
  EXPECT_EQ(message("{\"format\":\"keytok-bench\"}\n", detail::kBenchFormat),
            "f.jsonl:1: the bench results file header has no integer \"version\"");
  EXPECT_EQ(message("{\"format\":\"keytok-bench\",\"version\":1}\n{\"format\":\"keytok-bench\",\"version\":1}\n",
                    detail::kBenchFormat),
            "f.jsonl:2: a second header line: a bench results file has one header, on its first line "
            "(files cannot be concatenated; merge their rows under one header)");
  EXPECT_EQ(message("{\"format\":\"keytok-bench\",\"version\":1}\n[1]\n", detail::kBenchFormat),
            "f.jsonl:2: expected a JSON object ({...}) on each line");
}

TEST(Jsonl, EachFormatKeepsItsCutOffPolicy) {
  const std::string text = "{\"format\":\"keytok-tasks\",\"version\":1}\n{\"a\":1}\n{\"a\":";
  // Task files are written by hand: a cut-off line is an error.
  auto tasks = parse_jsonl(text, "t", detail::kTaskFormat);
  EXPECT_EQ(tasks.status().code(), StatusCode::format_error);
  EXPECT_EQ(tasks.status().message().rfind("t:3: the last line is cut off (a run killed mid-write?)", 0), 0u)
      << tasks.status().message();
  // Results files are completed by --resume: the cut-off line is left out and reported.
  auto bench = parse_jsonl("{\"format\":\"keytok-bench\",\"version\":1}\n{\"a\":1}\n{\"a\":", "b",
                           detail::kBenchFormat);
  ASSERT_TRUE(bench.ok()) << bench.status().to_string();
  EXPECT_EQ(bench->rows.size(), 1u);
  EXPECT_EQ(bench->cut_off_line, 3);
  // A broken line with its newline is never a cut-off line.
  auto broken = parse_jsonl("{\"format\":\"keytok-bench\",\"version\":1}\n{\"a\":\n{\"a\":1}\n", "b",
                            detail::kBenchFormat);
  EXPECT_EQ(broken.status().message().rfind("b:2: not valid JSON", 0), 0u) << broken.status().message();
  // Only a header line may be cut off in no format: it is line 1, so always an error.
  EXPECT_EQ(parse_jsonl("{\"format\":", "b", detail::kBenchFormat).status().code(), StatusCode::format_error);
}

TEST(Jsonl, OptionalHeaderLetsRowsStartAtOnce) {
  auto doc = parse_jsonl("{\"a\":1}\n", "t", detail::kTaskFormat);
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->header.is_null());
  EXPECT_EQ(doc->rows.size(), 1u);
}

TEST(Jsonl, HeaderLineWritesMagicAndVersionFirst) {
  EXPECT_EQ(detail::header_line(detail::kBenchFormat, {{"model", "m"}}),
            "{\"format\":\"keytok-bench\",\"version\":1,\"model\":\"m\"}");
  EXPECT_EQ(detail::dump_line({{"piece", std::string("a\xff")}}), "{\"piece\":\"a\xef\xbf\xbd\"}");
}

TEST(ResultsWriter, WritesTheHeaderOnlyIntoANewFile) {
  const std::string path = temp_file("new.jsonl");
  {
    auto w = ResultsWriter::open(path, "{\"h\":1}");
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE(w->append("{\"r\":1}").ok());
  }
  EXPECT_EQ(slurp(path), "{\"h\":1}\n{\"r\":1}\n");
  {
    auto w = ResultsWriter::open(path, "{\"h\":1}");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->append("{\"r\":2}").ok());
  }
  EXPECT_EQ(slurp(path), "{\"h\":1}\n{\"r\":1}\n{\"r\":2}\n");
}

TEST(ResultsWriter, CutsAPartialLastLineBeforeAppending) {
  const std::string path = temp_file("cut.jsonl");
  std::ofstream(path) << "{\"h\":1}\n{\"r\":1}\n{\"r\":";
  auto w = ResultsWriter::open(path, "{\"h\":1}");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->append("{\"r\":2}").ok());
  EXPECT_EQ(slurp(path), "{\"h\":1}\n{\"r\":1}\n{\"r\":2}\n");
}

TEST(ResultsWriter, UnwritablePathIsAClearError) {
  auto w = ResultsWriter::open(::testing::TempDir() + "/no/such/dir/r.jsonl", "{}");
  EXPECT_EQ(w.status().code(), StatusCode::io_error);
  EXPECT_NE(w.status().message().find("check the directory exists and is writable"), std::string::npos)
      << w.status().message();
}

TEST(ResultsWriter, FullDiskIsAnIoErrorNamingTheFile) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  // /dev/full opens like a file that is not new (no header is written); every flushed write
  // fails with ENOSPC, as on a full disk.
  auto w = ResultsWriter::open("/dev/full", "{}");
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  const Status st = w->append("{\"r\":1}");
  EXPECT_EQ(st.code(), StatusCode::io_error);
  EXPECT_EQ(st.message(), "writing /dev/full failed: No space left on device (disk full?); the rows "
                          "written before are intact, and --resume continues after them");
}

TEST(BenchResults, RoundTripAndModelCheck) {
  const std::string path = temp_file("bench.jsonl");
  const BenchRow row{.task_id = "t1", .strategy = "sc:4", .correct = true, .answer = "7", .expected = "7",
                     .generated_tokens = 40, .prompt_tokens = 12, .decode_calls = 11, .peak_live = 4,
                     .forks = 3, .paths = 4, .wall_ms = 12.5};
  const BenchSettings settings{.model_file = "m.gguf", .tasks_file = "t.jsonl",
                               .strategies = {StrategyParams{.kind = StrategyKind::self_consistency, .n = 4}}};
  std::ofstream(path) << bench_header_line("m", settings) << "\n" << bench_row_line(row) << "\n" << "{\"task\":";
  auto rows = load_bench_results(path, "m", &settings);
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].task_id, "t1");
  EXPECT_EQ((*rows)[0].strategy, "sc:4");
  EXPECT_EQ((*rows)[0].generated_tokens, 40);
  EXPECT_EQ((*rows)[0].forks, 3);
  EXPECT_DOUBLE_EQ((*rows)[0].wall_ms, 12.5);
  EXPECT_EQ(load_bench_results(path, "other").status().message(),
            path + ":1: results of model 'm', not 'other'; pass another -o");
  // Other settings are refused, naming the first that differs; files without settings load.
  BenchSettings other = settings;
  other.shard = Shard{.index = 2, .count = 3};
  EXPECT_EQ(load_bench_results(path, "m", &other).status().message(),
            path + " was started with other settings (shard is (absent) in the file, \"2/3\" now); "
                   "resume with the same flags, or -o a new file");
  other = settings;
  other.strategies[0].sampling.temperature = 0.5f;
  EXPECT_EQ(load_bench_results(path, "m", &other).status().code(), StatusCode::invalid_argument);
  std::ofstream(path) << R"({"format":"keytok-bench","version":1,"model":"m"})" << "\n" << bench_row_line(row) << "\n";
  EXPECT_TRUE(load_bench_results(path, "m", &other).ok());
  std::ofstream(path) << bench_header_line("m", settings) << "\n{\"task\":\"t\"}\n";
  EXPECT_EQ(load_bench_results(path, "m").status().message().rfind(path + ":2: not a bench row (", 0), 0u);
}

TEST(EnumNames, EveryNameParsesBackToItsValue) {
  for (MatchMode m : {MatchMode::exact, MatchMode::number, MatchMode::contains, MatchMode::regex}) {
    EXPECT_EQ(parse_match_mode(match_mode_name(m)), m);
  }
  EXPECT_EQ(match_mode_names(), "exact, number, contains or regex");
  for (CombineRule r : {CombineRule::majority, CombineRule::weighted, CombineRule::best_logprob, CombineRule::tree,
                        CombineRule::root}) {
    EXPECT_EQ(parse_combine_rule(combine_rule_name(r)).value(), r);
  }
  EXPECT_EQ(parse_combine_rule("vote").status().message(),
            "unknown combine rule 'vote'; use majority, weighted, best, tree or root");
  for (KeyRule r : {KeyRule::entropy, KeyRule::margin, KeyRule::both, KeyRule::either}) {
    EXPECT_EQ(parse_key_rule(key_rule_name(r)).value(), r);
  }
  EXPECT_EQ(parse_key_rule("x").status().message(), "unknown key rule 'x'; use entropy, margin, both or either");
  for (ReliabilityModel m : all_reliability_models()) {
    EXPECT_EQ(parse_reliability_model(reliability_model_name(m)), m);
  }
  EXPECT_EQ(all_reliability_models().size(), 6u);
  EXPECT_FALSE(parse_reliability_model("linear").has_value());
}

}  // namespace
}  // namespace keytok
