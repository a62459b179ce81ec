// keytok bench's rows, their JSON-lines file (resumable) and the final table and plot.
#pragma once

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "keytok/status.hpp"

namespace keytok::cli {

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
};

/// The results file: a header line {"format":"keytok-bench","version":1,"model":...}, then one
/// row per line, appended and flushed as each run finishes.
inline constexpr int kBenchFileVersion = 1;
std::string bench_header_line(const std::string& model_name);
std::string bench_row_line(const BenchRow& row);

/// Reads an existing results file for --resume: rows of complete lines. A last line without
/// its newline (a kill mid-write) is cut off the file so appending continues cleanly.
/// format_error when the header is of another format, version or model.
Result<std::vector<BenchRow>> read_bench_file(const std::string& path, const std::string& model_name);

/// Per-strategy summary, in the order of `strategies`.
struct BenchSummary {
  std::string strategy;
  int n = 0;
  int correct = 0;
  double accuracy = 0.0, lo = 0.0, hi = 0.0;  // 95% Wilson interval
  double mean_tokens = 0.0;                   // generated tokens per task
  double mean_wall_ms = 0.0;
  double tokens_per_correct = 0.0;            // total generated / correct; 0 when none correct
};
std::vector<BenchSummary> summarize_bench(const std::vector<BenchRow>& rows,
                                          const std::vector<std::string>& strategies);
void print_bench_table(const std::vector<BenchSummary>& s, std::ostream& out);
/// A self-contained page with an accuracy-against-tokens SVG plot and the table.
void write_bench_html(const std::vector<BenchSummary>& s, const std::string& title, std::ostream& out);

}  // namespace keytok::cli
