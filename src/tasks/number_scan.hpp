// Internal: finds the numbers written in a text, for the `number` match mode.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace keytok::detail {

/// One number found in a text: bytes [begin, end) and its canonical form ("1,234.50" ->
/// "1234.5"; see keytok::extract_answer for the rules).
struct NumberSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string canonical;
};

/// Every number in `text`, left to right, non-overlapping. Recognized: an optional sign ('-' or
/// '+', only when not preceded by a letter or digit), digits with optional comma thousands
/// groups (1-3 digits, then ",ddd" groups), an optional fraction ".d+"; also ".5".
std::vector<NumberSpan> scan_numbers(std::string_view text);

}  // namespace keytok::detail
