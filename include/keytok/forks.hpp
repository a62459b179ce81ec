// keytok/forks.hpp: which tokens decide the answer. Counterfactual forking on the model's own
// greedy answer (Forking Paths in Neural Text Generation, Bigelow et al., ICLR 2025,
// arXiv 2412.07961), replayed from a forked KV cache.
//
// For a task with a checkable answer: decode the base answer greedily; at each position
// studied, take the base token and every alternative at least `min_prob` likely, force each in
// a fork of the base's KV cache (never a re-tokenised prefix: re-feeding shifts such estimates,
// arXiv 2606.15621), and sample `samples` completions of each at T = 1, all as batched
// sequences of one Session. Each completion's answer is extracted with the task's match mode.
//
// Per position this gives, for each candidate token c, an outcome distribution o_c over
// answers. With the candidates' probabilities renormalised to weights w_c and
// q(c) = P(answer != base answer | c):
//   p_change       = sum_c w_c * q(c)
//   shift(c)       = q(c) - q(base)   how much more often taking c leaves the base answer
//   forks          = max_{c != base} shift(c) >= fork_shift   (the definition of a forking token)
//   tv(c)          = total variation between o_c and o_base, reported (max_tv, expected_shift =
//                    sum_{c != base} w_c * tv(c)); not the criterion, because with a few
//                    completions spread over many answers TV is large even between equal
//                    distributions, while shift compares two proportions (docs/forks.md).
// A position with no alternative at least min_prob likely ("uncontested") cannot fork by this
// definition and costs nothing. Flagged contested positions are all studied; unflagged
// contested ones with probability random_rate, weighted 1 / random_rate in every estimate
// (Horvitz-Thompson), so the study costs a fraction of the full one but stays unbiased.
//
//   ForkStudy study(session, detector, params);
//   auto base = study.plan(task).value();                  // greedy answer, signals, plan
//   for (int i : base.plan) rows.push_back(study.study(base, i, /*pass=*/0).value());
//   ForkSummary s = summarize_forks(rows);                 // AUROC per signal, fork share...
//
// docs/forks.md documents the procedure, the outputs and how to read them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/key_token.hpp"
#include "keytok/reliability.hpp"
#include "keytok/sampling.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "keytok/tasks.hpp"
#include "keytok/types.hpp"

namespace keytok {

/// Knobs of a fork study. Defaults are sized for 2 CPU cores (docs/forks.md, "Cost").
struct ForkStudyParams {
  int samples = 8;                 // S: completions per candidate token, 1..256 (Bigelow: 30)
  float min_prob = 0.05f;          // alternatives at least this likely are candidates (Bigelow: 0.05)
  int max_alternatives = 3;        // alternatives per position at most, besides the base token, 1..15
  int max_tokens = 256;            // answer tokens at most, for the base and every completion
  /// Completions: T = 1 over the untruncated distribution, the model's own.
  SamplingParams sampling{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f};
  double random_rate = 0.1;        // share of unflagged contested positions studied, (0, 1]
  float fork_shift = 0.5f;         // forks when an alternative raises P(answer changes) by >= this, (0, 1]
  std::uint64_t seed = 0;          // the plan's draw and every completion's sampler derive from it
  int max_parallel = 0;            // completions decoded at once; 0 = all of a position's
  bool raw = false;                // no chat template
  /// invalid_argument naming the field for a value outside its range.
  Status validate() const;
  /// Completions decoded at once: max_parallel, or all of a position's when 0.
  int parallel() const;
  /// Sequences the Session needs (SessionParams::n_seq_max): base, prefix, completions.
  int max_live_sequences() const;
  /// KV cells the Session needs (SessionParams::n_ctx) for a prompt of this many tokens.
  int context_cells(int n_prompt_tokens) const;
};

/// The signals of one position of the base answer, and whether the detector flags it.
struct ForkSignals {
  float entropy = 0.0f;     // nats
  float varentropy = 0.0f;  // nats^2
  float margin = 0.0f;      // top1 - top2 probability
  float top1_prob = 0.0f;
  float logprob = 0.0f;     // of the base token, nats
  bool key = false;         // the detector's flag
};

/// The base answer of one task and which positions get studied.
struct ForkTask {
  std::string task_id;
  std::string expected;                  // the task's answer
  std::string text;                      // the base (greedy) answer
  std::string base_answer;               // extracted with the task's match mode
  bool correct = false;                  // the base answer matches the task's
  std::string stop_reason;               // "eog" or "length"
  std::vector<token_id> tokens;          // the base answer's tokens
  std::vector<std::string> pieces;       // their text
  std::vector<ForkSignals> signals;      // (tokens)
  std::vector<bool> contested;           // (tokens) some alternative >= min_prob
  std::vector<int> plan;                 // indices to study, ascending
  std::vector<double> weights;           // (tokens) inverse inclusion probability; 0 = left out
};

/// One candidate token at a position and what its completions answered.
struct ForkCandidate {
  token_id token = -1;
  std::string piece;
  float prob = 0.0f;                               // under the full softmax at the position
  std::vector<std::optional<std::string>> answers; // one per completion; nullopt = none extractable
  std::int64_t tokens = 0;                         // tokens the completions generated (forced one included)
};

/// One position's row. Candidates are empty when the position was not studied.
struct ForkPosition {
  std::string task_id;
  int pass = 0;              // 0; 1 for the second pass of a noise-floor task
  int index = 0;             // token index in the base answer
  std::string piece;
  ForkSignals signals;
  bool contested = false;
  bool studied = false;
  double weight = 1.0;       // in estimates: 1 / inclusion probability; 0 = left out
  std::vector<ForkCandidate> candidates;  // [0] is the base token
  double p_change = 0.0;
  double max_shift = 0.0;    // max over alternatives of q(c) - q(base); may be negative
  double max_tv = 0.0;
  double expected_shift = 0.0;
  bool forks = false;
  std::int64_t tokens = 0;   // completion tokens spent here
};

// ---------------------------------------------------------------------------------------------
// The study (needs a model)

class ForkStudy {
 public:
  /// `session` must outlive the study and allow params.max_live_sequences() sequences.
  ForkStudy(Session& session, KeyTokenDetector detector, ForkStudyParams params);

