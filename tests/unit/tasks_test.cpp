// Task files: keytok JSONL and GSM8K reading, error messages that name the line, round trip.
#include "keytok/tasks.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace keytok {
namespace {

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "keytok_tasks_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Parses and expects a format error whose message contains every fragment.
void expect_error(const std::string& text, std::initializer_list<std::string> fragments) {
  auto tasks = parse_tasks(text, "t.jsonl");
  ASSERT_FALSE(tasks.ok()) << text;
  for (const std::string& f : fragments) {
    EXPECT_NE(tasks.status().message().find(f), std::string::npos)
        << "message: " << tasks.status().message() << "\nmissing: " << f;
  }
}

TEST(TaskFile, ReadsKeytokFormat) {
  const std::string text =
      R"({"id":"a","prompt":"Say hi.","answer":"hi","match":"exact"})"
      "\n\n"  // blank lines are skipped
      R"({"id":"b","prompt":"2+2?","answer":4,"match":"number","family":"arith","length":1})"
      "\r\n"
      R"({"id":7,"prompt":"p","answer":"x+","match":"regex","reference":"xx","meta":{"k":1}})"
      "\n";
  auto tasks = parse_tasks(text, "t.jsonl");
  ASSERT_TRUE(tasks.ok()) << tasks.status().to_string();
  ASSERT_EQ(tasks->size(), 3u);
  const Task& a = (*tasks)[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.prompt, "Say hi.");
  EXPECT_EQ(a.match, MatchMode::exact);
  EXPECT_EQ(a.reference, "hi");  // defaults to the answer for exact
  EXPECT_EQ(a.length, 0);
  const Task& b = (*tasks)[1];
  EXPECT_EQ(b.answer, "4");
  EXPECT_EQ(b.match, MatchMode::number);
  EXPECT_EQ(b.family, "arith");
  EXPECT_EQ(b.length, 1);
  EXPECT_EQ(b.reference, "");  // no default for non-exact modes
  EXPECT_EQ((*tasks)[2].id, "7");
  EXPECT_EQ((*tasks)[2].reference, "xx");
}

TEST(TaskFile, ReadsGsm8kFormat) {
  const std::string text = R"({"question":"Q one?","answer":"Work.\n#### 72"})"
                           "\n"
                           R"({"question":"Q two?","answer":"48/2 = <<48/2=24>>24\n#### 1,000"})"
                           "\n";
  auto tasks = parse_tasks(text, "gsm.jsonl");
  ASSERT_TRUE(tasks.ok()) << tasks.status().to_string();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].id, "gsm8k-1");
  EXPECT_EQ((*tasks)[0].prompt, "Q one?");
  EXPECT_EQ((*tasks)[0].answer, "72");
  EXPECT_EQ((*tasks)[0].match, MatchMode::number);
  EXPECT_EQ((*tasks)[0].family, "gsm8k");
  EXPECT_EQ((*tasks)[1].id, "gsm8k-2");
  EXPECT_EQ((*tasks)[1].answer, "1000");
  EXPECT_TRUE(answer_matches((*tasks)[1], "So the total is 1,000."));
}

TEST(TaskFile, ReadsTheRealGsm8kTrainFileWhenPresent) {
  const std::string path = std::string(KEYTOK_SOURCE_DIR) + "/../shared/data/gsm8k/train.jsonl";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no GSM8K copy at " << path;
  auto tasks = load_tasks(path);
  ASSERT_TRUE(tasks.ok()) << tasks.status().to_string();
  EXPECT_GT(tasks->size(), 7000u);
  EXPECT_EQ((*tasks)[0].answer, "72");  // Natalia's clips
}

TEST(TaskFile, MalformedJsonNamesFileAndLine) {
  expect_error(R"({"id":"a","prompt":"p","answer":"x","match":"exact"})"
               "\n"
               R"({"id":"b","prompt":"p",)"
               "\n",
               {"t.jsonl:2:", "not valid JSON"});
}

TEST(TaskFile, MissingFieldNamesTheField) {
  expect_error(R"({"id":"a","prompt":"p","match":"exact"})", {"t.jsonl:1:", "\"answer\""});
  expect_error(
      "\n\n"
      R"({"id":"a","answer":"x","match":"exact"})",
      {"t.jsonl:3:", "\"prompt\""});
}

