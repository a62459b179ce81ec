// keytok/first_error.hpp: where does a generated output first leave its reference?
//
// The reliability lab asks whether errors fall on key tokens. For a task with exactly one
// correct output (Task::reference) the first wrong token is well defined: compare the output
// with the reference byte by byte and map the first differing byte back to the output token
// that holds it. Comparing bytes, not token ids, means that a different tokenization of the
// same text ("hel"+"lo" vs "hello") is never an error.
//
//   std::vector<std::string> pieces = ...;  // decoded bytes of each output token, in order
//   keytok::FirstError e = keytok::find_first_error(pieces, task.reference);
//   if (e.found()) look_at_token(e.token);  // e.token == pieces.size(): the model stopped early
//
// Pure computation; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace keytok {

/// How the output leaves the reference. Persisted by name ("mismatch", ...).
enum class FirstErrorKind {
  none,           ///< the output equals the reference (after exact-match trimming)
  mismatch,       ///< a byte of the output differs from the reference byte at that place
  stopped_early,  ///< the output is a strict prefix of the reference: the model ended too soon
  extra_output,   ///< the output holds the whole reference and then more non-whitespace text
};

/// "none", "mismatch", "stopped_early" or "extra_output".
const char* first_error_kind_name(FirstErrorKind kind);

/// The first place where an output leaves its reference.
struct FirstError {
  FirstErrorKind kind = FirstErrorKind::none;
  /// Index into the output pieces of the first wrong token; -1 for none. For stopped_early it
  /// is pieces.size(): the step just past the output, where the model produced its end of
  /// generation token instead of the rest of the reference (that step's distribution is the
  /// one to inspect).
  int token = -1;
  /// Byte offset into the concatenated output where it leaves the reference (for
  /// stopped_early: the output's length); 0 for none.
  std::size_t output_byte = 0;
  /// Byte offset into the reference at the same place; 0 for none.
  std::size_t reference_byte = 0;

  bool found() const noexcept { return kind != FirstErrorKind::none; }
};

/// Aligns an output with its reference.
///  pieces:    (n_output_tokens) the decoded bytes of each output token, in order. Pieces may be
///             empty (special tokens) and may split multi-byte UTF-8 characters.
///  reference: the one correct output.
/// Rules (the same trimming as MatchMode::exact):
///  1. If the output and the reference are equal after trimming leading and trailing ASCII
///     whitespace, there is no error (kind none), whatever the tokenization.
///  2. Otherwise leading whitespace of both is skipped and the rest compared byte by byte; the
///     first differing byte gives a mismatch at the token that contains it. Trailing whitespace
///     in the output counts here: "1 2\n" against "1 2 3" is a mismatch at the "\n" token, since
///     the model chose "\n" where " 3" was due.
///  3. If the output runs out first, kind stopped_early with token = pieces.size().
///  4. If the reference runs out first, kind extra_output at the token holding the first extra
///     byte (which may be whitespace, e.g. the " 4" of "1 2 3 4" against "1 2 3").
/// Cost: O(total bytes).
FirstError find_first_error(const std::vector<std::string>& pieces, std::string_view reference);

}  // namespace keytok
