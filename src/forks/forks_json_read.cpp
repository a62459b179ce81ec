// Reading forks results files (keytok/forks.hpp parse_fork_results): every row checked member by
// member, so that a hand-edited or damaged file is refused with file:line and what is wrong,
// never read into a study with impossible indices or weights (`keytok forks --resume` and the
// report trust what this returns).
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "keytok/forks.hpp"
#include "util/json_number.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Token counts at most: far above any study, and low enough that summing a file's rows cannot
// overflow.
constexpr std::int64_t kMaxCount = 1'000'000'000'000;

// One JSON value converted, or false when it is not of that kind (the caller says what).
bool read(const json& v, std::string* out) {
  if (!v.is_string()) return false;
  *out = v.get<std::string>();
  return true;
}
bool read(const json& v, bool* out) {
  if (!v.is_boolean()) return false;
  *out = v.get<bool>();
  return true;
}
bool read_int(const json& v, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (!std::in_range<std::int64_t>(u)) return false;
    *out = static_cast<std::int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<std::int64_t>();
  } else {
    return false;
  }
  return *out >= lo && *out <= hi;
}
// A number, or null for a figure that was not a number when written (NaN).
bool read_real(const json& v, double* out) {
  if (v.is_null()) {
    *out = kNaN;
    return true;
  }
  if (!v.is_number()) return false;
  *out = v.get<double>();
  return true;
}
bool read_real(const json& v, float* out) {
  double d = 0.0;
  if (!read_real(v, &d)) return false;
  if (!std::isnan(d) && !detail::json_number_fits<float>(d)) return false;
  *out = static_cast<float>(d);
  return true;
}
bool read_weight(const json& v, double* out) {
  return v.is_number() && read_real(v, out) && std::isfinite(*out) && *out >= 0.0;
}
bool read(const json& v, std::optional<std::string>* out) {
  if (v.is_null()) {
    out->reset();
    return true;
  }
  std::string s;
  if (!read(v, &s)) return false;
  *out = std::move(s);
  return true;
}

// The members of one row, each read with a message naming file:line, the row and the member.
class RowReader {
 public:
  RowReader(const json& obj, std::string_view source, int line, std::string_view kind)
      : obj_(obj), source_(source), line_(line), kind_(kind) {}

  Status error(std::string_view what) const {
    return detail::line_error(source_, line_, fmt::format("{}: {}", kind_, what));
  }

  // `convert` (json, T*) -> bool; `should` says what the member must be.
  template <class T, class Convert>
  Status get(const char* name, T* out, std::string_view should, Convert convert) const {
    const auto it = obj_.find(name);
    if (it == obj_.end()) return error(fmt::format("no \"{}\"", name));
    if (!convert(*it, out)) {
      return error(fmt::format("\"{}\" must be {} (found {})", name, should, found(*it)));
    }
    return Status::ok_status();
  }
  Status text(const char* name, std::string* out) const {
    return get(name, out, "a string", [](const json& v, std::string* o) { return read(v, o); });
  }
  Status flag(const char* name, bool* out) const {
    return get(name, out, "true or false", [](const json& v, bool* o) { return read(v, o); });
  }
  Status real(const char* name, double* out) const {
    return get(name, out, "a number or null",
               [](const json& v, double* o) { return read_real(v, o); });
  }
  Status real(const char* name, float* out) const {
    return get(name, out, "a number within a float's range, or null",
               [](const json& v, float* o) { return read_real(v, o); });
  }
  template <class T>
  Status integer(const char* name, std::int64_t lo, std::int64_t hi, T* out) const {
    std::int64_t v = 0;
    KEYTOK_RETURN_IF_ERROR(
        get(name, &v, fmt::format("an integer in {}..{}", lo, hi),
            [&](const json& j, std::int64_t* o) { return read_int(j, lo, hi, o); }));
    *out = static_cast<T>(v);
    return Status::ok_status();
  }
  // An array member of `n` elements (any length when n < 0), each converted by `convert`
  // (json, i) -> bool; `should` says what an element must be.
  template <class Convert>
  Status array(const char* name, std::int64_t n, std::string_view should, Convert convert) const {
    const auto it = obj_.find(name);
    if (it == obj_.end()) return error(fmt::format("no \"{}\"", name));
    if (!it->is_array())
      return error(fmt::format("\"{}\" must be an array (found {})", name, found(*it)));
    if (n >= 0 && it->size() != static_cast<std::size_t>(n)) {
      return error(
          fmt::format("\"{}\" has {} elements, not one per token ({})", name, it->size(), n));
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!convert((*it)[i], i)) {
        return error(
            fmt::format("\"{}\"[{}] must be {} (found {})", name, i, should, found((*it)[i])));
      }
    }
    return Status::ok_status();
  }

 private:
  // The value for a message: scalars as written, containers by kind (they may be long).
  static std::string found(const json& v) {
    if (v.is_structured()) return v.is_array() ? "an array" : "an object";
    std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() <= 40) return s;
    // Cut on a character boundary: messages end up in JSON, which needs valid UTF-8.
    std::size_t cut = 40;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return s.substr(0, cut) + "...";
  }

  const json& obj_;
  std::string_view source_;
  int line_;
  std::string_view kind_;
};