  /// Decodes the base answer greedily (max_tokens at most) and draws the plan. The session then
  /// holds the base answer's KV cache until the next plan(). Errors: invalid_argument when the
  /// base answer has no answer the task's match mode can extract (it names the task and shows
  /// the answer's end), when the session has too few sequences, or for a bad task;
  /// context_overflow when the prompt and max_tokens do not fit.
  Result<ForkTask> plan(const Task& task);

  /// Studies position `index` of the last planned task: forks the base's cache before it,
  /// forces each candidate and samples the completions (batched), extracts and compares the
  /// answers. `pass` selects independent completion seeds (0, 1) for the noise floor. An
  /// uncontested position returns its row without decoding. invalid_argument for an index
  /// outside the answer or a task other than the last planned one.
  Result<ForkPosition> study(const ForkTask& task, int index, int pass = 0);

  /// The row of a position left out of the plan (weight 0) or uncontested (weight 1), without
  /// decoding. Precondition (asserted): `index` is a position of `task`, which plan() made.
  ForkPosition unstudied(const ForkTask& task, int index, int pass = 0) const;

  const ForkStudyParams& params() const { return params_; }

  /// One finished completion: the position, candidate (0 = the base token) and sample, its
  /// tokens (the forced candidate first) and its text from the position on.
  struct Completion {
    int index = 0;
    int candidate = 0;
    int sample = 0;
    std::span<const token_id> tokens;
    std::string_view text;
  };
  /// Receives every completion as it finishes (tests, debugging); empty = none.
  void on_completion(std::function<void(const Completion&)> fn) { on_completion_ = std::move(fn); }

