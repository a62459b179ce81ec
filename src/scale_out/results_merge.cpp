// keytok merge: joining the results files of a run split with --shard I/N
// (keytok/results_file.hpp, merge_results_files).
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "keytok/results_file.hpp"
#include "keytok/shard.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace {

using nlohmann::json;

// What makes two rows the same run, and which header fields two mergeable files share.
struct MergeFormat {
  const detail::JsonlFormat* format;
  std::vector<const char*> key_fields;     // a row's identity
  std::vector<const char*> shared_fields;  // header fields that must agree ("settings" without
                                           // its shard); others (paths, dates) may differ
};

const MergeFormat kMergeFormats[] = {
    {&detail::kSweepFormat, {"id", "sample"}, {"settings"}},
    {&detail::kBenchFormat, {"task", "strategy"}, {"model", "settings"}},
};

struct Input {
  std::string path;
  const MergeFormat* kind = nullptr;
  json header;
  std::optional<Shard> shard;  // from settings.shard
  std::vector<detail::JsonlLine> lines;
  detail::JsonlDocument doc;
  std::string text;  // owns what `lines` view
};

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

const MergeFormat* find_kind(const json& first_line) {
  const auto it = first_line.find("format");
  if (it == first_line.end() || !it->is_string()) return nullptr;
  for (const MergeFormat& k : kMergeFormats) {
    if (it->get<std::string>() == k.format->magic) return &k;
  }
  return nullptr;
}

Result<Input> read_input(const std::string& path) {
  Input in{.path = path};
  auto text = detail::read_text_file(path, "results file", "check the path");
  if (!text.ok()) return text.status();
  in.text = std::move(*text);
  in.lines = detail::split_lines(in.text);
  json first;
  try {
    if (!in.lines.empty()) first = json::parse(in.lines[0].text);
  } catch (const json::exception&) {
    // Not a header; said below.
  }
  in.kind = first.is_object() ? find_kind(first) : nullptr;
  if (in.kind == nullptr) {
    return detail::line_error(path, in.lines.empty() ? 1 : in.lines[0].number,
                              "not a results file of keytok sweep or keytok bench (its first line "
                              "must be their header); keytok merge joins those files only");
  }
  auto doc = detail::parse_jsonl(in.text, path, *in.kind->format);
  if (!doc.ok()) return doc.status();
  in.doc = std::move(*doc);
  in.header = in.doc.header;
  if (in.header.contains("settings") && in.header["settings"].is_object() &&
      in.header["settings"].contains("shard")) {
    const json& s = in.header["settings"]["shard"];
    auto shard = parse_shard(s.is_string() ? s.get<std::string>() : s.dump());
    if (!shard.ok()) {
      return detail::line_error(path, in.lines[0].number,
                                "the header's settings.shard is not I/N: " + shard.status().message());
    }
    in.shard = *shard;
    in.header["settings"].erase("shard");
  }
  return in;
}

// The first of `kind`'s shared header fields on which `a` and `b` differ; "" when none.
std::string differing_field(const Input& a, const Input& b) {
  for (const char* field : a.kind->shared_fields) {
    const json va = a.header.value(field, json()), vb = b.header.value(field, json());
    if (va == vb) continue;
    if (va.is_object() && vb.is_object()) {
      return fmt::format("{}.{}", field, detail::first_differing_member(va, vb));
    }
    return field;
  }
  return "";
}

std::string shown(const json& header, const std::string& field) {
  const std::size_t dot = field.find('.');
  const json& top = header.value(field.substr(0, dot), json());
  if (dot == std::string::npos) return top.dump();
  return detail::member_text(top, field.substr(dot + 1));
}

Status check_compatible(const std::vector<Input>& inputs) {
  const Input& first = inputs.front();
  for (const Input& in : inputs) {
    if (in.kind != first.kind) {
      return Status::format_error(fmt::format(
          "{} is a {} and {} a {}; keytok merge joins files of one kind", first.path,
          first.kind->format->what, in.path, in.kind->format->what));
    }
    if (const std::string field = differing_field(first, in); !field.empty()) {
      return Status::format_error(fmt::format(
          "{} and {} were run with different settings: {} is {} in one and {} in the other; "
          "only the shards of one run merge (same flags, task file and model, other --shard)",
          first.path, in.path, field, shown(first.header, field), shown(in.header, field)));
    }
  }
  const Input* sharded = nullptr;
  std::map<int, const Input*> by_index;
  for (const Input& in : inputs) {
    if (!in.shard) continue;
    if (sharded != nullptr && in.shard->count != sharded->shard->count) {
      return Status::invalid_argument(fmt::format(
          "{} is shard {} and {} shard {}: the shards of one run share N", sharded->path,
          sharded->shard->spec(), in.path, in.shard->spec()));
    }
    sharded = &in;
    if (const auto [it, fresh] = by_index.emplace(in.shard->index, &in); !fresh) {
      return Status::invalid_argument(fmt::format("{} and {} are both shard {}; pass each shard once",
                                                  it->second->path, in.path, in.shard->spec()));
    }
  }
  return Status::ok_status();
}

