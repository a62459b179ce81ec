#include <gtest/gtest.h>

#include "keytok/status.hpp"
#include "util/utf8.hpp"

namespace keytok::detail {
namespace {

TEST(Utf8, AcceptsValidText) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::string_view::npos);
}

TEST(Utf8, FindsFirstBadByte) {
  EXPECT_EQ(find_invalid_utf8("ab\xFF" "cd"), 2u);
  EXPECT_EQ(find_invalid_utf8("ab\xC3"), 2u);             // truncated sequence
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);           // overlong
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);      // surrogate
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);   // above U+10FFFF
}

TEST(Utf8, CompletePrefixStopsBeforeSplitCharacter) {
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
}

TEST(Status, CarriesCodeAndMessage) {
  const Status s = Status::not_found("x.gguf");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "not_found: x.gguf");
  EXPECT_TRUE(Status().ok());
  Result<int> r = 3;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
  Result<int> bad = Status::io_error("disk");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::io_error);
}

}  // namespace
}  // namespace keytok::detail
