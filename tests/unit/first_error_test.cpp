// First-error alignment on hand-made cases: where an output first leaves its reference.
#include "keytok/first_error.hpp"

#include <gtest/gtest.h>

namespace keytok {
namespace {

using Pieces = std::vector<std::string>;

TEST(FirstError, IdenticalOutputHasNoError) {
  const FirstError e = find_first_error({"1", " 2", " 3"}, "1 2 3");
  EXPECT_FALSE(e.found());
  EXPECT_EQ(e.kind, FirstErrorKind::none);
  EXPECT_EQ(e.token, -1);
}

TEST(FirstError, SurroundingWhitespaceIsNotAnError) {
  EXPECT_FALSE(find_first_error({" 1", " 2", " 3", "\n"}, "1 2 3").found());
  EXPECT_FALSE(find_first_error({"1 2 3"}, "\n1 2 3  ").found());
}

TEST(FirstError, DivergenceAtTheFirstToken) {
  const FirstError e = find_first_error({"7", " 2", " 3"}, "1 2 3");
  EXPECT_EQ(e.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(e.token, 0);
  EXPECT_EQ(e.output_byte, 0u);
  EXPECT_EQ(e.reference_byte, 0u);
}

TEST(FirstError, DivergenceAfterLeadingWhitespaceIsAtTheFirstContentToken) {
  const FirstError e = find_first_error({" ", "Sure", ":"}, "1 2");
  EXPECT_EQ(e.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(e.token, 1);
}

TEST(FirstError, DivergenceInTheMiddle) {
  const FirstError e =
      find_first_error({"apple", " river", " stone", " cloud"}, "apple river store cloud");
  EXPECT_EQ(e.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(e.token, 2);  // " stone" holds the first wrong byte ('n' vs 'r')
  EXPECT_EQ(e.output_byte, 15u);
  EXPECT_EQ(e.reference_byte, 15u);
}

TEST(FirstError, OutputThatStopsEarlyPointsJustPastTheOutput) {
  const FirstError e = find_first_error({"1", " 2"}, "1 2 3");
  EXPECT_EQ(e.kind, FirstErrorKind::stopped_early);
  EXPECT_EQ(e.token, 2);  // == pieces.size(): the end-of-generation step
  EXPECT_EQ(e.output_byte, 3u);
  EXPECT_EQ(e.reference_byte, 3u);
  EXPECT_EQ(find_first_error({}, "1").token, 0);
  EXPECT_EQ(find_first_error({}, "1").kind, FirstErrorKind::stopped_early);
}

TEST(FirstError, TrailingNewlineInsteadOfTheNextItemIsAMismatch) {
  // The model chose "\n" where " 3" was due, then stopped: the "\n" token is the error.
  const FirstError e = find_first_error({"1", " 2", "\n"}, "1 2 3");
  EXPECT_EQ(e.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(e.token, 2);
}

TEST(FirstError, OutputLongerThanTheReferenceErrsAtTheFirstExtraToken) {
  const FirstError e = find_first_error({"1", " 2", " 3", " 4", " 5"}, "1 2 3");
  EXPECT_EQ(e.kind, FirstErrorKind::extra_output);
  EXPECT_EQ(e.token, 3);
  const FirstError chat = find_first_error({"1", " 2", " 3", "\n\n", "Hope", " this"}, "1 2 3");
  EXPECT_EQ(chat.kind, FirstErrorKind::extra_output);
  EXPECT_EQ(chat.token, 3);  // the model should have ended; it wrote "\n\n" and went on
}

TEST(FirstError, DifferentTokenizationOfTheSameTextIsNoError) {
  EXPECT_FALSE(find_first_error({"hel", "lo", " wor", "ld"}, "hello world").found());
  EXPECT_FALSE(find_first_error({"h", "e", "l", "l", "o", " ", "world"}, "hello world").found());
  EXPECT_FALSE(find_first_error({"hello world"}, "hello world").found());
  EXPECT_FALSE(
      find_first_error({"", "hello", "", " world", ""}, "hello world").found());  // empty pieces
}

TEST(FirstError, DifferentTokenizationMapsTheByteToItsToken) {
  const FirstError e = find_first_error({"hel", "lo", " wa", "ld"}, "hello world");
  EXPECT_EQ(e.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(e.token, 2);
  const FirstError split = find_first_error({"12", "34", "5", "7"}, "123456");
  EXPECT_EQ(split.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(split.token, 3);  // "7" vs '6'
}

TEST(FirstError, MultiByteCharacterSplitAcrossTokens) {
  // "é" is 0xC3 0xA9; a tokenizer may cut it in two. "è" is 0xC3 0xA8.
  const std::string e_acute = "caf\xC3\xA9";
  EXPECT_FALSE(find_first_error({"caf\xC3", "\xA9"}, e_acute).found());
  const FirstError e = find_first_error({"caf\xC3", "\xA8"}, e_acute);
  EXPECT_EQ(e.kind, FirstErrorKind::mismatch);
  EXPECT_EQ(e.token, 1);
}

TEST(FirstError, KindNames) {
  EXPECT_STREQ(first_error_kind_name(FirstErrorKind::none), "none");
  EXPECT_STREQ(first_error_kind_name(FirstErrorKind::mismatch), "mismatch");
  EXPECT_STREQ(first_error_kind_name(FirstErrorKind::stopped_early), "stopped_early");
  EXPECT_STREQ(first_error_kind_name(FirstErrorKind::extra_output), "extra_output");
}

}  // namespace
}  // namespace keytok
