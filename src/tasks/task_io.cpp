// Reading and writing task files: keytok JSONL (with an optional header line) and GSM8K's own
// JSONL, detected per file. Every error names the file and line and says what to do, because
// task files are often written by hand.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string_view>

#include "keytok/tasks.hpp"
#include "util/jsonl.hpp"

namespace keytok {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kAllowedFields = "id, prompt, answer, match, family, length, reference, meta";

using detail::line_error;

// libstdc++'s std::regex (GCC 12) compiles a pattern by recursion, about one level per atom and
// per nested group, so a pattern of 100,000 characters overflows the stack; and it reads a
// back-reference or a {n,m} count into a signed integer without an overflow check (undefined
// behaviour, found by fuzz_tasks). Patterns past these limits are refused before it sees them.
constexpr std::size_t kMaxRegexBytes = 4096;
constexpr int kMaxRegexDepth = 100;
constexpr std::size_t kMaxRegexNumberDigits = 6;

// What makes `pattern` unsafe to compile, or nullopt.
std::optional<std::string> regex_limit_problem(std::string_view pattern) {
  if (pattern.size() > kMaxRegexBytes) {
    return fmt::format("the regex is {} bytes long; at most {} are allowed", pattern.size(),
                       kMaxRegexBytes);
  }
  int depth = 0;
  bool in_braces = false;  // inside a {n,m} count
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    // libstdc++ reads the digits after these as one number: a back-reference, a {n,m} bound.
    if (c == '\\' || c == '{' || (c == ',' && in_braces)) {
      std::size_t end = i + 1;
      while (end < pattern.size() && pattern[end] >= '0' && pattern[end] <= '9') ++end;
      if (end - i - 1 > kMaxRegexNumberDigits) {
        return fmt::format("the number {} in the regex has more than {} digits",
                           pattern.substr(i + 1, end - i - 1), kMaxRegexNumberDigits);
      }
      if (c == '{') in_braces = true;
      if (c == '\\' && end == i + 1) ++i;  // an escaped character: \( is no group
      continue;
    }
    if (c == '}') in_braces = false;
    if (c == '(' && ++depth > kMaxRegexDepth) {
      return fmt::format("the regex nests groups more than {} deep", kMaxRegexDepth);
    }
    if (c == ')' && depth > 0) --depth;
  }
  return std::nullopt;
}

// Reads a string field, also accepting an integer (ids and answers are often written as 7).
std::optional<std::string> string_field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer() || it->is_number_float()) return it->dump();
  return std::nullopt;
}

Result<Task> parse_keytok_line(const json& obj, const std::string& source, int line) {
  constexpr std::array<std::string_view, 8> kFields = {"id",     "prompt", "answer",    "match",
                                                       "family", "length", "reference", "meta"};
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
      return line_error(
          source, line,
          fmt::format("unknown field \"{}\"; task lines take only: {}", key, kAllowedFields));
    }
  }
  Task task;
  for (const char* key : {"id", "prompt", "answer", "match"}) {
    if (!obj.contains(key)) {
      return line_error(source, line,
                        fmt::format("missing field \"{}\"; every task line needs id, prompt, "
                                    "answer and match (see docs/tasks.md)",
                                    key));
    }
  }
  const std::optional<std::string> id = string_field(obj, "id");
  const std::optional<std::string> answer = string_field(obj, "answer");
  if (!id || id->empty()) return line_error(source, line, "\"id\" must be a non-empty string");
  if (!obj["prompt"].is_string()) return line_error(source, line, "\"prompt\" must be a string");
  if (!answer || answer->empty()) {
    return line_error(source, line, "\"answer\" must be a non-empty string or a number");
  }
  if (!obj["match"].is_string()) {
    return line_error(source, line, "\"match\" must be a string: " + match_mode_names());
  }
  const std::string mode_name = obj["match"].get<std::string>();
  const std::optional<MatchMode> mode = parse_match_mode(mode_name);
  if (!mode) {
    return line_error(
        source, line,
        fmt::format("unknown match mode \"{}\"; use {}", mode_name, match_mode_names()));
  }
  task.id = *id;
  task.prompt = obj["prompt"].get<std::string>();
  task.answer = *answer;
  task.match = *mode;
  if (obj.contains("family")) {
    if (!obj["family"].is_string()) return line_error(source, line, "\"family\" must be a string");
    task.family = obj["family"].get<std::string>();
  }
  if (obj.contains("length")) {
    if (!obj["length"].is_number_integer() || obj["length"].get<long long>() < 0 ||
        obj["length"].get<long long>() > 1'000'000'000) {
      return line_error(source, line, "\"length\" must be a non-negative integer");
    }
    task.length = obj["length"].get<int>();
  }
  if (obj.contains("reference")) {
    if (!obj["reference"].is_string()) {
      return line_error(source, line, "\"reference\" must be a string");
    }
    task.reference = obj["reference"].get<std::string>();
  }
  if (task.reference.empty() && task.match == MatchMode::exact) task.reference = task.answer;
  if (task.match == MatchMode::number && !canonical_number(task.answer)) {
    return line_error(source, line,
                      fmt::format("answer \"{}\" is not a number, but match is \"number\"; write "
                                  "digits like 1234 or -3.5, or use match \"exact\"",
                                  task.answer));
  }
  if (task.match == MatchMode::regex) {
    if (const std::optional<std::string> problem = regex_limit_problem(task.answer)) {
      return line_error(source, line, fmt::format("answer is not a usable regex: {}", *problem));
    }
    try {
      std::regex re(task.answer, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return line_error(source, line,
                        fmt::format("answer is not a valid ECMAScript regex ({}); escape "
                                    "backslashes as \\\\ inside JSON strings",
                                    e.what()));
    }
  }
  return task;
}

