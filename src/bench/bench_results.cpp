// Bench results files (keytok/bench.hpp) through the shared JSON-lines reader, and their summary.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "keytok/bench.hpp"
#include "keytok/key_token.hpp"
#include "keytok/reliability.hpp"
#include "util/json_number.hpp"
#include "util/jsonl.hpp"

namespace keytok {

using nlohmann::json;

namespace {

// Every knob of a strategy, so that two runs with the same spec but other flags differ.
nlohmann::ordered_json strategy_json(const StrategyParams& p) {
  const KeyTokenParams& d = p.branch.detector;
  nlohmann::ordered_json j = {{"spec", p.name()},
          {"n", p.n},
          {"sampling", {{"temperature", p.sampling.temperature}, {"top_k", p.sampling.top_k},
                        {"top_p", p.sampling.top_p}, {"min_p", p.sampling.min_p},
                        {"seed", p.sampling.seed}}},
          {"max_tokens", p.max_tokens},
          {"budget_tokens", p.budget_tokens},
          {"combine", combine_rule_name(p.combine)},
          {"detector", {{"rule", key_rule_name(d.rule)}, {"entropy_nats", d.entropy_threshold_nats},
                        {"margin", d.margin_threshold}}},
          {"branch", {{"alternatives", p.branch.alternatives},
                      {"min_alternative_prob", p.branch.min_alternative_prob},
                      {"max_live", p.branch.max_live}, {"max_paths", p.branch.max_paths},
                      {"min_fork_distance", p.branch.min_fork_distance},
                      {"prune_gap_nats", p.branch.prune_gap_nats},
                      {"prune_min_tokens", p.branch.prune_min_tokens}}},
          {"deepconf", {{"warmup", p.deepconf.warmup}, {"window", p.deepconf.window},
                        {"top_k", p.deepconf.top_k}, {"keep_percent", p.deepconf.keep_percent},
                        {"consensus", p.deepconf.consensus}}},
          {"cascade", {{"rollback_nats", p.cascade.rollback_nats},
                       {"check_every", p.cascade.check_every},
                       {"max_decisions", p.cascade.max_decisions}}}};
  // Written only when on, so that files from before it existed still resume.
  if (p.branch.merge_after > 0) j["branch"]["merge_after"] = p.branch.merge_after;
  if (p.stop_agree > 0) j["stop_agree"] = p.stop_agree;
  return j;
}

nlohmann::ordered_json settings_object(const BenchSettings& s) {
  nlohmann::ordered_json strategies = nlohmann::ordered_json::array();
  for (const StrategyParams& p : s.strategies) strategies.push_back(strategy_json(p));
  nlohmann::ordered_json j = {{"model", s.model_file}, {"tasks", s.tasks_file}, {"raw", s.raw},
                              {"strategies", strategies}};
  if (!s.big_model_file.empty()) j["big_model"] = s.big_model_file;
  if (!s.shard.whole()) j["shard"] = s.shard.spec();
  if (s.kv.evicts()) {
    j["kv"] = {{"policy", kv_policy_name(s.kv.policy)}, {"budget", s.kv.budget}, {"sinks", s.kv.sinks},
               {"window", s.kv.protected_tail()}, {"step", s.kv.step()},
               {"importance", kv_importance_name(s.kv.importance)}, {"max_unit", s.kv.max_unit},
               {"seed", s.kv.seed}};
  }
  return j;
}

}  // namespace

std::string bench_settings_json(const BenchSettings& settings) {
  return detail::dump_line(settings_object(settings));
}

std::string bench_header_line(const std::string& model_name, const BenchSettings& settings) {
  return detail::header_line(detail::kBenchFormat,
                             {{"model", model_name}, {"settings", settings_object(settings)}});
}

std::string bench_row_line(const BenchRow& r) {
  nlohmann::ordered_json j = {{"task", r.task_id}, {"strategy", r.strategy}, {"correct", r.correct},
            {"answer", r.answer}, {"expected", r.expected},
            {"generated_tokens", r.generated_tokens},
            {"prompt_tokens", r.prompt_tokens}, {"decode_calls", r.decode_calls},
            {"peak_live", r.peak_live}, {"forks", r.forks}, {"paths", r.paths},
            {"wall_ms", r.wall_ms}};
  if (r.strategy == "cascade") {
    j.update({{"large_decisions", r.large_decisions}, {"large_changed", r.large_changed},
              {"large_prefill_tokens", r.large_prefill_tokens},
              {"large_decode_calls", r.large_decode_calls}, {"rollbacks", r.rollbacks}});
  }
  if (r.peak_cells > 0) j.update({{"peak_cells", r.peak_cells}, {"cells_evicted", r.cells_evicted}});
  if (!r.tree.empty()) j["tree"] = nlohmann::ordered_json::parse(r.tree, nullptr, /*allow_exceptions=*/false);
  return detail::dump_line(j);
}

Result<std::vector<BenchRow>> load_bench_results(const std::string& path,
                                                 const std::string& model_name,
                                                 const BenchSettings* settings) {
  auto text = detail::read_text_file(path, "bench results file", "check the path");
  if (!text.ok()) return text.status();
  return parse_bench_results(*text, path, model_name, settings);
}

Result<std::vector<BenchRow>> parse_bench_results(std::string_view text, const std::string& source,
                                                  const std::string& model_name,
                                                  const BenchSettings* settings) {
  auto doc = detail::parse_jsonl(text, source, detail::kBenchFormat);
  if (!doc.ok()) return doc.status();
  if (doc->n_lines == 0) {
    return Status::format_error(source + " is empty; remove it or pass another -o");
  }
  const std::string model = doc->header.contains("model") && doc->header["model"].is_string()
                                ? doc->header["model"].get<std::string>()
                                : std::string();
  if (model != model_name) {
    return detail::line_error(source, 1,
                              fmt::format("results of model '{}', not '{}'; pass another -o", model,
                                          model_name));
  }
  if (settings != nullptr && doc->header.contains("settings")) {
    // Compared as JSON values, so key order and number spelling in the file do not matter.
    const json want(settings_object(*settings));
    const json& have = doc->header["settings"];
    if (have != want) {
      const std::string which = detail::first_differing_member(want, have);
      return Status::invalid_argument(fmt::format(
          "{} was started with other settings ({} is {} in the file, {} now); resume with the "
          "same flags, or -o a new file",
          source, which, detail::member_text(have, which), detail::member_text(want, which)));
    }
  }
  std::vector<BenchRow> rows;
  for (const auto& [line, j] : doc->rows) {
    try {
      BenchRow r;
      r.task_id = j.at("task").get<std::string>();
      r.strategy = j.at("strategy").get<std::string>();
      r.correct = j.at("correct").get<bool>();
      r.answer = j.value("answer", "");
      r.expected = j.value("expected", "");
      r.generated_tokens = detail::json_get<std::int64_t>(j.at("generated_tokens"));
      r.prompt_tokens = detail::json_value(j, "prompt_tokens", 0);
      r.decode_calls = detail::json_value(j, "decode_calls", std::int64_t{0});
      r.peak_live = detail::json_value(j, "peak_live", 0);
      r.forks = detail::json_value(j, "forks", 0);
      r.paths = detail::json_value(j, "paths", 0);
      if (const auto t = j.find("tree"); t != j.end() && t->is_object()) r.tree = t->dump();
      r.wall_ms = j.at("wall_ms").get<double>();
      r.large_decisions = detail::json_value(j, "large_decisions", 0);
      r.large_changed = detail::json_value(j, "large_changed", 0);
      r.large_prefill_tokens = detail::json_value(j, "large_prefill_tokens", std::int64_t{0});
      r.large_decode_calls = detail::json_value(j, "large_decode_calls", std::int64_t{0});
      r.rollbacks = detail::json_value(j, "rollbacks", 0);
      r.peak_cells = detail::json_value(j, "peak_cells", 0);
      r.cells_evicted = detail::json_value(j, "cells_evicted", std::int64_t{0});
      rows.push_back(std::move(r));
    } catch (const json::exception& e) {
      return detail::line_error(source, line, fmt::format("not a bench row ({})", e.what()));
    }
  }
  return rows;
}

std::vector<BenchSummary> summarize_bench(const std::vector<BenchRow>& rows,
                                          const std::vector<std::string>& strategies) {
  std::vector<BenchSummary> out;
  for (const std::string& name : strategies) {
    BenchSummary s{.strategy = name};
    double tokens = 0.0, wall = 0.0, large = 0.0;
    for (const BenchRow& r : rows) {
      if (r.strategy != name) continue;
      ++s.n;
      s.correct += r.correct ? 1 : 0;
      tokens += static_cast<double>(r.generated_tokens);
      wall += r.wall_ms;
      large += r.large_decisions;
    }
    s.large_fraction = tokens > 0.0 ? large / tokens : 0.0;
    if (s.n > 0) {
      const Interval ci = wilson_interval(s.correct, s.n);
      s.accuracy = static_cast<double>(s.correct) / s.n;
      s.lo = ci.lo;
      s.hi = ci.hi;
      s.mean_tokens = tokens / s.n;
      s.mean_wall_ms = wall / s.n;
    }
    s.tokens_per_correct = s.correct > 0 ? tokens / s.correct : 0.0;
    out.push_back(s);
  }
  return out;
}

}  // namespace keytok
