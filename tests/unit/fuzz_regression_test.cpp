// The bugs the fuzz targets found, and two found while writing them (docs/fuzzing.md,
// "Findings"), one test each: every input here used to crash, abort on an uncaught exception
// or hit undefined behaviour.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "keytok/bench.hpp"
#include "keytok/key_token.hpp"
#include "keytok/sweep.hpp"
#include "keytok/tasks.hpp"
#include "schema.hpp"
#include "util/json_number.hpp"

namespace keytok {
namespace {

void expect_format_error(const Status& st, const std::string& text) {
  EXPECT_EQ(st.code(), StatusCode::format_error) << st.to_string();
  EXPECT_NE(st.message().find(text), std::string::npos) << st.message();
}

// Finding 1 (fuzz_tasks, fuzz_sweep_results, fuzz_bench_results): a number beyond a double in
// any JSON-lines file threw nlohmann's out_of_range past the reader, which caught only
// parse_error: std::terminate.
TEST(FuzzRegression, NumberBeyondADoubleInAJsonLinesFile) {
  expect_format_error(
      parse_tasks(R"({"id":"a","prompt":1e400,"answer":"1","match":"exact"})"
                  "\n",
                  "t.jsonl")
          .status(),
      "t.jsonl:1: not valid JSON ([json.exception.out_of_range.406] number overflow");
  expect_format_error(parse_sweep_results(R"({"format":"keytok-sweep","version":1e400})"
                                          "\n",
                                          "s.jsonl")
                          .status(),
                      "s.jsonl:1: not valid JSON");
  expect_format_error(parse_bench_results(R"({"format":"keytok-bench","version":1,"model":"m"})"
                                          "\n"
                                          R"({"task":"a","wall_ms":-1e999})"
                                          "\n",
                                          "b.jsonl", "m")
                          .status(),
                      "b.jsonl:2: not valid JSON");
}

// Finding 2 (fuzz_bench_results, fuzz_calibration; the same code in the sweep reader): a float
// out of an integer field's range was cast to it (nlohmann's get<int>), which is undefined
// behaviour; such a number is now refused as out of range.
TEST(FuzzRegression, FloatOutOfAnIntegerFieldsRange) {
  const std::string bench_header = R"({"format":"keytok-bench","version":1,"model":"m"})"
                                   "\n";
  const std::string row = R"({"task":"a","strategy":"greedy","correct":true,"wall_ms":1,)";
  expect_format_error(
      parse_bench_results(bench_header + row +
                              R"("generated_tokens":1.2e43})"
                              "\n",
                          "b.jsonl", "m")
          .status(),
      "b.jsonl:2: not a bench row ([json.exception.out_of_range.406] number 1.2e+43 is out of "
      "range here)");
  expect_format_error(parse_bench_results(bench_header + row +
                                              R"("generated_tokens":5,"forks":-1e300})"
                                              "\n",
                                          "b.jsonl", "m")
                          .status(),
                      "not a bench row");
  // Whole floats in range still read as before.
  auto rows = parse_bench_results(bench_header + row +
                                      R"("generated_tokens":5.0,"paths":2.0})"
                                      "\n",
                                  "b.jsonl", "m");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ((*rows)[0].generated_tokens, 5);
  EXPECT_EQ((*rows)[0].paths, 2);

  const nlohmann::json cal = {
      {"format", "keytok-calibration"},
      {"version", 1},
      {"rule", "entropy"},
      {"entropy_threshold_nats", 2.0},
      {"margin_threshold", 0.1},
      {"key_fraction", 0.08},
      {"achieved_fraction", 0.08},
      {"n_positions", 100},
      {"model", {{"name", "m"}, {"n_vocab", 1.53333e36}, {"file_size", 1}}}};
  expect_format_error(parse_calibration(cal.dump(), "c.json").status(),
                      "c.json is not a valid calibration file ([json.exception.out_of_range.406] "
                      "number 1.53333e+36 is out of range here)");
  nlohmann::json big_threshold = cal;
  big_threshold["model"]["n_vocab"] = 49152;
  big_threshold["entropy_threshold_nats"] = 1e300;  // beyond a float
  expect_format_error(parse_calibration(big_threshold.dump(), "c.json").status(), "out of range");
  nlohmann::json version = big_threshold;
  version["entropy_threshold_nats"] = 2.0;
  version["version"] = 1e300;
  expect_format_error(parse_calibration(version.dump(), "c.json").status(), "out of range");
  version["version"] = 1.0;
  EXPECT_TRUE(parse_calibration(version.dump(), "c.json").ok());

  const std::string sweep_header = R"({"format":"keytok-sweep","version":1,"samples":1e300})"
                                   "\n";
  const std::string trial = R"({"length":4,"success":false,"n_output_tokens":10,)";
  expect_format_error(parse_sweep_results(sweep_header + trial +
                                              R"("first_error_token":1e300})"
                                              "\n",
                                          "s.jsonl")
                          .status(),
                      "s.jsonl:2: \"first_error_token\" has the wrong type (1e+300)");
  // The header's descriptive fields stay lenient: an out-of-range value falls back.
  auto sweep = parse_sweep_results(sweep_header + trial +
                                       R"("first_error_token":3.0})"
                                       "\n",
                                   "s.jsonl");
  ASSERT_TRUE(sweep.ok()) << sweep.status().message();
  EXPECT_EQ(sweep->header.samples, 1);
  EXPECT_EQ(sweep->trials[0].first_error_token, 3);
}

TEST(FuzzRegression, JsonGetChecksTheRange) {
  using detail::json_get;
  using nlohmann::json;
  EXPECT_EQ(json_get<int>(json(2147483647.0)), std::numeric_limits<int>::max());
  EXPECT_EQ(json_get<int>(json(-2147483648.9)), std::numeric_limits<int>::min());
  EXPECT_THROW(json_get<int>(json(2147483648.0)), json::out_of_range);
  EXPECT_THROW(json_get<int>(json(std::int64_t{1} << 40)), json::out_of_range);
  EXPECT_EQ(json_get<std::uint32_t>(json(-0.5)), 0u);
  EXPECT_THROW(json_get<std::uint32_t>(json(-1)), json::out_of_range);
  EXPECT_THROW(json_get<std::uint64_t>(json(1.9e19)), json::out_of_range);
  EXPECT_EQ(json_get<std::uint64_t>(json(std::numeric_limits<std::uint64_t>::max())),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(json_get<float>(json(0.5)), 0.5f);
  EXPECT_THROW(json_get<float>(json(1e300)), json::out_of_range);
  EXPECT_EQ(json_get<double>(json(1e300)), 1e300);
  EXPECT_THROW(json_get<int>(json("7")), json::type_error);  // as get<int>()
  EXPECT_EQ(json_get<std::string>(json("7")), "7");
  EXPECT_EQ(detail::json_value(json::object(), "n", 4), 4);
}

// Finding 3 (fuzz_tasks): libstdc++'s std::regex read the back-reference \5555555555555555555
// into a signed integer that overflowed (undefined behaviour); a pattern of 100,000 characters
// or groups overflows its recursive compiler's stack. Task files now refuse such patterns.
TEST(FuzzRegression, RegexAnswersPastLibstdcxxLimits) {
  const auto task_with = [](const std::string& pattern) {
    return nlohmann::json{{"id", "a"}, {"prompt", "p"}, {"answer", pattern}, {"match", "regex"}}
               .dump() +
           "\n";
  };
  expect_format_error(parse_tasks(task_with(R"( : (\5555555555555555555w+)*)"), "t.jsonl").status(),
                      "t.jsonl:1: answer is not a usable regex: the number 5555555555555555555 in "
                      "the regex has more than 6 digits");
  expect_format_error(parse_tasks(task_with("a{1,99999999999999999999}"), "t.jsonl").status(),
                      "has more than 6 digits");
  expect_format_error(parse_tasks(task_with(std::string(4097, 'a')), "t.jsonl").status(),
                      "the regex is 4097 bytes long; at most 4096 are allowed");
  expect_format_error(
      parse_tasks(task_with(std::string(101, '(') + "a" + std::string(101, ')')), "t.jsonl")
          .status(),
      "the regex nests groups more than 100 deep");
  // Ordinary patterns, escapes and counts still pass.
  const std::vector<std::string> fine = {R"(Answer: (\w+))", R"(\d{2,3}-\d{1,}\(x\)\\)",
                                         "1,2345678",
                                         std::string(100, '(') + "a" + std::string(100, ')')};
  for (const std::string& ok : fine) {
    auto tasks = parse_tasks(task_with(ok), "t.jsonl");
    EXPECT_TRUE(tasks.ok()) << ok << ": " << tasks.status().message();
  }
}

// Finding 4 (while writing fuzz_request; too deep for the fuzzer's 4 KB inputs): a typed field
// holding an array nested 100,000 deep made the error message's dump() recurse until the stack
// overflowed, so one 200 KB request killed `keytok serve`.
TEST(FuzzRegression, DeeplyNestedRequestFieldIsA400) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const auto parsed =
      server::parse_request(R"({"prompt":"x","max_tokens":)" + deep + "}", false, {});
  const auto* error = std::get_if<server::ApiError>(&parsed);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->status, 400);
  EXPECT_EQ(error->param, "max_tokens");
  EXPECT_EQ(error->message, "max_tokens must be an integer in 1..4096 (got an array)");
}

// Finding 4, in the file readers: the same recursion in dump() and copies, reached through a
// sweep header's "settings" or a task line's "format" nested 100,000 deep.
TEST(FuzzRegression, DeeplyNestedJsonLineIsRefused) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  expect_format_error(
      parse_sweep_results(R"({"format":"keytok-sweep","version":1,"settings":)" + deep + "}\n",
                          "s.jsonl")
          .status(),
      "s.jsonl:1: the line nests arrays or objects more than 64 levels deep");
  expect_format_error(parse_tasks(R"({"format":)" + deep + "}\n", "t.jsonl").status(),
                      "t.jsonl:1: the line nests arrays or objects more than 64 levels deep");
  // 64 levels, and brackets inside strings, are fine.
  const std::string meta = std::string(63, '[') + std::string(63, ']');
  auto tasks = parse_tasks(
      R"({"id":"a","prompt":"[[[[{{{{\"","answer":"1","match":"exact","meta":)" + meta + "}\n",
      "t.jsonl");
  EXPECT_TRUE(tasks.ok()) << tasks.status().message();
}

// Finding 5 (while writing fuzz_request, which aborts on it): a chat content part whose "type" is
// not a string threw nlohmann's type_error out of parse_request (the server answered 500 instead of
// naming the field).
TEST(FuzzRegression, ContentPartTypeThatIsNotAStringIsA400) {
  const auto parsed = server::parse_request(
      R"({"messages":[{"role":"user","content":[{"type":5,"text":"x"}]}]})", true, {});
  const auto* error = std::get_if<server::ApiError>(&parsed);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->status, 400);
  EXPECT_EQ(error->param, "messages[0].content");
}

}  // namespace
}  // namespace keytok