Status read_signals(const RowReader& r, ForkSignals* s) {
  KEYTOK_RETURN_IF_ERROR(r.real("entropy", &s->entropy));
  KEYTOK_RETURN_IF_ERROR(r.real("varentropy", &s->varentropy));
  KEYTOK_RETURN_IF_ERROR(r.real("margin", &s->margin));
  KEYTOK_RETURN_IF_ERROR(r.real("top1_prob", &s->top1_prob));
  KEYTOK_RETURN_IF_ERROR(r.real("logprob", &s->logprob));
  return r.flag("key", &s->key);
}

Result<ForkTask> read_task(const RowReader& r) {
  ForkTask t;
  KEYTOK_RETURN_IF_ERROR(r.text("task", &t.task_id));
  if (t.task_id.empty()) return r.error("\"task\" must not be empty");
  KEYTOK_RETURN_IF_ERROR(r.text("expected", &t.expected));
  KEYTOK_RETURN_IF_ERROR(r.text("text", &t.text));
  KEYTOK_RETURN_IF_ERROR(r.text("base_answer", &t.base_answer));
  KEYTOK_RETURN_IF_ERROR(r.flag("correct", &t.correct));
  KEYTOK_RETURN_IF_ERROR(r.text("stop_reason", &t.stop_reason));
  constexpr auto kTokenMin = std::numeric_limits<token_id>::min();
  constexpr auto kTokenMax = std::numeric_limits<token_id>::max();
  KEYTOK_RETURN_IF_ERROR(r.array("tokens", -1, "a token id", [&](const json& v, std::size_t) {
    std::int64_t id = 0;
    if (!read_int(v, kTokenMin, kTokenMax, &id)) return false;
    t.tokens.push_back(static_cast<token_id>(id));
    return true;
  }));
  const auto n = static_cast<std::int64_t>(t.tokens.size());
  t.pieces.resize(t.tokens.size());
  t.signals.resize(t.tokens.size());
  t.contested.resize(t.tokens.size());
  t.weights.resize(t.tokens.size());
  KEYTOK_RETURN_IF_ERROR(r.array("pieces", n, "a string", [&](const json& v, std::size_t i) {
    return read(v, &t.pieces[i]);
  }));
  const auto signal = [&](const char* name, float ForkSignals::*field) {
    return r.array(
        name, n, "a number within a float's range, or null",
        [&](const json& v, std::size_t i) { return read_real(v, &(t.signals[i].*field)); });
  };
  KEYTOK_RETURN_IF_ERROR(signal("entropy", &ForkSignals::entropy));
  KEYTOK_RETURN_IF_ERROR(signal("varentropy", &ForkSignals::varentropy));
  KEYTOK_RETURN_IF_ERROR(signal("margin", &ForkSignals::margin));
  KEYTOK_RETURN_IF_ERROR(signal("top1_prob", &ForkSignals::top1_prob));
  KEYTOK_RETURN_IF_ERROR(signal("logprob", &ForkSignals::logprob));
  KEYTOK_RETURN_IF_ERROR(r.array("key", n, "true or false", [&](const json& v, std::size_t i) {
    return read(v, &t.signals[i].key);
  }));
  KEYTOK_RETURN_IF_ERROR(
      r.array("contested", n, "true or false", [&](const json& v, std::size_t i) {
        bool b = false;
        if (!read(v, &b)) return false;
        t.contested[i] = b;
        return true;
      }));
  KEYTOK_RETURN_IF_ERROR(r.array(
      "plan", -1, "a token index, above the one before it", [&](const json& v, std::size_t) {
        std::int64_t i = 0;
        const std::int64_t after = t.plan.empty() ? 0 : t.plan.back() + 1;
        if (!read_int(v, after, n - 1, &i)) return false;
        t.plan.push_back(static_cast<int>(i));
        return true;
      }));
  KEYTOK_RETURN_IF_ERROR(
      r.array("weights", n, "a finite number >= 0",
              [&](const json& v, std::size_t i) { return read_weight(v, &t.weights[i]); }));
  return t;
}

