// JSON-lines reading and writing shared by every keytok file format (util/jsonl.hpp).
#include "util/jsonl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace keytok::detail {

using nlohmann::json;

namespace {

// Every format keytok writes, to name the one a wrong file holds.
constexpr const JsonlFormat* kKnownFormats[] = {&kTaskFormat, &kSweepFormat, &kBenchFormat,
                                                &kTokensFormat, &kForksFormat};

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\f\v") == std::string_view::npos; }

// nlohmann parses any depth, but copying, comparing and dump() recurse once per level: a line
// nested 100,000 deep overflowed the stack in the readers (docs/fuzzing.md). keytok's formats
// nest a few levels.
constexpr int kMaxDepth = 64;

// Whether `text` (valid JSON) nests arrays and objects deeper than kMaxDepth.
bool too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character, which may be '"'
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if ((c == '[' || c == '{') && ++depth > kMaxDepth) {
      return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

Status line_error(std::string_view source, int line, std::string_view what) {
  return Status::format_error(fmt::format("{}:{}: {}", source, line, what));
}

Result<std::string> read_text_file(const std::string& path, std::string_view what,
                                   std::string_view hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(fmt::format("{} not found: {}; {}", what, path, hint));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::io_error(fmt::format("could not read {} {}", what, path));
  return buffer.str();
}

std::vector<JsonlLine> split_lines(std::string_view text) {
  std::vector<JsonlLine> lines;
  int number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const bool complete = nl != std::string_view::npos;
    const std::size_t end = complete ? nl : text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number;
    if (!blank(line)) lines.push_back({number, line, complete});
    pos = end + 1;
  }
  return lines;
}

Status check_header(const json& obj, const JsonlFormat& format, std::string_view source, int line) {
  const json found = obj.contains("format") ? obj["format"] : json();
  if (!found.is_string() || found.get<std::string>() != format.magic) {
    std::string name = found.is_null() ? "no \"format\"" : found.dump();
    for (const JsonlFormat* other : kKnownFormats) {
      if (found.is_string() && found.get<std::string>() == other->magic) {
        name = fmt::format("\"{}\", a {}", other->magic, other->what);
      }
    }
    return line_error(source, line,
                      fmt::format("not a {}: the first line must be the header "
                                  "{{\"format\":\"{}\",\"version\":{},...}} (found {}); {}",
                                  format.what, format.magic, format.version, name, format.hint));
  }
  if (!obj.contains("version") || !obj["version"].is_number_integer()) {
    return line_error(source, line, fmt::format("the {} header has no integer \"version\"", format.what));
  }
  const auto version = obj["version"].get<long long>();
  if (version != format.version) {
    return line_error(source, line,
                      fmt::format("{} version {} is not supported (this keytok reads version {}); "
                                  "use the keytok that wrote the file, or write it again with this one",
                                  format.what, version, format.version));
  }
  return Status::ok_status();
}

Result<JsonlDocument> parse_jsonl(std::string_view text, std::string_view source,
                                  const JsonlFormat& format) {
  const std::vector<JsonlLine> lines = split_lines(text);
  JsonlDocument doc;
  doc.n_lines = static_cast<int>(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const JsonlLine& line = lines[i];
    json obj;
    std::string why;
    try {
      obj = json::parse(line.text);
    } catch (const json::exception& e) {
      // parse_error, and out_of_range for a number beyond a double (1e400).
      why = e.what();
    }
    if (!why.empty()) {
      if (!line.complete && i > 0 && format.cut_off == CutOffLine::drop) {
        doc.cut_off_line = line.number;
        break;
      }
      if (!line.complete && i > 0) {
        return line_error(source, line.number,
                          fmt::format("the last line is cut off (a run killed mid-write?): {}; "
                                      "complete it or delete it",
                                      why));
      }
      return line_error(source, line.number,
                        fmt::format("not valid JSON ({}); each line must be one JSON object", why));
    }
    if (!obj.is_object()) {
      return line_error(source, line.number, "expected a JSON object ({...}) on each line");
    }
    if (too_deep(line.text)) {
      return line_error(source, line.number,
                        fmt::format("the line nests arrays or objects more than {} levels deep; "
                                    "keytok's files nest a few",
                                    kMaxDepth));
    }
    if (obj.contains("format")) {
      if (i != 0) {
        return line_error(source, line.number,
                          fmt::format("a second header line: a {} has one header, on its first "
                                      "line (files cannot be concatenated; merge their rows under "
                                      "one header)",
                                      format.what));
      }
      KEYTOK_RETURN_IF_ERROR(check_header(obj, format, source, line.number));
      doc.header = std::move(obj);
      continue;
    }
    if (i == 0 && !format.header_optional) {
      return check_header(obj, format, source, line.number);
    }
    doc.rows.push_back({line.number, std::move(obj)});
  }
  return doc;
}

std::string first_differing_member(const json& a, const json& b) {
  const json empty = json::object();
  const json& x = a.is_object() ? a : empty;
  const json& y = b.is_object() ? b : empty;
  for (const auto& [name, value] : x.items()) {
    if (!y.contains(name) || y[name] != value) return name;
  }
  for (const auto& [name, value] : y.items()) {
    if (!x.contains(name)) return name;
  }
  return "";
}

std::string member_text(const json& obj, const std::string& name) {
  return obj.is_object() && obj.contains(name) ? obj[name].dump() : "(absent)";
}

std::string header_line(const JsonlFormat& format, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json h;
  h["format"] = format.magic;
  h["version"] = format.version;
  if (fields.is_object()) {
    for (const auto& item : fields.items()) h[item.key()] = item.value();
  }
  return dump_line(h);
}

std::string dump_line(const nlohmann::ordered_json& obj) {
  return obj.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace keytok::detail
