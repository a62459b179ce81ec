#include "util/utf8.hpp"

namespace keytok::detail {

namespace {
// Expected length of a sequence from its lead byte; 0 for an invalid lead.
int sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}
}  // namespace

std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = sequence_length(c);
    if (len == 0 || i + len > s.size()) return i;
    for (int k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    }
    if (len >= 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      if (c == 0xE0 && c1 < 0xA0) return i;  // overlong
      if (c == 0xED && c1 >= 0xA0) return i;  // surrogate
      if (c == 0xF0 && c1 < 0x90) return i;  // overlong
      if (c == 0xF4 && c1 >= 0x90) return i;  // above U+10FFFF
    }
    i += len;
  }
  return std::string_view::npos;
}

std::size_t utf8_complete_prefix(std::string_view s) {
  // Walk back at most 3 continuation bytes to the last lead byte.
  std::size_t n = s.size();
  for (std::size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;
    const int len = sequence_length(c);
    return (len != 0 && static_cast<std::size_t>(len) > back) ? n - back : n;
  }
  return n;
}

}  // namespace keytok::detail
