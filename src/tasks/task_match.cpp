// Answer matching and extraction for tasks: whitespace trimming, number scanning and
// canonicalization, and the four match modes. Pure string code, no allocation beyond results.
#include <array>
#include <regex>

#include "keytok/tasks.hpp"
#include "tasks/number_scan.hpp"
#include "util/enum_names.hpp"

namespace keytok {

namespace {

constexpr std::array<detail::EnumName<MatchMode>, 4> kMatchModes = {{
    {MatchMode::exact, "exact"},
    {MatchMode::number, "number"},
    {MatchMode::contains, "contains"},
    {MatchMode::regex, "regex"},
}};

}  // namespace

const char* match_mode_name(MatchMode mode) { return detail::enum_name(kMatchModes, mode, "exact"); }

std::optional<MatchMode> parse_match_mode(std::string_view name) {
  return detail::enum_from_name(kMatchModes, name);
}

std::string match_mode_names() { return detail::enum_name_list(kMatchModes); }

std::string_view trim_whitespace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

std::optional<std::string> canonical_number(std::string_view text) {
  const std::string_view t = trim_whitespace(text);
  const std::vector<detail::NumberSpan> spans = detail::scan_numbers(t);
  if (spans.size() != 1 || spans[0].begin != 0 || spans[0].end != t.size()) return std::nullopt;
  return spans[0].canonical;
}

namespace {

// Returns nullopt when the pattern does not compile (load_tasks reports that up front).
std::optional<std::regex> compile(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    return std::nullopt;
  }
}

std::optional<std::string> trimmed_or_none(std::string_view output) {
  const std::string_view t = trim_whitespace(output);
  if (t.empty()) return std::nullopt;
  return std::string(t);
}

}  // namespace

std::optional<std::string> extract_answer(MatchMode mode, std::string_view output,
                                          const Task* task) {
  switch (mode) {
    case MatchMode::number: {
      const std::vector<detail::NumberSpan> spans = detail::scan_numbers(output);
      if (spans.empty()) return std::nullopt;
      return spans.back().canonical;
    }
    case MatchMode::regex: {
      if (task == nullptr) return trimmed_or_none(output);
      const std::optional<std::regex> re = compile(task->answer);
      if (!re || re->mark_count() == 0) return trimmed_or_none(output);
      std::optional<std::string> last;
      const std::string text(output);
      for (auto it = std::sregex_iterator(text.begin(), text.end(), *re);
           it != std::sregex_iterator(); ++it) {
        if ((*it)[1].matched) last = (*it)[1].str();
      }
      return last;
    }
    case MatchMode::exact:
    case MatchMode::contains:
      return trimmed_or_none(output);
  }
  return std::nullopt;
}

bool answer_matches(const Task& task, std::string_view output) {
  switch (task.match) {
    case MatchMode::exact:
      return trim_whitespace(output) == trim_whitespace(task.answer);
    case MatchMode::number: {
      const std::optional<std::string> want = canonical_number(task.answer);
      const std::optional<std::string> got = extract_answer(MatchMode::number, output);
      return want && got && *want == *got;
    }
    case MatchMode::contains:
      return !task.answer.empty() && output.find(task.answer) != std::string_view::npos;
    case MatchMode::regex: {
      const std::optional<std::regex> re = compile(task.answer);
      const std::string text(output);
      return re && std::regex_search(text, *re);
    }
  }
  return false;
}

}  // namespace keytok
