// Number scanning for the `number` match mode. Hand-written rather than std::regex because the
// rules (comma groups only in threes, signs only at a word start) are clearer as code and this
// runs on every sampled output.
#include "tasks/number_scan.hpp"

namespace keytok::detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::size_t digit_run(std::string_view t, std::size_t i) {
  std::size_t j = i;
  while (j < t.size() && is_digit(t[j])) ++j;
  return j - i;
}

// Canonical text of sign/integer digits/fraction digits: no leading zeros, no trailing
// fractional zeros, no "-0".
std::string canonicalize(bool negative, std::string int_digits, std::string frac_digits) {
  const auto nz = int_digits.find_first_not_of('0');
  int_digits = nz == std::string::npos ? "0" : int_digits.substr(nz);
  while (!frac_digits.empty() && frac_digits.back() == '0') frac_digits.pop_back();
  std::string out;
  if (negative && !(int_digits == "0" && frac_digits.empty())) out += '-';
  out += int_digits;
  if (!frac_digits.empty()) out += '.' + frac_digits;
  return out;
}

}  // namespace

std::vector<NumberSpan> scan_numbers(std::string_view t) {
  std::vector<NumberSpan> spans;
  std::size_t i = 0;
  while (i < t.size()) {
    const std::size_t start = i;
    bool negative = false;
    std::size_t p = i;
    const bool word_start = i == 0 || !is_alnum(t[i - 1]);
    if ((t[p] == '-' || t[p] == '+') && word_start && p + 1 < t.size() &&
        (is_digit(t[p + 1]) || (t[p + 1] == '.' && p + 2 < t.size() && is_digit(t[p + 2])))) {
      negative = t[p] == '-';
      ++p;
    }
    const bool leading_dot =
        p + 1 < t.size() && t[p] == '.' && is_digit(t[p + 1]) && (p == 0 || !is_digit(t[p - 1]));
    if (!is_digit(t[p]) && !leading_dot) {
      ++i;
      continue;
    }
    std::string int_digits;
    const std::size_t first_run = digit_run(t, p);
    int_digits.append(t.substr(p, first_run));
    p += first_run;
    // Thousands groups: only after a first run of 1-3 digits, and only exact groups of three.
    if (first_run >= 1 && first_run <= 3) {
      while (p + 3 < t.size() && t[p] == ',' && digit_run(t, p + 1) == 3) {
        int_digits.append(t.substr(p + 1, 3));
        p += 4;
      }
    }
    std::string frac_digits;
    if (p + 1 < t.size() && t[p] == '.' && is_digit(t[p + 1])) {
      const std::size_t run = digit_run(t, p + 1);
      frac_digits.append(t.substr(p + 1, run));
      p += 1 + run;
    }
    spans.push_back({start, p, canonicalize(negative, int_digits, frac_digits)});
    i = p;
  }
  return spans;
}

}  // namespace keytok::detail
