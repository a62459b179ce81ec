// Reading trials for `keytok fit`: sweep results (JSONL with a keytok-sweep header) or a CSV of
// length,trials,successes rows. Errors name the file and line, since both are often edited by
// hand or cut short by a killed run.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "keytok/reliability.hpp"
#include "keytok/tasks.hpp"
#include "sweep/trial_json.hpp"
#include "util/jsonl.hpp"

namespace keytok {
namespace {

using detail::line_error;

bool parse_int(std::string_view s, long long* out) {
  s = trim_whitespace(s);
  if (s.empty()) return false;
  long long v = 0;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || v > 1'000'000'000'000LL) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<std::vector<Trial>> parse_trials_csv(std::string_view text, const std::string& source) {
  std::vector<Trial> trials;
  bool first = true;
  for (const detail::JsonlLine& row : detail::split_lines(text)) {
    const int number = row.number;
    const std::string_view line = row.text;
    if (trim_whitespace(line).front() == '#') continue;
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(trim_whitespace(line.substr(start, comma - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    const bool was_first = first;
    first = false;
    if (was_first && fields.size() == 3 && fields[0] == "length" && fields[1] == "trials" &&
        fields[2] == "successes") {
      continue;
    }
    long long length = 0, count = 0, successes = 0;
    if (fields.size() != 3 || !parse_int(fields[0], &length) || !parse_int(fields[1], &count) ||
        !parse_int(fields[2], &successes)) {
      return line_error(source, number,
                        "expected three non-negative integers length,trials,successes (an "
                        "optional first row may be the header length,trials,successes)");
    }
    if (length < 1 || successes > count || count > 10'000'000) {
      return line_error(source, number,
                        "need length >= 1 and 0 <= successes <= trials <= 10000000");
    }
    for (long long i = 0; i < count; ++i) {
      trials.push_back({static_cast<int>(length), -1, i < successes, -1});
    }
  }
  if (trials.empty()) {
    return Status::format_error(
        fmt::format("{}: no trials in the CSV; add length,trials,successes rows", source));
  }
  return trials;
}

Result<std::vector<Trial>> parse_sweep_trials(std::string_view text, const std::string& source,
                                              TrialLength which) {
  auto doc = detail::parse_jsonl(text, source, detail::kSweepFormat);
  if (!doc.ok()) return doc.status();
  if (doc->n_lines == 0) {
    return Status::format_error(fmt::format("{}: the file is empty; run keytok sweep first", source));
  }
  if (doc->cut_off_line > 0) {
    // Fitting a run that is still going or was killed would quietly fit fewer trials.
    return line_error(source, doc->cut_off_line,
                      "the last line is cut off (a sweep killed mid-write?); rerun keytok sweep "
                      "with --resume to complete it, or delete the line");
  }
  std::vector<Trial> trials;
  for (const auto& [line, obj] : doc->rows) {
    auto t = detail::trial_from_json(obj, fmt::format("{}:{}", source, line));
    if (!t.ok()) return t.status();
    int n = which == TrialLength::task_length ? t->length : t->n_output_tokens;
    if (which == TrialLength::task_length && n < 1) {
      return line_error(source, line,
                        "\"length\" is 0 (the task has no size); give tasks a length, or fit "
                        "with --n output_tokens");
    }
    // An empty output still made one decision (ending at once): count it as one token.
    n = std::max(n, 1);
    // A null n_key (no detector ran) is an unknown k, not zero key tokens.
    const bool k_known = obj.contains("n_key") && !obj["n_key"].is_null();
    Trial trial{n, k_known ? t->n_key : -1, t->success, std::max(t->n_output_tokens, 1)};
    // The measured-k model's survival data: the steps the trial survived and the step it failed
    // at, where the sweep located them. A failed output's rambling after its first error says
    // nothing about when it failed, so it stays out (issue 13).
    if (k_known && t->n_at_risk && t->n_key_at_risk) {
      if (t->success) {
        trial.k_at_risk = *t->n_key_at_risk;
        trial.t_at_risk = *t->n_at_risk;
      } else if (t->first_error_key && *t->n_at_risk >= 1) {
        trial.error_key = *t->first_error_key ? 1 : 0;
        trial.k_at_risk = std::max(*t->n_key_at_risk - trial.error_key, 0);
        trial.t_at_risk = *t->n_at_risk - 1;
      }
    }
    trials.push_back(trial);
  }
  if (trials.empty()) {
    return Status::format_error(
        fmt::format("{}: the results file has a header but no trials yet", source));
  }
  return trials;
}

Result<std::vector<Trial>> load_trials(const std::string& path, TrialLength which) {
  Result<std::string> text = detail::read_text_file(path, "results file", "check the path");
  if (!text.ok()) return text.status();
  const std::string_view body = trim_whitespace(*text);
  if (!body.empty() && body.front() == '{') return parse_sweep_trials(*text, path, which);
  return parse_trials_csv(*text, path);
}

}  // namespace keytok
