// Trial lines of a sweep results file: JSON out, JSON in, whole-file loading.
#include <fstream>
#include <nlohmann/json.hpp>

#include "keytok/sweep.hpp"
#include "reliability/sweep_header.hpp"

namespace keytok {

namespace {

using nlohmann::json;

template <class T>
nlohmann::ordered_json opt(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

template <class T>
std::optional<T> get_opt(const json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<T>();
}

}  // namespace

std::string trial_record_json(const TrialRecord& t) {
  // Ordered, so a results file reads id first, as docs/tasks.md shows it.
  const nlohmann::ordered_json j = {{"id", t.id},
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
                  {"seconds", t.seconds}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<TrialRecord> parse_trial_record(const std::string& line, const std::string& where) {
  try {
    const json j = json::parse(line);
    if (!j.is_object()) return Status::format_error(where + ": a trial line must be a JSON object");
    TrialRecord t;
    t.id = j.at("id").get<std::string>();
    t.family = j.value("family", "");
    t.length = j.at("length").get<int>();
    t.sample = j.value("sample", 0);
    t.success = j.at("success").get<bool>();
    t.output = j.value("output", "");
    t.n_output_tokens = j.at("n_output_tokens").get<int>();
    t.n_key = j.contains("n_key") && !j.at("n_key").is_null() ? j.at("n_key").get<int>() : 0;
    t.first_error_token = get_opt<int>(j, "first_error_token");
    t.first_error_kind = get_opt<std::string>(j, "first_error_kind");
    t.first_error_key = get_opt<bool>(j, "first_error_key");
    t.first_error_entropy = get_opt<double>(j, "first_error_entropy");
    t.first_error_margin = get_opt<double>(j, "first_error_margin");
    t.n_at_risk = get_opt<int>(j, "n_at_risk");
    t.n_key_at_risk = get_opt<int>(j, "n_key_at_risk");
    t.seconds = j.value("seconds", 0.0);
    return t;
  } catch (const json::exception& e) {
    return Status::format_error(where + ": not a valid trial line (" + std::string(e.what()) +
                                "); rerun keytok sweep with --resume, or delete the line");
  }
}

Result<std::vector<TrialRecord>> load_sweep_results(const std::string& path, bool* cut_off_last_line) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("results file not found: " + path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  if (cut_off_last_line != nullptr) *cut_off_last_line = false;
  std::vector<TrialRecord> out;
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < content.size()) {
    std::size_t nl = content.find('\n', pos);
    const bool complete = nl != std::string::npos;
    if (!complete) nl = content.size();
    const std::string line = content.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line_no == 1) {
      const json h = json::parse(line, nullptr, false);
      if (h.is_discarded()) return Status::format_error(where + ": the first line is not a keytok-sweep header");
      KEYTOK_RETURN_IF_ERROR(detail::check_sweep_header(h, path, line_no));
      continue;
    }
    auto t = parse_trial_record(line, where);
    if (!t.ok()) {
      if (!complete && cut_off_last_line != nullptr) {
        *cut_off_last_line = true;
        break;
      }
      return t.status();
    }
    out.push_back(std::move(*t));
  }
  if (line_no == 0) return Status::format_error(path + ": the results file is empty (no header line)");
  return out;
}

}  // namespace keytok
