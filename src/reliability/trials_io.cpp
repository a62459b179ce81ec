// Reading trials for `keytok fit`: sweep results (JSONL with a keytok-sweep header) or a CSV of
// length,trials,successes rows. Errors name the file and line, since both are often edited by
// hand or cut short by a killed run.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "keytok/reliability.hpp"
#include "reliability/sweep_header.hpp"
#include "keytok/tasks.hpp"

namespace keytok {
namespace {

using nlohmann::json;

constexpr const char* kSweepFormat = "keytok-sweep";
constexpr int kSweepVersion = 1;

Status line_error(const std::string& source, int line, const std::string& what) {
  return Status::format_error(fmt::format("{}:{}: {}", source, line, what));
}

// Calls fn(line_number, line) for each non-blank line; stops at the first error.
template <class Fn>
Status for_each_line(std::string_view text, Fn fn) {
  int number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number;
    pos = end + 1;
    if (trim_whitespace(line).empty()) continue;
    KEYTOK_RETURN_IF_ERROR(fn(number, line, end >= text.size()));
  }
  return Status::ok_status();
}

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

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::not_found(fmt::format("results file not found: {}; check the path", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::io_error(fmt::format("could not read {}", path));
  return buffer.str();
}


}  // namespace

namespace detail {

Status check_sweep_header(const nlohmann::json& obj, const std::string& source, int line) {
  const json format = obj.contains("format") ? obj["format"] : json();
  if (!format.is_string() || format.get<std::string>() != kSweepFormat) {
    return line_error(source, line,
                      fmt::format("not a keytok sweep results file: the first line must be the "
                                  "header {{\"format\":\"{}\",\"version\":{},...}} (found {}); "
                                  "pass the file keytok sweep wrote, or a length,trials,successes "
                                  "CSV",
                                  kSweepFormat, kSweepVersion,
                                  format.is_null() ? "no \"format\"" : format.dump()));
  }
  if (!obj.contains("version") || !obj["version"].is_number_integer()) {
    return line_error(source, line, "sweep header has no integer \"version\"");
  }
  const int version = obj["version"].get<int>();
  if (version != kSweepVersion) {
    return line_error(source, line,
                      fmt::format("sweep results version {} is not supported (this keytok reads "
                                  "version {}); use the keytok that wrote the file, or rerun the "
                                  "sweep",
                                  version, kSweepVersion));
  }
  return Status::ok_status();
}

}  // namespace detail

Result<std::vector<Trial>> parse_trials_csv(std::string_view text, const std::string& source) {
  std::vector<Trial> trials;
  bool first = true;
  const Status status = for_each_line(text, [&](int number, std::string_view line, bool) -> Status {
    if (trim_whitespace(line).front() == '#') return Status::ok_status();
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
      return Status::ok_status();
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
    return Status::ok_status();
  });
  if (!status.ok()) return status;
  if (trials.empty()) {
    return Status::format_error(
        fmt::format("{}: no trials in the CSV; add length,trials,successes rows", source));
  }
  return trials;
}

Result<std::vector<Trial>> parse_sweep_trials(std::string_view text, const std::string& source,
                                              TrialLength which) {
  std::vector<Trial> trials;
  bool header_seen = false;
  const Status status =
      for_each_line(text, [&](int number, std::string_view line, bool last) -> Status {
        json obj;
        try {
          obj = json::parse(line);
        } catch (const json::parse_error& e) {
          if (last && header_seen) {
            return line_error(source, number,
                              "the last line is cut off (a sweep killed mid-write?); rerun keytok "
                              "sweep with --resume to complete it, or delete the line");
          }
          return line_error(source, number, fmt::format("not valid JSON ({})", e.what()));
        }
        if (!obj.is_object()) return line_error(source, number, "expected a JSON object");
        if (!header_seen) {
          header_seen = true;
          return detail::check_sweep_header(obj, source, number);
        }
        if (obj.contains("format")) {
          return line_error(source, number,
                            "a second header line: results files cannot be concatenated; fit each "
                            "file separately or merge the trial lines under one header");
        }
        const auto int_field = [&](const char* key, bool nullable, long long* out) -> Status {
          if (!obj.contains(key) || (obj[key].is_null() && !nullable)) {
            return line_error(source, number, fmt::format("trial line has no \"{}\"", key));
          }
          if (obj[key].is_null()) {
            *out = -1;
            return Status::ok_status();
          }
          if (!obj[key].is_number_integer() || obj[key].get<long long>() < 0) {
            return line_error(source, number,
                              fmt::format("\"{}\" must be a non-negative integer", key));
          }
          *out = obj[key].get<long long>();
          return Status::ok_status();
        };
        long long length = 0, tokens = 0, key = 0;
        KEYTOK_RETURN_IF_ERROR(int_field("length", false, &length));
        KEYTOK_RETURN_IF_ERROR(int_field("n_output_tokens", false, &tokens));
        KEYTOK_RETURN_IF_ERROR(int_field("n_key", true, &key));
        if (!obj.contains("success") || !obj["success"].is_boolean()) {
          return line_error(source, number, "trial line needs a boolean \"success\"");
        }
        if (key > tokens) {
          return line_error(source, number,
                            fmt::format("n_key {} exceeds n_output_tokens {}", key, tokens));
        }
        long long n = which == TrialLength::task_length ? length : tokens;
        if (which == TrialLength::task_length && n < 1) {
          return line_error(source, number,
                            "\"length\" is 0 (the task has no size); give tasks a length, or fit "
                            "with --n output_tokens");
        }
        // An empty output still made one decision (ending at once): count it as one token.
        n = std::max<long long>(n, 1);
        trials.push_back({static_cast<int>(n), static_cast<int>(key), obj["success"].get<bool>(),
                          static_cast<int>(std::max<long long>(tokens, 1))});
        return Status::ok_status();
      });
  if (!status.ok()) return status;
  if (!header_seen) {
    return Status::format_error(
        fmt::format("{}: the file is empty; run keytok sweep first", source));
  }
  if (trials.empty()) {
    return Status::format_error(
        fmt::format("{}: the results file has a header but no trials yet", source));
  }
  return trials;
}

Result<std::vector<Trial>> load_trials(const std::string& path, TrialLength which) {
  Result<std::string> text = read_file(path);
  if (!text.ok()) return text.status();
  const std::string_view body = trim_whitespace(*text);
  if (!body.empty() && body.front() == '{') return parse_sweep_trials(*text, path, which);
  return parse_trials_csv(*text, path);
}

}  // namespace keytok