Result<ForkCandidate> read_candidate(const json& v, std::string_view source, int line,
                                     std::size_t c) {
  const std::string kind = fmt::format("position row, candidate {}", c);
  if (!v.is_object()) return detail::line_error(source, line, kind + ": must be an object {...}");
  const RowReader r(v, source, line, kind);
  ForkCandidate out;
  KEYTOK_RETURN_IF_ERROR(r.integer("token", std::numeric_limits<token_id>::min(),
                                   std::numeric_limits<token_id>::max(), &out.token));
  KEYTOK_RETURN_IF_ERROR(r.text("piece", &out.piece));
  KEYTOK_RETURN_IF_ERROR(
      r.get("prob", &out.prob, "a probability, 0 to 1", [](const json& j, float* o) {
        return j.is_number() && read_real(j, o) && *o >= 0.0f && *o <= 1.0f;
      }));
  KEYTOK_RETURN_IF_ERROR(r.integer("tokens", 0, kMaxCount, &out.tokens));
  KEYTOK_RETURN_IF_ERROR(
      r.array("answers", -1, "a string or null",
              [&](const json& a, std::size_t) { return read(a, &out.answers.emplace_back()); }));
  return out;
}

// `tasks`: the task rows so far, by id.
Result<ForkPosition> read_position(const RowReader& r, const json& obj,
                                   const std::map<std::string, const ForkTask*>& tasks,
                                   std::string_view source, int line) {
  ForkPosition p;
  KEYTOK_RETURN_IF_ERROR(r.text("task", &p.task_id));
  const auto task = tasks.find(p.task_id);
  if (task == tasks.end()) {
    return r.error(
        fmt::format("task \"{}\" has no task row before it (each task's row comes first; "
                    "was the file cut or edited?)",
                    p.task_id));
  }
  const auto n = static_cast<std::int64_t>(task->second->tokens.size());
  KEYTOK_RETURN_IF_ERROR(r.integer("pass", 0, 1, &p.pass));
  if (n == 0) return r.error(fmt::format("task \"{}\" has no tokens to index", p.task_id));
  KEYTOK_RETURN_IF_ERROR(r.integer("index", 0, n - 1, &p.index));
  KEYTOK_RETURN_IF_ERROR(r.text("piece", &p.piece));
  KEYTOK_RETURN_IF_ERROR(read_signals(r, &p.signals));
  KEYTOK_RETURN_IF_ERROR(r.flag("contested", &p.contested));
  KEYTOK_RETURN_IF_ERROR(r.flag("studied", &p.studied));
  KEYTOK_RETURN_IF_ERROR(r.get("weight", &p.weight, "a finite number >= 0",
                               [](const json& v, double* o) { return read_weight(v, o); }));
  KEYTOK_RETURN_IF_ERROR(r.real("p_change", &p.p_change));
  KEYTOK_RETURN_IF_ERROR(r.real("max_shift", &p.max_shift));
  KEYTOK_RETURN_IF_ERROR(r.real("max_tv", &p.max_tv));
  KEYTOK_RETURN_IF_ERROR(r.real("expected_shift", &p.expected_shift));
  KEYTOK_RETURN_IF_ERROR(r.flag("forks", &p.forks));
  KEYTOK_RETURN_IF_ERROR(r.integer("tokens", 0, kMaxCount, &p.tokens));
  const auto it = obj.find("candidates");
  if (it == obj.end() || !it->is_array()) return r.error("\"candidates\" must be an array");
  for (std::size_t c = 0; c < it->size(); ++c) {
    auto cand = read_candidate((*it)[c], source, line, c);
    if (!cand.ok()) return cand.status();
    p.candidates.push_back(std::move(*cand));
  }
  return p;
}

}  // namespace

