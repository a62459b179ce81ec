// First-error alignment: byte-level comparison of an output with its reference, mapped back to
// output tokens. See keytok/first_error.hpp for the rules.
#include "keytok/first_error.hpp"

#include <array>

#include "keytok/tasks.hpp"
#include "util/enum_names.hpp"

namespace keytok {

const char* first_error_kind_name(FirstErrorKind kind) {
  static constexpr std::array<detail::EnumName<FirstErrorKind>, 4> kKinds = {{
      {FirstErrorKind::none, "none"},
      {FirstErrorKind::mismatch, "mismatch"},
      {FirstErrorKind::stopped_early, "stopped_early"},
      {FirstErrorKind::extra_output, "extra_output"},
  }};
  return detail::enum_name(kKinds, kind, "none");
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Index of the piece holding byte `offset` of the concatenation (pieces of zero bytes hold
// nothing and are skipped).
int token_at(const std::vector<std::string>& pieces, std::size_t offset) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (offset < start + pieces[i].size()) return static_cast<int>(i);
    start += pieces[i].size();
  }
  return static_cast<int>(pieces.size());
}

}  // namespace

FirstError find_first_error(const std::vector<std::string>& pieces, std::string_view reference) {
  std::string output;
  for (const std::string& piece : pieces) output += piece;
  if (trim_whitespace(output) == trim_whitespace(reference)) return {};

  std::size_t o = 0;
  while (o < output.size() && is_space(output[o])) ++o;
  std::size_t r = 0;
  while (r < reference.size() && is_space(reference[r])) ++r;
  const std::string_view ref_body = trim_whitespace(reference);
  const std::size_t ref_end = r + ref_body.size();
  while (o < output.size() && r < ref_end && output[o] == reference[r]) {
    ++o;
    ++r;
  }

  FirstError error;
  error.output_byte = o;
  error.reference_byte = r;
  if (o < output.size() && r < ref_end) {
    error.kind = FirstErrorKind::mismatch;
    error.token = token_at(pieces, o);
  } else if (o == output.size()) {
    // r < ref_end here: had both ended, the trimmed texts would have been equal.
    error.kind = FirstErrorKind::stopped_early;
    error.token = static_cast<int>(pieces.size());
  } else {
    // The reference ended and the output goes on with something beyond whitespace (else the
    // trimmed texts would have been equal).
    error.kind = FirstErrorKind::extra_output;
    error.token = token_at(pieces, o);
  }
  return error;
}

}  // namespace keytok
