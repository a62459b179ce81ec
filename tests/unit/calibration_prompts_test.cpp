// The built-in calibration prompt set and the prompt-file reader.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "keytok/calibration_prompts.hpp"

namespace keytok {
namespace {

TEST(BuiltinCalibrationPrompts, HasFiftyTwoVariedPrompts) {
  const auto prompts = builtin_calibration_prompts();
  ASSERT_EQ(prompts.size(), 52u);
  std::map<std::string, int> per_category;
  std::set<std::string> ids;
  for (const auto& p : prompts) {
    ++per_category[p.category];
    EXPECT_TRUE(ids.insert(p.id).second) << "duplicate id " << p.id;
    EXPECT_FALSE(p.prompt.empty()) << p.id;
    EXPECT_EQ(p.id.rfind(p.category + "-", 0), 0u) << p.id;
  }
  const std::map<std::string, int> want = {{"math", 13}, {"code", 13}, {"facts", 13}, {"prose", 13}};
  EXPECT_EQ(per_category, want);
}

TEST(BuiltinCalibrationPrompts, SetIdNamesTheContent) {
  const std::string& id = builtin_prompt_set_id();
  ASSERT_EQ(id.size(), std::string("builtin-").size() + 12);
  EXPECT_EQ(id.rfind("builtin-", 0), 0u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 8), std::string::npos) << id;
}

TEST(CalibrationPromptFile, ReadsPlainLinesAndJsonLines) {
  const std::string text =
      "What is 2 + 2?\n"
      "\n"
      "{\"id\": \"q2\", \"category\": \"code\", \"prompt\": \"Write a loop.\"}\r\n"
      "   \n"
      "{\"prompt\": \"Only a prompt.\"}\n"
      "{\"question\": \"A GSM8K question?\", \"answer\": \"#### 4\"}\n"
      "Last line without a newline";
  auto p = parse_calibration_prompts(text, "mine.txt");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_EQ(p->size(), 5u);
  EXPECT_EQ((*p)[0].prompt, "What is 2 + 2?");
  EXPECT_EQ((*p)[0].id, "line-1");
  EXPECT_EQ((*p)[1].id, "q2");
  EXPECT_EQ((*p)[1].category, "code");
  EXPECT_EQ((*p)[1].prompt, "Write a loop.");
  EXPECT_EQ((*p)[2].id, "line-5");
  EXPECT_EQ((*p)[2].category, "");
  EXPECT_EQ((*p)[3].prompt, "A GSM8K question?");
  EXPECT_EQ((*p)[3].id, "line-6");
  EXPECT_EQ((*p)[4].prompt, "Last line without a newline");
}

TEST(CalibrationPromptFile, ErrorsNameTheLine) {
  auto bad_json = parse_calibration_prompts("fine\n{\"prompt\": \n", "p.jsonl");
  EXPECT_EQ(bad_json.status().code(), StatusCode::format_error);
  EXPECT_EQ(bad_json.status().message().rfind("p.jsonl:2: not valid JSON", 0), 0u) << bad_json.status().message();

  auto no_prompt = parse_calibration_prompts("{\"id\": \"x\"}\n", "p.jsonl");
  EXPECT_EQ(no_prompt.status().code(), StatusCode::format_error);
  EXPECT_EQ(no_prompt.status().message(), "p.jsonl:1: a JSON line needs a non-empty \"prompt\" (or \"question\") string");

  auto not_utf8 = parse_calibration_prompts("ok\nbad \xFF byte\n", "p.txt");
  EXPECT_EQ(not_utf8.status().code(), StatusCode::format_error);
  EXPECT_EQ(not_utf8.status().message().rfind("p.txt:2: the line is not valid UTF-8", 0), 0u);

  auto empty = parse_calibration_prompts("\n  \n", "e.txt");
  EXPECT_EQ(empty.status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(empty.status().message(), "e.txt holds no prompts; write one prompt per line");

  EXPECT_EQ(read_calibration_prompts("/nonexistent/prompts.txt").status().code(), StatusCode::not_found);
}

}  // namespace
}  // namespace keytok
