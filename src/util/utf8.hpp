// UTF-8 validation for user text (the tokenizer must never see malformed input).
#pragma once

#include <cstddef>
#include <string_view>

namespace keytok::detail {

/// Returns the byte offset of the first malformed UTF-8 sequence, or npos when `s` is valid.
/// Rejects overlong forms, surrogates and code points above U+10FFFF.
std::size_t find_invalid_utf8(std::string_view s);

/// Length of the longest prefix of `s` that ends on a code-point boundary (for streaming pieces
/// whose multi-byte characters are split across tokens).
std::size_t utf8_complete_prefix(std::string_view s);

}  // namespace keytok::detail