Result<ForkResults> load_fork_results(const std::string& path) {
  auto text = detail::read_text_file(path, "forks results file",
                                     "check the path, or run keytok forks first");
  if (!text.ok()) return text.status();
  return parse_fork_results(*text, path);
}

Result<ForkResults> parse_fork_results(std::string_view text, const std::string& source) {
  auto doc = detail::parse_jsonl(text, source, detail::kForksFormat);
  if (!doc.ok()) return doc.status();
  if (doc->n_lines == 0) {
    return Status::format_error(source +
                                ": the forks results file is empty (no header line); "
                                "delete it or run keytok forks again");
  }
  ForkResults out;
  const json& h = doc->header;
  if (!h.contains("model") || !h["model"].is_string()) {
    return detail::line_error(source, 1, "the header needs the model's name as a string \"model\"");
  }
  out.model = h["model"].get<std::string>();
  if (h.contains("settings") && !h["settings"].is_object()) {
    return detail::line_error(source, 1, "the header's \"settings\" must be an object");
  }
  out.settings_json = h.contains("settings") ? detail::dump_line(h["settings"]) : "{}";
  out.cut_off_line = doc->cut_off_line;

  std::map<std::string, int> task_line;
  std::map<std::tuple<std::string, int, int>, int> position_line;  // (task, pass, index) -> line
  // Tasks by id, for the position rows; reserved so that the pointers stay valid.
  std::map<std::string, const ForkTask*> tasks;
  std::vector<ForkTask> task_rows;
  task_rows.reserve(doc->rows.size());
  for (const auto& [line, obj] : doc->rows) {
    const auto kind = obj.find("kind");
    if (kind == obj.end() || !kind->is_string() || (*kind != "task" && *kind != "position")) {
      return detail::line_error(source, line, "each row needs \"kind\": \"task\" or \"position\"");
    }
    if (*kind == "task") {
      auto t = read_task(RowReader(obj, source, line, "task row"));
      if (!t.ok()) return t.status();
      const auto [seen, added] = task_line.try_emplace(t->task_id, line);
      if (!added) {
        return detail::line_error(
            source, line,
            fmt::format("a second row for task \"{}\" (the first is on line {})", t->task_id,
                        seen->second));
      }
      task_rows.push_back(std::move(*t));
      tasks[task_rows.back().task_id] = &task_rows.back();
      continue;
    }
    auto p = read_position(RowReader(obj, source, line, "position row"), obj, tasks, source, line);
    if (!p.ok()) return p.status();
    const auto [seen, added] = position_line.try_emplace({p->task_id, p->pass, p->index}, line);
    if (!added) {
      return detail::line_error(
          source, line,
          fmt::format("a second row for task \"{}\", pass {}, index {} (the first is on line {})",
                      p->task_id, p->pass, p->index, seen->second));
    }
    out.rows.push_back(std::move(*p));
  }
  out.tasks = std::move(task_rows);
  return out;
}

}  // namespace keytok