 private:
  std::function<void(const Completion&)> on_completion_;
  Session& session_;
  KeyTokenDetector detector_;
  ForkStudyParams params_;
  const Task* task_ = nullptr;  // the last planned task
  Task task_copy_;
  Branch base_;
  int n_prompt_ = 0;
  std::vector<std::vector<Alternative>> tops_;  // per base position, alternatives by prob
};

// ---------------------------------------------------------------------------------------------
// Pure pieces

/// Outcome distribution of a candidate's completions: answer -> share ("" stands for none).
/// Total variation between the outcome distributions of two answer lists, in [0, 1]; 0 when
/// either is empty.
double outcome_tv(std::span<const std::optional<std::string>> a,
                  std::span<const std::optional<std::string>> b);

/// Fills p_change, max_shift, max_tv, expected_shift, forks and tokens of a studied row from its
/// candidates (weights: the candidates' probabilities renormalised), against the base answer.
void score_fork_position(ForkPosition& row, const std::string& base_answer, float fork_shift);

/// Sets `forks` of each row again at another threshold, from its max_shift as
/// score_fork_position would: how the study's figures depend on the definition's one parameter,
/// from loaded rows and without decoding again. Rows not studied stay non-forking.
void relabel_forks(std::span<ForkPosition> rows, float fork_shift);

/// The plan: every contested flagged position, and each contested unflagged one with
/// probability random_rate (its weight then 1 / random_rate); uncontested ones keep weight 1
/// and are not studied. Deterministic in (seed, task id). Fills task.plan and task.weights.
void plan_fork_positions(ForkTask& task, double random_rate, std::uint64_t seed);

/// Area under the ROC curve of `score` (higher = more likely positive) for `label`, each item
/// weighted (0 weight = left out); ties count one half. NaN when either class has no weight.
double weighted_auroc(std::span<const double> score, std::span<const bool> label,
                      std::span<const double> weight);

/// How well one signal predicts forking positions, with bootstrap intervals over tasks.
struct ForkSignalScore {
  std::string signal;        // entropy, varentropy, margin (low = flagged), top1_prob (low), detector
  Interval auroc;            // over every position (uncontested ones are negatives)
  Interval auroc_contested;  // over contested positions only
  Interval precision;        // at the detector's flag rate (the detector: its own flags)
  Interval recall;
  double threshold = 0.0;    // the signal's value at that rate (detector: NaN)
};

/// The study's figures. Weighted estimates (weights of ForkPosition) over pass 0; intervals are
/// percentile bootstraps over tasks (BootstrapParams).
struct ForkSummary {
  int tasks = 0;
  int positions = 0;              // base answer tokens
  int contested = 0;
  int studied = 0;
  std::int64_t completion_tokens = 0;
  Interval fork_share;            // share of positions that fork
  Interval fork_share_contested;  // among contested positions
  Interval key_share;             // share of positions the detector flags
  Interval p_change_mean;         // mean P(answer changes) over positions
  std::vector<ForkSignalScore> signals;
  /// The paper's "85% accuracy at key decision points", read as the share of positions where
  /// the detector's flag equals the forking label (and the mean of the two class recalls).
  Interval detector_accuracy;
  Interval detector_balanced_accuracy;
  /// Noise floor (rows of pass 1 exist): positions studied in both passes, the share whose
  /// forks verdict differs, the mean |p_change difference|.
  int noise_positions = 0;
  double noise_disagreement = 0.0;
  double noise_mean_abs_p_change = 0.0;
};
ForkSummary summarize_forks(std::span<const ForkPosition> rows, const BootstrapParams& boot = {});

// ---------------------------------------------------------------------------------------------
// Files (docs/forks.md): a header {"format":"keytok-forks","version":1,...}, then one row per
// task ("kind":"task") and per position ("kind":"position"), appended as they are made.

std::string fork_task_json(const ForkTask& task);
std::string fork_position_json(const ForkPosition& row);
std::string fork_summary_json(const ForkSummary& summary);
/// The summary as a text table (what `keytok forks` prints).
std::string fork_summary_text(const ForkSummary& summary);

struct ForkResults {
  std::string model;
  std::string settings_json;      // a JSON object: what a --resume must match
  std::vector<ForkTask> tasks;    // plan, tokens' pieces and signals included
  std::vector<ForkPosition> rows;
  int cut_off_line = 0;           // a last line cut off mid-write, left out; 0 when none
};
/// The header line (no newline).
std::string fork_header_line(const std::string& model_name, const std::string& settings_json);
Result<ForkResults> load_fork_results(const std::string& path);
Result<ForkResults> parse_fork_results(std::string_view text, const std::string& source);

/// Whether `results` (read from `source`) was made with `settings_json`: invalid_argument naming
/// the first setting that differs and both values ("settings.samples is 8 in the file, 4 now").
Status check_fork_settings(const ForkResults& results, const std::string& settings_json, const std::string& source);

/// A self-contained HTML page: per task, the base answer's tokens coloured by P(change)
/// (grey = not studied), the detector's flags outlined, each studied token's outcome
/// distribution on hover; the summary on top.
std::string forks_html(const ForkResults& results, const ForkSummary& summary);

}  // namespace keytok
