// keytok forks' files and pages (keytok/forks.hpp): task and position rows through the reader
// and back, the reader's errors on damaged files, the summary's JSON and the HTML page.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "keytok/forks.hpp"

namespace keytok {
namespace {

ForkTask sample_task() {
  ForkTask t;
  t.task_id = "gsm-<1>";
  t.expected = "42";
  t.text = "6 * 7\n= 42";
  t.base_answer = "42";
  t.correct = true;
  t.stop_reason = "eog";
  t.tokens = {21, 353, 1000};
  t.pieces = {"6 * 7", "\n=", " <b>&"};
  t.signals = {
      {.entropy = 0.1f, .varentropy = 0.25f, .margin = 0.9f, .top1_prob = 0.95f, .logprob = -0.05f},
      {.entropy = 1.2345678f,
       .varentropy = 3.0f,
       .margin = 0.01f,
       .top1_prob = 0.4f,
       .logprob = -0.9162907f,
       .key = true},
      {.entropy = NAN, .varentropy = 1e-7f, .margin = 0.3f, .top1_prob = 0.6f, .logprob = -0.51f}};
  t.contested = {false, true, true};
  t.plan = {1};
  t.weights = {1.0, 1.0, 0.0};
  return t;
}

ForkPosition sample_position() {
  ForkPosition p;
  p.task_id = "gsm-<1>";
  p.pass = 1;
  p.index = 1;
  p.piece = "\n=";
  p.signals = {.entropy = 1.2345678f,
               .varentropy = 3.0f,
               .margin = 0.01f,
               .top1_prob = 0.4f,
               .logprob = -0.9162907f,
               .key = true};
  p.contested = p.studied = true;
  p.weight = 1.0 / 0.3;
  p.candidates = {
      {.token = 353,
       .piece = "\n=",
       .prob = 0.4f,
       .answers = {"42", "42", std::nullopt},
       .tokens = 30},
      {.token = 7, .piece = " \"x\"", .prob = 0.35f, .answers = {"41", "42", "41"}, .tokens = 31}};
  score_fork_position(p, "42", 0.3f);  // shift 2/3 - 1/3: forks
  return p;
}

void expect_same_signals(const ForkSignals& a, const ForkSignals& b) {
  const auto same = [](float x, float y) { return x == y || (std::isnan(x) && std::isnan(y)); };
  EXPECT_TRUE(same(a.entropy, b.entropy)) << a.entropy << " " << b.entropy;
  EXPECT_TRUE(same(a.varentropy, b.varentropy));
  EXPECT_TRUE(same(a.margin, b.margin));
  EXPECT_TRUE(same(a.top1_prob, b.top1_prob));
  EXPECT_TRUE(same(a.logprob, b.logprob));
  EXPECT_EQ(a.key, b.key);
}

std::string sample_file() {
  return fork_header_line("m.gguf", R"({"samples":8,"fork_shift":0.5})") + "\n" +
         fork_task_json(sample_task()) + "\n" + fork_position_json(sample_position()) + "\n";
}

TEST(ForkFiles, TaskAndPositionRowsRoundTrip) {
  auto r = parse_fork_results(sample_file(), "f.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "m.gguf");
  EXPECT_EQ(nlohmann::json::parse(r->settings_json),
            nlohmann::json::parse(R"({"samples":8,"fork_shift":0.5})"));
  EXPECT_EQ(r->cut_off_line, 0);
  ASSERT_EQ(r->tasks.size(), 1u);
  const ForkTask want = sample_task();
  const ForkTask& got = r->tasks[0];
  EXPECT_EQ(got.task_id, want.task_id);
  EXPECT_EQ(got.expected, want.expected);
  EXPECT_EQ(got.text, want.text);
  EXPECT_EQ(got.base_answer, want.base_answer);
  EXPECT_EQ(got.correct, want.correct);
  EXPECT_EQ(got.stop_reason, want.stop_reason);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.pieces, want.pieces);
  ASSERT_EQ(got.signals.size(), want.signals.size());
  for (std::size_t i = 0; i < want.signals.size(); ++i)
    expect_same_signals(got.signals[i], want.signals[i]);
  EXPECT_EQ(got.contested, want.contested);
  EXPECT_EQ(got.plan, want.plan);
  EXPECT_EQ(got.weights, want.weights);

  ASSERT_EQ(r->rows.size(), 1u);
  const ForkPosition p = sample_position();
  const ForkPosition& q = r->rows[0];
  EXPECT_EQ(q.task_id, p.task_id);
  EXPECT_EQ(q.pass, p.pass);
  EXPECT_EQ(q.index, p.index);
  EXPECT_EQ(q.piece, p.piece);
  expect_same_signals(q.signals, p.signals);
  EXPECT_EQ(q.contested, p.contested);
  EXPECT_EQ(q.studied, p.studied);
  EXPECT_EQ(q.weight, p.weight);  // doubles round-trip exactly
  EXPECT_EQ(q.p_change, p.p_change);
  EXPECT_EQ(q.max_tv, p.max_tv);
  EXPECT_EQ(q.max_shift, p.max_shift);
  EXPECT_EQ(q.expected_shift, p.expected_shift);
  EXPECT_EQ(q.forks, p.forks);
  EXPECT_EQ(q.tokens, p.tokens);
  ASSERT_EQ(q.candidates.size(), p.candidates.size());
  for (std::size_t c = 0; c < p.candidates.size(); ++c) {
    EXPECT_EQ(q.candidates[c].token, p.candidates[c].token);
    EXPECT_EQ(q.candidates[c].piece, p.candidates[c].piece);
    EXPECT_EQ(q.candidates[c].prob, p.candidates[c].prob);
    EXPECT_EQ(q.candidates[c].answers, p.candidates[c].answers);
    EXPECT_EQ(q.candidates[c].tokens, p.candidates[c].tokens);
  }
}

TEST(ForkFiles, RowsAreReadableAndCarryOutcomes) {
  const auto j = nlohmann::json::parse(fork_position_json(sample_position()));
  EXPECT_EQ(j["kind"], "position");
  EXPECT_EQ(j["candidates"][0]["outcomes"], nlohmann::json::parse(R"({"42":2,"":1})"));
  EXPECT_EQ(j["candidates"][0]["answers"][2], nullptr);
  // Floats as the shortest text that reads back: 0.4, not 0.4000000059604645.
  EXPECT_NE(fork_task_json(sample_task()).find("\"top1_prob\":[0.95,0.4,0.6]"), std::string::npos);
  // A NaN signal is written as null.
  EXPECT_NE(fork_task_json(sample_task()).find("\"entropy\":[0.1,1.2345678,null]"),
            std::string::npos);
}

// The file with line `n` (1-based: 1 is the header) replaced by `line`, or `line` appended.
std::string with_line(int n, const std::string& line) {
  std::vector<std::string> lines = {fork_header_line("m.gguf", "{}"), fork_task_json(sample_task()),
                                    fork_position_json(sample_position())};
  if (n <= static_cast<int>(lines.size())) {
    lines[n - 1] = line;
  } else {
    lines.push_back(line);
  }
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

// The position row with one member changed.
std::string position_with(const char* member, const nlohmann::json& value) {
  auto j = nlohmann::json::parse(fork_position_json(sample_position()));
  j[member] = value;
  return j.dump();
}
std::string task_with(const char* member, const nlohmann::json& value) {
  auto j = nlohmann::json::parse(fork_task_json(sample_task()));
  if (value.is_discarded()) {
    j.erase(member);
  } else {
    j[member] = value;
  }
  return j.dump();
}

void expect_error(const std::string& text, const std::string& fragment) {
  auto r = parse_fork_results(text, "f.jsonl");
  ASSERT_FALSE(r.ok()) << "accepted; expected: " << fragment;
  EXPECT_EQ(r.status().code(), StatusCode::format_error);
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST(ForkFiles, ReaderNamesWhatIsWrong) {
  expect_error(with_line(4, R"({"kind":"tsk"})"), "f.jsonl:4: each row needs \"kind\"");
  expect_error(with_line(4, R"({"task":"x"})"), "f.jsonl:4: each row needs \"kind\"");
  expect_error(with_line(2, task_with("pieces", nlohmann::json::value_t::discarded)),
               "f.jsonl:2: task row: no \"pieces\"");
  expect_error(with_line(2, task_with("correct", "yes")),
               "f.jsonl:2: task row: \"correct\" must be true or false");
  expect_error(with_line(2, task_with("margin", {0.1, 0.2})),
               "f.jsonl:2: task row: \"margin\" has 2 elements, not one per token (3)");
  expect_error(with_line(2, task_with("weights", {1.0, -1.0, 0.0})),
               "\"weights\"[1] must be a finite number >= 0");
  expect_error(with_line(2, task_with("plan", {2, 1})), "\"plan\"[1] must be a token index");
  expect_error(with_line(2, task_with("tokens", {1, 2, 3e12})), "\"tokens\"[2] must be a token id");
  expect_error(
      with_line(4, fork_position_json(sample_position())),
      "f.jsonl:4: a second row for task \"gsm-<1>\", pass 1, index 1 (the first is on line 3)");
  expect_error(with_line(4, fork_task_json(sample_task())),
               "f.jsonl:4: a second row for task \"gsm-<1>\"");
  expect_error(with_line(3, position_with("index", 3)),
               "f.jsonl:3: position row: \"index\" must be an integer in 0..2");
  expect_error(with_line(3, position_with("pass", 2)), "\"pass\" must be an integer in 0..1");
  expect_error(with_line(3, position_with("weight", nullptr)),
               "\"weight\" must be a finite number >= 0");
  expect_error(with_line(3, position_with("entropy", 1e300)),
               "\"entropy\" must be a number within a float's range");
  expect_error(with_line(3, position_with("candidates", {{{"token", 1}}})),
               "f.jsonl:3: position row, candidate 0: no \"piece\"");
  expect_error(with_line(3, position_with("task", "other")),
               "f.jsonl:3: position row: task \"other\" has no task row before it");
  // The position before its task.
  expect_error(fork_header_line("m", "{}") + "\n" + fork_position_json(sample_position()) + "\n" +
                   fork_task_json(sample_task()) + "\n",
               "f.jsonl:2: position row: task \"gsm-<1>\" has no task row before it");
  expect_error("", "f.jsonl: the forks results file is empty");
  expect_error(R"({"format":"keytok-sweep","version":1})"
               "\n",
               "a sweep results file");
  expect_error(R"({"format":"keytok-forks","version":1})"
               "\n",
               "f.jsonl:1: the header needs the model's name");
  expect_error("{\"format\":\"keytok-forks\",\"version\":1,\"model\":\"m\",\"settings\":[1]}\n",
               "\"settings\" must be an object");
}

TEST(ForkFiles, AValueInAMessageIsCutOnACharacterBoundary) {
  // 39 ASCII bytes after the quote, then a 2-byte character across the 40-byte cut.
  auto r = parse_fork_results(
      with_line(3, position_with("pass", std::string(38, 'a') + "\u00e9\u00e9")), "f.jsonl");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("(found \"" + std::string(38, 'a') + "...)"), std::string::npos) << m;
}

TEST(ForkFiles, LoadsFromDiskAndSaysWhenTheFileIsMissing) {
  const std::string path = ::testing::TempDir() + "keytok_forks_test.jsonl";
  {
    std::ofstream out(path, std::ios::binary);
    out << sample_file();
  }
  auto r = load_fork_results(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->rows.size(), 1u);
  std::remove(path.c_str());
  auto missing = load_fork_results(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::not_found);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(ForkFiles, ACutOffLastLineIsDropped) {
  // A run killed while writing its fourth line: the rows before it load, the line is reported.
  const std::string row = fork_position_json(sample_position());
  auto r = parse_fork_results(sample_file() + row.substr(0, row.size() / 2), "f.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->cut_off_line, 4);
  EXPECT_EQ(r->rows.size(), 1u);
}

TEST(ForkFiles, SummaryJsonWritesNaNAsNull) {
  // One position that does not fork: AUROC and recall are undefined.
  ForkPosition p = sample_position();
  p.pass = 0;
  p.forks = false;
  const auto j = nlohmann::json::parse(fork_summary_json(summarize_forks(std::vector{p})));
  EXPECT_EQ(j["tasks"], 1);
  EXPECT_EQ(j["fork_share"]["estimate"], 0.0);
  EXPECT_TRUE(j["signals"][0]["auroc"]["estimate"].is_null());
  EXPECT_EQ(j["signals"][4]["signal"], "detector");
  EXPECT_TRUE(j["signals"][4]["threshold"].is_null());
  for (const char* field : {"fork_share_contested", "key_share", "p_change_mean",
                            "detector_accuracy", "detector_balanced_accuracy"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  const std::string text = fork_summary_text(summarize_forks(std::vector{p}));
  EXPECT_NE(text.find("fork share"), std::string::npos) << text;
  EXPECT_NE(text.find("varentropy"), std::string::npos) << text;
}

TEST(ForkPage, EscapesPiecesAndNamesTasks) {
  auto r = parse_fork_results(sample_file(), "f.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // The page shows pass 0; make the row one.
  r->rows[0].pass = 0;
  const std::string html = forks_html(*r, summarize_forks(r->rows));
  EXPECT_NE(html.find("gsm-&lt;1&gt;"), std::string::npos);
  EXPECT_NE(html.find(" &lt;b&gt;&amp;"), std::string::npos);
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_EQ(html.find("gsm-<1>"), std::string::npos);
  EXPECT_NE(html.find("\u21b5"), std::string::npos);         // the newline shown
  EXPECT_NE(html.find("class=\"f k\""), std::string::npos);  // forks, and flagged: outlined
  EXPECT_NE(html.find("fork share"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

}  // namespace
}  // namespace keytok
