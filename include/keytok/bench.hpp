// keytok/bench.hpp: the rows of a strategy benchmark (tasks x strategies), their results file
// and their summary.
//
// `keytok bench` runs every task under every strategy and appends one row per run to a results
// file (a header line {"format":"keytok-bench","version":1,"model":...,"settings":{...}}, then
// one JSON object per line), so a killed bench resumes where it stopped
// (keytok/results_file.hpp). The header's settings are what --resume and `keytok merge` compare.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/kv_policy.hpp"
#include "keytok/shard.hpp"
#include "keytok/status.hpp"
#include "keytok/strategy.hpp"

namespace keytok {

/// One task under one strategy.
struct BenchRow {
  std::string task_id;
  std::string strategy;
  bool correct = false;
  std::string answer;            // the voted answer; empty when none
  std::string expected;
  std::int64_t generated_tokens = 0;
  int prompt_tokens = 0;
  std::int64_t decode_calls = 0;
  int peak_live = 0;
  int forks = 0;
  int paths = 0;
  double wall_ms = 0.0;
  // cascade only (written for cascade rows): DecodeCost's large-model figures.
  int large_decisions = 0;
  int large_changed = 0;
  std::int64_t large_prefill_tokens = 0;
  std::int64_t large_decode_calls = 0;
  int rollbacks = 0;
  // Under an evicting KV policy (written when peak_cells > 0): DecodeCost's KV figures.
  int peak_cells = 0;
  std::int64_t cells_evicted = 0;
  /// Runs of more than one path: generation_tree_json's object, so that other combine rules
  /// can be tried on the same paths offline (bench/revote.cpp); empty = none.
  std::string tree;
};

/// What a bench run was: everything that changes its rows. Files are named without their folder,
/// so the shards of one run, made on machines with other paths, compare equal. --limit is left
/// out: rows are keyed by task, so a resumed run may take more tasks.
struct BenchSettings {
  std::string model_file;                  // the model's file name
  std::string tasks_file;                  // the task file's name
  bool raw = false;                        // no chat template
  std::vector<StrategyParams> strategies;  // every knob of each, in the order run
  std::string big_model_file;              // cascade's large model's file name; "" = none
  Shard shard;                             // written only when not the whole list
  KvPolicyParams kv;                       // written only when it evicts
};
/// `settings` as one JSON object (no newline), as the header holds it.
std::string bench_settings_json(const BenchSettings& settings);

/// The header line of a results file for `model_name` (no newline).
std::string bench_header_line(const std::string& model_name, const BenchSettings& settings);
/// One row as one line (no newline).
std::string bench_row_line(const BenchRow& row);

/// The rows of an existing results file, for --resume. A last line cut off mid-write (a kill)
/// is left out. format_error naming file:line when the header is of another format, version or
/// model, or a row is malformed; invalid_argument naming the first setting that differs when
/// `settings` is given and the header's differ (a file from before settings were written has
/// none and is taken as it is); not_found when there is no file.
Result<std::vector<BenchRow>> load_bench_results(const std::string& path,
                                                 const std::string& model_name,
                                                 const BenchSettings* settings = nullptr);
/// Same as load_bench_results on a file's text already in memory; `source` names it in
/// messages where the path would.
Result<std::vector<BenchRow>> parse_bench_results(std::string_view text, const std::string& source,
                                                  const std::string& model_name,
                                                  const BenchSettings* settings = nullptr);

/// Per-strategy summary.
struct BenchSummary {
  std::string strategy;
  int n = 0;
  int correct = 0;
  double accuracy = 0.0, lo = 0.0, hi = 0.0;  // 95% Wilson interval
  double mean_tokens = 0.0;                   // generated tokens per task
  double mean_wall_ms = 0.0;
  double tokens_per_correct = 0.0;            // total generated / correct; 0 when none correct
  double large_fraction = 0.0;                // cascade: large-model decisions / generated tokens
};
/// One summary per strategy, in the order of `strategies`.
std::vector<BenchSummary> summarize_bench(const std::vector<BenchRow>& rows,
                                          const std::vector<std::string>& strategies);

}  // namespace keytok
