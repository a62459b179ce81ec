// Answer matching and extraction: trimming, number scanning, contains, regex.
#include <gtest/gtest.h>

#include "keytok/tasks.hpp"

namespace keytok {
namespace {

Task make(MatchMode mode, std::string answer) {
  return Task{.id = std::string(1, 't'), .prompt = {}, .answer = std::move(answer), .match = mode};
}

std::string last_number(std::string_view output) {
  return extract_answer(MatchMode::number, output).value_or("<none>");
}

TEST(TaskMatch, ExactTrimsOnlyLeadingAndTrailingWhitespace) {
  const Task t = make(MatchMode::exact, "1 2 3");
  EXPECT_TRUE(answer_matches(t, "1 2 3"));
  EXPECT_TRUE(answer_matches(t, " \n1 2 3\n\t "));
  EXPECT_FALSE(answer_matches(t, "1  2 3"));
  EXPECT_FALSE(answer_matches(t, "1 2 3 4"));
  EXPECT_FALSE(answer_matches(t, "Sure: 1 2 3"));
}

TEST(TaskMatch, NumberComparesTheLastNumber) {
  const Task t = make(MatchMode::number, "72");
  EXPECT_TRUE(answer_matches(t, "48 + 24 = 72"));
  EXPECT_TRUE(answer_matches(t, "The answer is 72."));
  EXPECT_TRUE(answer_matches(t, "#### 72.00"));
  EXPECT_FALSE(answer_matches(t, "72 is wrong, it is 73"));
  EXPECT_FALSE(answer_matches(t, "seventy-two"));
  EXPECT_TRUE(answer_matches(make(MatchMode::number, "1,234"), "total: $1234"));
  EXPECT_TRUE(answer_matches(make(MatchMode::number, "-3"), "x = -3"));
  EXPECT_FALSE(answer_matches(make(MatchMode::number, "-3"), "x = 3"));
}

TEST(ExtractAnswer, NumberHandlesCommasSignsAndDecimals) {
  EXPECT_EQ(last_number("It costs 1,234 dollars"), "1234");
  EXPECT_EQ(last_number("1,234,567"), "1234567");
  EXPECT_EQ(last_number("list 1,2,3"), "3");
  EXPECT_EQ(last_number("12,3456"), "3456");  // not a thousands group
  EXPECT_EQ(last_number("minus: -5"), "-5");
  EXPECT_EQ(last_number("pages 3-5"), "5");  // a hyphen after a digit is not a sign
  EXPECT_EQ(last_number("x-5"), "5");
  EXPECT_EQ(last_number("+7"), "7");
  EXPECT_EQ(last_number("72.0"), "72");
  EXPECT_EQ(last_number("$1,000.50 total."), "1000.5");
  EXPECT_EQ(last_number("0.50"), "0.5");
  EXPECT_EQ(last_number("about .5"), "0.5");
  EXPECT_EQ(last_number("-0.0"), "0");
  EXPECT_EQ(last_number("007"), "7");
  EXPECT_EQ(last_number("3.14.15"), "15");
  EXPECT_EQ(last_number("no digits here"), "<none>");
  EXPECT_EQ(last_number(""), "<none>");
}

TEST(ExtractAnswer, CanonicalNumberAcceptsOnlyOneNumber) {
  EXPECT_EQ(canonical_number(" 1,000 ").value_or("?"), "1000");
  EXPECT_EQ(canonical_number("-2.50").value_or("?"), "-2.5");
  EXPECT_FALSE(canonical_number("1 2").has_value());
  EXPECT_FALSE(canonical_number("12 apples").has_value());
  EXPECT_FALSE(canonical_number("").has_value());
}

TEST(ExtractAnswer, ExactAndContainsGiveTheTrimmedOutput) {
  EXPECT_EQ(extract_answer(MatchMode::exact, "  a b \n").value_or("?"), "a b");
  EXPECT_EQ(extract_answer(MatchMode::contains, "x").value_or("?"), "x");
  EXPECT_FALSE(extract_answer(MatchMode::exact, " \n ").has_value());
}

TEST(ExtractAnswer, RegexWithCaptureGroupGivesTheLastCapture) {
  const Task t = make(MatchMode::regex, "Answer: (\\w+)");
  EXPECT_EQ(extract_answer(MatchMode::regex, "Answer: no\nAnswer: yes", &t).value_or("?"), "yes");
  EXPECT_FALSE(extract_answer(MatchMode::regex, "nothing", &t).has_value());
  const Task plain = make(MatchMode::regex, "\\d+");
  EXPECT_EQ(extract_answer(MatchMode::regex, " 42 ", &plain).value_or("?"), "42");
  EXPECT_EQ(extract_answer(MatchMode::regex, " 42 ").value_or("?"), "42");
}

TEST(TaskMatch, ContainsAndRegex) {
  EXPECT_TRUE(answer_matches(make(MatchMode::contains, "Paris"), "It is Paris, France."));
  EXPECT_FALSE(answer_matches(make(MatchMode::contains, "Paris"), "it is paris"));
  EXPECT_TRUE(answer_matches(make(MatchMode::regex, "^\\s*(yes|no)\\b"), "  yes, because"));
  EXPECT_FALSE(answer_matches(make(MatchMode::regex, "^\\s*(yes|no)\\b"), "maybe yes"));
  EXPECT_FALSE(answer_matches(make(MatchMode::regex, "(broken"), "anything"));
}

TEST(TaskMatch, ModeNamesRoundTrip) {
  for (MatchMode m : {MatchMode::exact, MatchMode::number, MatchMode::contains, MatchMode::regex}) {
    EXPECT_EQ(parse_match_mode(match_mode_name(m)), m);
  }
  EXPECT_FALSE(parse_match_mode("Exact").has_value());
}

}  // namespace
}  // namespace keytok