Result<Task> parse_gsm8k_line(const json& obj, const std::string& source, int line) {
  if (!obj.contains("question") || !obj["question"].is_string() || !obj.contains("answer") ||
      !obj["answer"].is_string()) {
    return line_error(source, line,
                      "GSM8K lines need string fields \"question\" and \"answer\" (the file's "
                      "first line was GSM8K format, so every line must be)");
  }
  const std::string full = obj["answer"].get<std::string>();
  const std::size_t mark = full.rfind("####");
  if (mark == std::string::npos) {
    return line_error(source, line, "GSM8K answer has no final \"#### N\" line");
  }
  const std::optional<std::string> number = canonical_number(full.substr(mark + 4));
  if (!number) {
    return line_error(source, line, "GSM8K answer after \"####\" is not a single number");
  }
  Task task;
  task.id = fmt::format("gsm8k-{}", line);
  task.prompt = obj["question"].get<std::string>();
  task.answer = *number;
  task.match = MatchMode::number;
  task.family = "gsm8k";
  return task;
}

}  // namespace

Result<std::vector<Task>> parse_tasks(std::string_view text, const std::string& source) {
  auto doc = detail::parse_jsonl(text, source, detail::kTaskFormat);
  if (!doc.ok()) return doc.status();
  if (doc->n_lines == 0) {
    return Status::format_error(fmt::format(
        "{}: the file has no tasks (it is empty or blank); write one JSON object per line, or "
        "generate tasks with keytok tasks",
        source));
  }
  // GSM8K's own files ({"question", "answer"} per line) are read as they are.
  const bool gsm8k = doc->header.is_null() && !doc->rows.empty() &&
                     doc->rows.front().value.contains("question") &&
                     !doc->rows.front().value.contains("prompt");
  std::vector<Task> tasks;
  std::map<std::string, int> id_lines;
  for (const auto& [line, obj] : doc->rows) {
    Result<Task> task = gsm8k ? parse_gsm8k_line(obj, source, line) : parse_keytok_line(obj, source, line);
    if (!task.ok()) return task.status();
    const auto [it, inserted] = id_lines.emplace(task->id, line);
    if (!inserted) {
      return line_error(source, line,
                        fmt::format("duplicate id \"{}\" (first used on line {}); ids must be "
                                    "unique",
                                    task->id, it->second));
    }
    tasks.push_back(std::move(task).value());
  }
  if (tasks.empty()) {
    return Status::format_error(
        fmt::format("{}: the file has a header but no tasks; add one task per line", source));
  }
  return tasks;
}

Result<std::vector<Task>> load_tasks(const std::string& path) {
  auto text = detail::read_text_file(path, "task file",
                                     "check the path, or create one with keytok tasks");
  if (!text.ok()) return text.status();
  return parse_tasks(*text, path);
}

std::string task_to_json_line(const Task& task) {
  ordered_json obj;
  obj["id"] = task.id;
  obj["prompt"] = task.prompt;
  obj["answer"] = task.answer;
  obj["match"] = match_mode_name(task.match);
  if (!task.family.empty()) obj["family"] = task.family;
  if (task.length != 0) obj["length"] = task.length;
  if (!task.reference.empty()) obj["reference"] = task.reference;
  return detail::dump_line(obj);
}

Status write_tasks(const std::string& path, const std::vector<Task>& tasks) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::io_error(fmt::format("cannot open {} for writing", path));
  out << detail::header_line(detail::kTaskFormat, {{"count", tasks.size()}}) << '\n';
  for (const Task& task : tasks) out << task_to_json_line(task) << '\n';
  out.flush();
  if (!out) return Status::io_error(fmt::format("writing {} failed (disk full?)", path));
  return Status::ok_status();
}

}  // namespace keytok
