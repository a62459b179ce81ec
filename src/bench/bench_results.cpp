// Bench results files (keytok/bench.hpp) through the shared JSON-lines reader, and their summary.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "keytok/bench.hpp"
#include "keytok/reliability.hpp"
#include "util/jsonl.hpp"

namespace keytok {

using nlohmann::json;

std::string bench_header_line(const std::string& model_name) {
  return detail::header_line(detail::kBenchFormat, {{"model", model_name}});
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
  return detail::dump_line(j);
}

Result<std::vector<BenchRow>> load_bench_results(const std::string& path,
                                                 const std::string& model_name) {
  auto text = detail::read_text_file(path, "bench results file", "check the path");
  if (!text.ok()) return text.status();
  auto doc = detail::parse_jsonl(*text, path, detail::kBenchFormat);
  if (!doc.ok()) return doc.status();
  if (doc->n_lines == 0) {
    return Status::format_error(path + " is empty; remove it or pass another -o");
  }
  const std::string model = doc->header.contains("model") && doc->header["model"].is_string()
                                ? doc->header["model"].get<std::string>()
                                : std::string();
  if (model != model_name) {
    return detail::line_error(path, 1,
                              fmt::format("results of model '{}', not '{}'; pass another -o", model,
                                          model_name));
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
      r.generated_tokens = j.at("generated_tokens").get<std::int64_t>();
      r.prompt_tokens = j.value("prompt_tokens", 0);
      r.decode_calls = j.value("decode_calls", std::int64_t{0});
      r.peak_live = j.value("peak_live", 0);
      r.forks = j.value("forks", 0);
      r.paths = j.value("paths", 0);
      r.wall_ms = j.at("wall_ms").get<double>();
      r.large_decisions = j.value("large_decisions", 0);
      r.large_changed = j.value("large_changed", 0);
      r.large_prefill_tokens = j.value("large_prefill_tokens", std::int64_t{0});
      r.large_decode_calls = j.value("large_decode_calls", std::int64_t{0});
      r.rollbacks = j.value("rollbacks", 0);
      rows.push_back(std::move(r));
    } catch (const json::exception& e) {
      return detail::line_error(path, line, fmt::format("not a bench row ({})", e.what()));
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
