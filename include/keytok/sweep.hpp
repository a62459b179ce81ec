// keytok/sweep.hpp: running verifiable tasks and measuring where the first error falls.
//
// One trial = one generation for one task (greedy, or one of K samples). For each trial keytok
// records success, the output's key tokens, and — where the task has a single reference output —
// the first token where the output leaves the reference, whether the detector flagged that step,
// and its entropy and margin. Trials are written as JSON lines (format in docs/tasks.md), so a
// sweep can be killed and resumed, and `keytok fit` reads them.
//
// The report tests the paper's sparsity claim (arXiv 2505.24187): if errors concentrate on key
// tokens, the error recall of the detector is high and P(error | key) >> P(error | non-key).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/analysis.hpp"
#include "keytok/reliability.hpp"
#include "keytok/status.hpp"
#include "keytok/tasks.hpp"

namespace keytok {

/// How each task is run.
struct SweepParams {
  int samples = 1;          // trials per task; > 1 needs sampling.temperature > 0
  SamplingParams sampling;  // greedy by default; trial seeds derive from sampling.seed, id, sample
  int max_tokens = 0;       // tokens per trial at most; 0 = 2 x the reference's tokens + 16
                            // (at least 32), or 256 without a reference
  bool raw = false;         // no chat template

  /// invalid_argument for samples < 1, samples > 1 with greedy sampling, max_tokens < 0.
  Status validate() const;
};

/// One trial line of a sweep results file (docs/tasks.md, "Sweep results").
struct TrialRecord {
  std::string id;
  std::string family;
  int length = 0;
  int sample = 0;
  bool success = false;
  std::string output;
  int n_output_tokens = 0;
  int n_key = 0;
  std::optional<int> first_error_token;        // null: correct, or no reference
  std::optional<std::string> first_error_kind; // "mismatch", "stopped_early", "extra_output"
  std::optional<bool> first_error_key;
  std::optional<double> first_error_entropy;   // nats
  std::optional<double> first_error_margin;
  std::optional<int> n_at_risk;                // steps taken while still on the reference
  std::optional<int> n_key_at_risk;
  double seconds = 0.0;                        // wall time of the trial
};

/// Runs one trial. The analyzer's detector flags key tokens. Errors from generation only.
Result<TrialRecord> run_trial(Analyzer& analyzer, const Task& task, int sample,
                              const SweepParams& params);

/// The JSON line of a trial (no newline).
std::string trial_record_json(const TrialRecord& trial);
/// Parses a trial line; `where` ("file:line") prefixes errors.
Result<TrialRecord> parse_trial_record(const std::string& line, const std::string& where);

/// The first line of a sweep results file: what the run was.
struct SweepHeader {
  std::string model;            // model path
  std::string tasks;            // task file
  int samples = 1;
  double temperature = 0.0;
  std::uint32_t seed = 0;
  std::string detector;         // KeyTokenDetector::describe()
  std::string detector_source;  // where its thresholds came from
  std::string created;          // UTC, ISO 8601
  std::string settings_json;    // a JSON object: what a --resume must match
};
/// The header line, {"format":"keytok-sweep","version":1,...} (no newline).
std::string sweep_header_line(const SweepHeader& header);

/// A results file as read back.
struct SweepResults {
  SweepHeader header;
  std::vector<TrialRecord> trials;
  int cut_off_line = 0;  // number of a last line cut off mid-write and left out; 0 when none
};

/// Reads a results file: the header checked (format keytok-sweep, version 1), the trial lines
/// parsed. A last line cut off mid-write (a killed run) is left out and reported in
/// cut_off_line. Errors: not_found, format_error naming file:line.
Result<SweepResults> load_sweep_results(const std::string& path);

/// Same as load_sweep_results on a file's text already in memory; `source` names it in error
/// messages where the path would. Errors: format_error naming source:line.
Result<SweepResults> parse_sweep_results(std::string_view text, const std::string& source);

/// Aggregates of a group of trials (all, one family, or one family and length).
struct SweepGroup {
  std::string family;               // "" = all families
  int length = -1;                  // -1 = all lengths
  int trials = 0;
  int successes = 0;
  Interval success_rate;            // Wilson 95%
  double key_fraction = 0.0;        // flagged output tokens / output tokens
  int first_errors = 0;             // trials with a located first error
  Interval error_recall;            // share of first errors on flagged steps, Wilson 95%
  std::optional<Interval> p_error_key;      // per step at risk, bootstrap 95% over trials
  std::optional<Interval> p_error_non_key;
  std::optional<Interval> error_ratio;      // P(error | key) / P(error | non-key)
};

/// The sweep report: overall, per family, per family and length.
struct SweepReport {
  SweepGroup overall;
  std::vector<SweepGroup> by_family;
  std::vector<SweepGroup> by_family_length;
};

SweepReport summarize_sweep(const std::vector<TrialRecord>& trials, const BootstrapParams& boot = {});
/// The report as a text table (what `keytok sweep` prints at the end).
std::string sweep_report_text(const SweepReport& report);
/// The report as JSON.
std::string sweep_report_json(const SweepReport& report);

}  // namespace keytok
