// Forks results files (keytok/forks.hpp parse_fork_results, what `forks --resume` and the
// report read). Invariants: an error names the file; parsed tasks have one entry per token in
// every per-token array, an ascending plan inside the answer and finite weights >= 0; rows have
// pass 0 or 1, an index inside their task and a finite weight >= 0; written out again
// (fork_header_line, fork_task_json, fork_position_json) they read back equal; and the summary,
// its JSON and text and the HTML page are made from whatever was read without crashing.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "keytok/forks.hpp"

namespace {

bool same(float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }
bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

bool same(const keytok::ForkSignals& a, const keytok::ForkSignals& b) {
  return same(a.entropy, b.entropy) && same(a.varentropy, b.varentropy) &&
         same(a.margin, b.margin) && same(a.top1_prob, b.top1_prob) && same(a.logprob, b.logprob) &&
         a.key == b.key;
}

bool same(const keytok::ForkTask& a, const keytok::ForkTask& b) {
  if (a.signals.size() != b.signals.size()) return false;
  for (std::size_t i = 0; i < a.signals.size(); ++i) {
    if (!same(a.signals[i], b.signals[i])) return false;
  }
  return a.task_id == b.task_id && a.expected == b.expected && a.text == b.text &&
         a.base_answer == b.base_answer && a.correct == b.correct &&
         a.stop_reason == b.stop_reason && a.tokens == b.tokens && a.pieces == b.pieces &&
         a.contested == b.contested && a.plan == b.plan && a.weights == b.weights;
}

bool same(const keytok::ForkCandidate& a, const keytok::ForkCandidate& b) {
  return a.token == b.token && a.piece == b.piece && same(a.prob, b.prob) &&
         a.answers == b.answers && a.tokens == b.tokens;
}

bool same(const keytok::ForkPosition& a, const keytok::ForkPosition& b) {
  if (a.candidates.size() != b.candidates.size()) return false;
  for (std::size_t c = 0; c < a.candidates.size(); ++c) {
    if (!same(a.candidates[c], b.candidates[c])) return false;
  }
  return a.task_id == b.task_id && a.pass == b.pass && a.index == b.index && a.piece == b.piece &&
         same(a.signals, b.signals) && a.contested == b.contested && a.studied == b.studied &&
         a.weight == b.weight && same(a.p_change, b.p_change) && same(a.max_tv, b.max_tv) &&
         same(a.expected_shift, b.expected_shift) && a.forks == b.forks && a.tokens == b.tokens;
}

void check_task(const keytok::ForkTask& t) {
  const std::size_t n = t.tokens.size();
  FUZZ_CHECK(!t.task_id.empty(), "a task has an id");
  FUZZ_CHECK(t.pieces.size() == n && t.signals.size() == n && t.contested.size() == n &&
                 t.weights.size() == n,
             t.task_id);
  for (std::size_t k = 0; k < t.plan.size(); ++k) {
    FUZZ_CHECK(t.plan[k] >= 0 && static_cast<std::size_t>(t.plan[k]) < n, t.task_id);
    FUZZ_CHECK(k == 0 || t.plan[k] > t.plan[k - 1], t.task_id);
  }
  for (const double w : t.weights) FUZZ_CHECK(std::isfinite(w) && w >= 0.0, t.task_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source = "fuzz-forks.jsonl";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto results = keytok::parse_fork_results(text, source);
  if (keytok::fuzz::failed(results, source)) return 0;
  FUZZ_CHECK(results->cut_off_line >= 0, "cut_off_line");
  std::map<std::string, std::size_t> tokens;
  std::string again = keytok::fork_header_line(results->model, results->settings_json) + "\n";
  for (const keytok::ForkTask& t : results->tasks) {
    check_task(t);
    tokens[t.task_id] = t.tokens.size();
    again += keytok::fork_task_json(t) + "\n";
  }
  for (const keytok::ForkPosition& r : results->rows) {
    FUZZ_CHECK(r.pass == 0 || r.pass == 1, r.task_id);
    FUZZ_CHECK(tokens.contains(r.task_id), "a row's task was read");
    FUZZ_CHECK(r.index >= 0 && static_cast<std::size_t>(r.index) < tokens[r.task_id], r.task_id);
    FUZZ_CHECK(std::isfinite(r.weight) && r.weight >= 0.0, r.task_id);
    again += keytok::fork_position_json(r) + "\n";
  }

  auto back = keytok::parse_fork_results(again, source);
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(back->model == results->model, "the model round-trips");
  FUZZ_CHECK(
      nlohmann::json::parse(back->settings_json) == nlohmann::json::parse(results->settings_json),
      "the settings round-trip");
  FUZZ_CHECK(back->cut_off_line == 0, "a written file has no cut-off line");
  FUZZ_CHECK(back->tasks.size() == results->tasks.size(), "every task round-trips");
  FUZZ_CHECK(back->rows.size() == results->rows.size(), "every row round-trips");
  for (std::size_t i = 0; i < results->tasks.size(); ++i) {
    FUZZ_CHECK(same(results->tasks[i], back->tasks[i]), results->tasks[i].task_id);
  }
  for (std::size_t i = 0; i < results->rows.size(); ++i) {
    FUZZ_CHECK(same(results->rows[i], back->rows[i]), results->rows[i].task_id);
  }

  // Few resamples: the bootstrap's cost, not its precision, matters here.
  const keytok::ForkSummary summary = keytok::summarize_forks(results->rows, {.resamples = 10});
  FUZZ_CHECK(summary.positions >= summary.contested && summary.contested >= 0, "counts");
  FUZZ_CHECK(
      !nlohmann::json::parse(keytok::fork_summary_json(summary), nullptr, false).is_discarded(),
      "the summary's JSON is JSON");
  FUZZ_CHECK(!keytok::fork_summary_text(summary).empty(), "the summary's text");
  FUZZ_CHECK(!keytok::forks_html(*results, summary).empty(), "the page");
  return 0;
}
