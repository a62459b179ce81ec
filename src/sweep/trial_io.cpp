// Sweep results files (docs/tasks.md): the header line, trial lines out and in, and whole-file
// loading, all through the shared JSON-lines reader (util/jsonl.hpp).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "keytok/sweep.hpp"
#include "sweep/trial_json.hpp"
#include "util/json_number.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

template <class T>
ordered_json opt(const std::optional<T>& v) {
  return v ? ordered_json(*v) : ordered_json(nullptr);
}

}  // namespace

namespace detail {

Result<TrialRecord> trial_from_json(const json& obj, std::string_view where) {
  const auto error = [&](const std::string& what) {
    return Status::format_error(fmt::format("{}: {}", where, what));
  };
  const auto count = [&](const char* key, bool required, int* out) -> Status {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      return required ? error(fmt::format("the trial line has no \"{}\"", key)) : Status::ok_status();
    }
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > 1'000'000'000) {
      return error(fmt::format("\"{}\" must be a non-negative integer", key));
    }
    *out = it->get<int>();
    return Status::ok_status();
  };
  const auto optional = [&]<class T>(const char* key, std::optional<T>* out) -> Status {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return Status::ok_status();
    try {
      *out = detail::json_get<T>(*it);
    } catch (const json::exception&) {
      return error(fmt::format("\"{}\" has the wrong type ({})", key, it->dump()));
    }
    return Status::ok_status();
  };
  TrialRecord t;
  // `keytok fit` needs only length, success, n_output_tokens and n_key (docs/tasks.md), so a
  // hand-made line may have no id.
  if (obj.contains("id")) {
    if (!obj["id"].is_string() && !obj["id"].is_number_integer()) {
      return error("\"id\" must be a string");
    }
    t.id = obj["id"].is_string() ? obj["id"].get<std::string>() : obj["id"].dump();
  }
  if (obj.contains("family") && obj["family"].is_string()) t.family = obj["family"].get<std::string>();
  KEYTOK_RETURN_IF_ERROR(count("length", true, &t.length));
  KEYTOK_RETURN_IF_ERROR(count("sample", false, &t.sample));
  if (!obj.contains("success") || !obj["success"].is_boolean()) {
    return error("the trial line needs a boolean \"success\"");
  }
  t.success = obj["success"].get<bool>();
  if (obj.contains("output") && obj["output"].is_string()) t.output = obj["output"].get<std::string>();
  KEYTOK_RETURN_IF_ERROR(count("n_output_tokens", true, &t.n_output_tokens));
  KEYTOK_RETURN_IF_ERROR(count("n_key", false, &t.n_key));
  if (t.n_key > t.n_output_tokens) {
    return error(fmt::format("n_key {} exceeds n_output_tokens {}", t.n_key, t.n_output_tokens));
  }
  KEYTOK_RETURN_IF_ERROR(optional("first_error_token", &t.first_error_token));
  KEYTOK_RETURN_IF_ERROR(optional("first_error_kind", &t.first_error_kind));
  KEYTOK_RETURN_IF_ERROR(optional("first_error_key", &t.first_error_key));
  KEYTOK_RETURN_IF_ERROR(optional("first_error_entropy", &t.first_error_entropy));
  KEYTOK_RETURN_IF_ERROR(optional("first_error_margin", &t.first_error_margin));
  KEYTOK_RETURN_IF_ERROR(optional("n_at_risk", &t.n_at_risk));
  KEYTOK_RETURN_IF_ERROR(optional("n_key_at_risk", &t.n_key_at_risk));
  if (obj.contains("seconds") && obj["seconds"].is_number()) t.seconds = obj["seconds"].get<double>();
  return t;
}

}  // namespace detail

std::string sweep_header_line(const SweepHeader& h) {
  json settings = json::parse(h.settings_json.empty() ? "{}" : h.settings_json, nullptr, false);
  if (settings.is_discarded()) settings = json::object();
  return detail::header_line(detail::kSweepFormat,
                             {{"model", h.model},
                              {"tasks", h.tasks},
                              {"samples", h.samples},
                              {"temperature", h.temperature},
                              {"seed", h.seed},
                              {"detector", h.detector},
                              {"detector_source", h.detector_source},
                              {"created", h.created},
                              {"settings", settings}});
}

std::string trial_record_json(const TrialRecord& t) {
  // Ordered, so a results file reads id first, as docs/tasks.md shows it.
  return detail::dump_line({{"id", t.id},
                            {"family", t.family},
                            {"length", t.length},
                            {"sample", t.sample},
                            {"success", t.success},
                            {"output", t.output},
                            {"n_output_tokens", t.n_output_tokens},
                            {"n_key", t.n_key},
                            {"first_error_token", opt(t.first_error_token)},
                            {"first_error_kind", opt(t.first_error_kind)},
                            {"first_error_key", opt(t.first_error_key)},
                            {"first_error_entropy", opt(t.first_error_entropy)},
                            {"first_error_margin", opt(t.first_error_margin)},
                            {"n_at_risk", opt(t.n_at_risk)},
                            {"n_key_at_risk", opt(t.n_key_at_risk)},
                            {"seconds", t.seconds}});
}

Result<TrialRecord> parse_trial_record(const std::string& line, const std::string& where) {
  const json obj = json::parse(line, nullptr, false);
  if (obj.is_discarded() || !obj.is_object()) {
    return Status::format_error(where + ": not a valid trial line (a JSON object); rerun keytok "
                                        "sweep with --resume, or delete the line");
  }
  return detail::trial_from_json(obj, where);
}

Result<SweepResults> load_sweep_results(const std::string& path) {
  auto text = detail::read_text_file(path, "results file", "check the path, or run keytok sweep first");
  if (!text.ok()) return text.status();
  return parse_sweep_results(*text, path);
}

Result<SweepResults> parse_sweep_results(std::string_view text, const std::string& source) {
  auto doc = detail::parse_jsonl(text, source, detail::kSweepFormat);
  if (!doc.ok()) return doc.status();
  if (doc->n_lines == 0) {
    return Status::format_error(source + ": the results file is empty (no header line); delete it "
                                         "or run keytok sweep again");
  }
  SweepResults out;
  const json& h = doc->header;
  // The header's descriptive fields are read leniently: a hand-edited header still loads.
  const auto field = [&h]<class T>(const char* key, T fallback) {
    const auto it = h.find(key);
    if (it == h.end()) return fallback;
    try {
      return detail::json_get<T>(*it);
    } catch (const json::exception&) {
      return fallback;
    }
  };
  out.header.model = field("model", std::string());
  out.header.tasks = field("tasks", std::string());
  out.header.samples = field("samples", 1);
  out.header.temperature = field("temperature", 0.0);
  out.header.seed = field("seed", std::uint32_t{0});
  out.header.detector = field("detector", std::string());
  out.header.detector_source = field("detector_source", std::string());
  out.header.created = field("created", std::string());
  out.header.settings_json = h.contains("settings") ? h["settings"].dump() : "{}";
  out.cut_off_line = doc->cut_off_line;
  for (const auto& [line, obj] : doc->rows) {
    auto t = detail::trial_from_json(obj, fmt::format("{}:{}", source, line));
    if (!t.ok()) return t.status();
    out.trials.push_back(std::move(*t));
  }
  return out;
}

}  // namespace keytok