// A row's identity, e.g. ["count-4-0", 1]; format_error when a key field is missing.
Result<json> row_key(const Input& in, const detail::JsonlDocument::Row& row) {
  json key = json::array();
  for (const char* field : in.kind->key_fields) {
    if (!row.value.contains(field)) {
      return detail::line_error(in.path, row.line,
                                fmt::format("a {} row without \"{}\"", in.kind->format->what, field));
    }
    key.push_back(row.value[field]);
  }
  return key;
}

}  // namespace

Result<MergeSummary> merge_results_files(const std::vector<std::string>& inputs,
                                         const std::string& output) {
  if (inputs.empty()) return Status::invalid_argument("no results files to merge; pass one or more");
  std::error_code ec;
  if (std::filesystem::exists(output, ec)) {
    return Status::invalid_argument(output + " exists; keytok merge writes a new file (remove it, "
                                             "or pass another -o)");
  }
  std::vector<Input> files;
  for (const std::string& path : inputs) {
    auto in = read_input(path);
    if (!in.ok()) return in.status();
    files.push_back(std::move(*in));
  }
  KEYTOK_RETURN_IF_ERROR(check_compatible(files));
  // Shards in order; unsharded inputs after them, as given.
  std::stable_sort(files.begin(), files.end(), [](const Input& a, const Input& b) {
    return (a.shard ? a.shard->index : Shard::kMaxShards + 1) <
           (b.shard ? b.shard->index : Shard::kMaxShards + 1);
  });

  MergeSummary summary{.format = std::string(files.front().kind->format->magic)};
  std::map<json, std::string> seen;  // key -> "file:line"
  std::string body;
  json merged_from = json::array();
  for (const Input& in : files) {
    std::map<int, std::string_view> text_of;
    for (const detail::JsonlLine& l : in.lines) text_of[l.number] = l.text;
    for (const auto& row : in.doc.rows) {
      auto key = row_key(in, row);
      if (!key.ok()) return key.status();
      const std::string where = fmt::format("{}:{}", in.path, row.line);
      if (const auto [it, fresh] = seen.emplace(*key, where); !fresh) {
        return Status::invalid_argument(fmt::format(
            "{} and {} hold the same row ({}); the files overlap, so they are not the shards of "
            "one run",
            it->second, where, key->dump()));
      }
      body.append(text_of.at(row.line)).push_back('\n');
      ++summary.rows;
    }
    if (in.doc.cut_off_line > 0) summary.cut_off.push_back(fmt::format("{}:{}", in.path, in.doc.cut_off_line));
    if (in.shard) summary.shards.push_back(in.shard->spec());
    merged_from.push_back({{"file", std::filesystem::path(in.path).filename().string()},
                           {"shard", in.shard ? json(in.shard->spec()) : json()},
                           {"rows", in.doc.rows.size()}});
  }
  const auto first_sharded = std::find_if(files.begin(), files.end(), [](const Input& in) { return in.shard.has_value(); });
  if (first_sharded != files.end()) {
    std::set<int> held;
    for (const Input& in : files) {
      if (in.shard) held.insert(in.shard->index);
    }
    summary.shard_count = first_sharded->shard->count;
    for (int i = 1; i <= summary.shard_count; ++i) {
      if (held.count(i) == 0) summary.missing_shards.push_back(i);
    }
  }

  // The first input's header without its shard (an unsharded run's header, which a --resume
  // without --shard matches), saying what it was merged from.
  nlohmann::ordered_json fields;
  for (const auto& [k, v] : files.front().header.items()) {
    if (k != "format" && k != "version") fields[k] = v;
  }
  if (fields.contains("created")) fields["created"] = utc_now();
  fields["merged_from"] = merged_from;
  const std::string tmp = output + ".merging";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << detail::header_line(*files.front().kind->format, fields) << '\n' << body;
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return Status::io_error(fmt::format("cannot write {} (disk full, or no such directory?); "
                                          "nothing was written",
                                          output));
    }
  }
  std::filesystem::rename(tmp, output, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status::io_error(fmt::format("cannot create {}: {}", output, ec.message()));
  }
  return summary;
}

}  // namespace keytok