TEST(TaskFile, UnknownMatchModeSaysWhichModesExist) {
  expect_error(R"({"id":"a","prompt":"p","answer":"x","match":"fuzzy"})",
               {"t.jsonl:1:", "unknown match mode \"fuzzy\"", "exact, number, contains or regex"});
}

TEST(TaskFile, EmptyFileIsAnError) {
  expect_error("", {"t.jsonl", "no tasks"});
  expect_error("  \n\n\t\n", {"no tasks"});
  expect_error(R"({"format":"keytok-tasks","version":1})", {"header but no tasks"});
}

TEST(TaskFile, BadRegexIsAnError) {
  expect_error(R"({"id":"a","prompt":"p","answer":"(unclosed","match":"regex"})",
               {"t.jsonl:1:", "regex"});
}

TEST(TaskFile, NumberAnswerMustBeANumber) {
  expect_error(R"({"id":"a","prompt":"p","answer":"seven","match":"number"})",
               {"t.jsonl:1:", "not a number"});
}

TEST(TaskFile, DuplicateIdNamesBothLines) {
  expect_error(R"({"id":"a","prompt":"p","answer":"x","match":"exact"})"
               "\n"
               R"({"id":"a","prompt":"q","answer":"y","match":"exact"})",
               {"t.jsonl:2:", "duplicate id \"a\"", "line 1"});
}

TEST(TaskFile, UnknownFieldIsAnError) {
  expect_error(R"({"id":"a","prompt":"p","answer":"x","match":"exact","refrence":"x"})",
               {"t.jsonl:1:", "unknown field \"refrence\""});
}

TEST(TaskFile, HeaderOfAnotherFormatOrVersionIsRejected) {
  expect_error(R"({"format":"keytok-sweep","version":1})", {"t.jsonl:1:", "sweep results"});
  expect_error(R"({"format":"keytok-tasks","version":2})", {"t.jsonl:1:", "version 2"});
  expect_error(R"({"id":"a","prompt":"p","answer":"x","match":"exact"})"
               "\n"
               R"({"format":"keytok-tasks","version":1})",
               {"t.jsonl:2:", "first line"});
}

TEST(TaskFile, WrongTypesAreErrors) {
  expect_error(R"({"id":"a","prompt":3,"answer":"x","match":"exact"})", {"\"prompt\""});
  expect_error(R"({"id":"a","prompt":"p","answer":"x","match":"exact","length":-2})",
               {"\"length\""});
  expect_error(R"(["a","b"])", {"JSON object"});
  expect_error(R"({"question":"q","answer":"no final marker"})", {"####"});
}

TEST(TaskFile, MissingFileIsNotFound) {
  auto tasks = load_tasks(temp_path("does_not_exist.jsonl"));
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().code(), StatusCode::not_found);
  EXPECT_NE(tasks.status().message().find("does_not_exist.jsonl"), std::string::npos);
}

TEST(TaskFile, WriteThenReadGivesEqualTasks) {
  std::vector<Task> tasks = {
      {"t1", "Line one\nline \"two\" \\ caf\u00e9", "a b", MatchMode::exact, "copy", 2, "a b"},
      {"t2", "p", "-3.5", MatchMode::number, "", 0, ""},
      {"t3", "p", "ab", MatchMode::contains, "fam", 9, "xxabxx"},
      {"t4", "p", "^\\d+$", MatchMode::regex, "", 0, ""},
  };
  const std::string path = temp_path("roundtrip.jsonl");
  ASSERT_TRUE(write_tasks(path, tasks).ok());
  auto back = load_tasks(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const Task& a = tasks[i];
    const Task& b = (*back)[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.prompt, b.prompt);
    EXPECT_EQ(a.answer, b.answer);
    EXPECT_EQ(a.match, b.match);
    EXPECT_EQ(a.family, b.family);
    EXPECT_EQ(a.length, b.length);
    EXPECT_EQ(a.reference, b.reference);
  }
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, R"({"format":"keytok-tasks","version":1,"count":4})");
}

}  // namespace
}  // namespace keytok
