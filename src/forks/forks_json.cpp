// Forks results files (keytok/forks.hpp, docs/forks.md): the header, task rows and position rows
// out, through the shared JSON-lines writer (util/jsonl.hpp). The reader is forks_json_read.cpp.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "keytok/forks.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace {

using nlohmann::ordered_json;

ordered_json number(double x) { return std::isfinite(x) ? ordered_json(x) : ordered_json(nullptr); }

// A float as the shortest decimal that reads back to it ("0.1", not 0.10000000149011612), which
// keeps per-token arrays short; the double it parses to must still round to the same float.
ordered_json number(float x) {
  if (!std::isfinite(x)) return nullptr;
  const std::string s = fmt::format("{}", x);
  double d = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || static_cast<float>(d) != x) {
    return static_cast<double>(x);
  }
  return d;
}

ordered_json answer_json(const std::optional<std::string>& a) {
  return a ? ordered_json(*a) : ordered_json(nullptr);
}

ordered_json candidate_json(const ForkCandidate& c) {
  ordered_json answers = ordered_json::array();
  // "outcomes": the answers counted, in first-seen order, for people reading the file; the
  // reader ignores it. No answer counts under "".
  ordered_json outcomes = ordered_json::object();
  for (const auto& a : c.answers) {
    answers.push_back(answer_json(a));
    const std::string key = a.value_or("");
    outcomes[key] = outcomes.contains(key) ? outcomes[key].get<std::int64_t>() + 1 : 1;
  }
  return {{"token", c.token},   {"piece", c.piece},   {"prob", number(c.prob)},
          {"tokens", c.tokens}, {"answers", answers}, {"outcomes", outcomes}};
}

}  // namespace

std::string fork_header_line(const std::string& model_name, const std::string& settings_json) {
  // The settings travel as an object, so that a resume compares values, not spellings.
  auto settings = ordered_json::parse(settings_json.empty() ? "{}" : settings_json, nullptr, false);
  if (settings.is_discarded() || !settings.is_object()) settings = ordered_json::object();
  return detail::header_line(detail::kForksFormat, {{"model", model_name}, {"settings", settings}});
}

std::string fork_task_json(const ForkTask& t) {
  ordered_json tokens = ordered_json::array(), pieces = ordered_json::array();
  ordered_json entropy = ordered_json::array(), varentropy = ordered_json::array();
  ordered_json margin = ordered_json::array(), top1 = ordered_json::array();
  ordered_json logprob = ordered_json::array(), key = ordered_json::array();
  ordered_json contested = ordered_json::array(), plan = ordered_json::array();
  ordered_json weights = ordered_json::array();
  for (const token_id id : t.tokens) tokens.push_back(id);
  for (const std::string& p : t.pieces) pieces.push_back(p);
  for (const ForkSignals& s : t.signals) {
    entropy.push_back(number(s.entropy));
    varentropy.push_back(number(s.varentropy));
    margin.push_back(number(s.margin));
    top1.push_back(number(s.top1_prob));
    logprob.push_back(number(s.logprob));
    key.push_back(s.key);
  }
  for (const bool c : t.contested) contested.push_back(c);
  for (const int i : t.plan) plan.push_back(i);
  for (const double w : t.weights) weights.push_back(number(w));
  return detail::dump_line({{"kind", "task"},
                            {"task", t.task_id},
                            {"expected", t.expected},
                            {"text", t.text},
                            {"base_answer", t.base_answer},
                            {"correct", t.correct},
                            {"stop_reason", t.stop_reason},
                            {"tokens", tokens},
                            {"pieces", pieces},
                            {"entropy", entropy},
                            {"varentropy", varentropy},
                            {"margin", margin},
                            {"top1_prob", top1},
                            {"logprob", logprob},
                            {"key", key},
                            {"contested", contested},
                            {"plan", plan},
                            {"weights", weights}});
}

std::string fork_position_json(const ForkPosition& r) {
  ordered_json candidates = ordered_json::array();
  for (const ForkCandidate& c : r.candidates) candidates.push_back(candidate_json(c));
  return detail::dump_line({{"kind", "position"},
                            {"task", r.task_id},
                            {"pass", r.pass},
                            {"index", r.index},
                            {"piece", r.piece},
                            {"entropy", number(r.signals.entropy)},
                            {"varentropy", number(r.signals.varentropy)},
                            {"margin", number(r.signals.margin)},
                            {"top1_prob", number(r.signals.top1_prob)},
                            {"logprob", number(r.signals.logprob)},
                            {"key", r.signals.key},
                            {"contested", r.contested},
                            {"studied", r.studied},
                            {"weight", number(r.weight)},
                            {"p_change", number(r.p_change)},
                            {"max_shift", number(r.max_shift)},
                            {"max_tv", number(r.max_tv)},
                            {"expected_shift", number(r.expected_shift)},
                            {"forks", r.forks},
                            {"tokens", r.tokens},
                            {"candidates", candidates}});
}

}  // namespace keytok
