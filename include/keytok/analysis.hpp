// keytok/analysis.hpp: per-token uncertainty of a text or of a generation, with key-token flags.
//
//   auto model = Model::load({.path = resolve_model("qwen2.5-coder-0.5b").value()}).value();
//   auto session = Session::create(model, {}).value();
//   Analyzer analyzer(*session, KeyTokenDetector{});
//   Analysis a = analyzer.generate({.prompt = "Name three primes.", .n_predict = 64}).value();
//   AnalysisSummary s = summarize(a);   // key fraction, surprisal share of key tokens, ...
//
// Teacher forcing (score_text) gives every token of a given text its signals under the model;
// generation gives the signals of the distribution each generated token was drawn from.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/key_token.hpp"
#include "keytok/sampling.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "keytok/token_stats.hpp"

namespace keytok {

/// One analysed token.
struct TokenRecord {
  int index = 0;        // 0-based index among the analysed tokens
  token_id id = -1;     // the token (generated or given)
  std::string piece;    // its bytes (may be part of a UTF-8 character)
  TokenStats stats;     // signals of the distribution the token came from; stats.token == id
  std::vector<std::string> top_pieces;  // pieces of stats.top, same order
  bool key = false;     // flagged by the detector
};

/// Everything an analysis produced.
struct Analysis {
  std::string model_name;
  std::string mode;          // "text" (teacher-forced) or "generate"
  std::string prompt;        // the user prompt; empty when none
  std::string text;          // the analysed text (given, or generated)
  std::string rule;          // detector rule, e.g. "entropy >= 2.000 nats"
  std::string rule_source;   // "default rule" or "calibration FILE"
  std::string stop_reason;   // generate: "eog", "length" or "context" (full); text: ""
  int n_prompt_tokens = 0;   // tokens of context before the analysed ones
  int n_windows = 1;         // text mode: context windows used
  int n_unscored = 0;        // text tokens without a prediction (first token, no BOS, no prompt)
  std::vector<TokenRecord> tokens;
  /// generate: the step that produced end-of-generation (its distribution and flag); not part
  /// of `tokens` or the summary. Empty when generation stopped for another reason.
  std::optional<TokenRecord> eog;
  /// The KV policy's memory and cost over this analysis (Session::kv_usage).
  KvUsage kv;
};

/// Aggregates over an Analysis.
struct AnalysisSummary {
  int n_tokens = 0;
  int n_key = 0;
  double key_fraction = 0.0;         // n_key / n_tokens
  double mean_entropy = 0.0;         // nats
  double mean_logprob = 0.0;         // nats per token
  double perplexity = 0.0;           // exp(-mean_logprob)
  double surprisal_total = 0.0;      // sum of -logprob, nats
  double surprisal_share_key = 0.0;  // share of surprisal_total carried by key tokens, in [0, 1]
  double mean_entropy_key = 0.0;     // nats, over key tokens (0 when none)
};

AnalysisSummary summarize(const Analysis& analysis);

/// Options of Analyzer::score_text.
struct ScoreParams {
  std::string prompt;        // optional user prompt; the text is then scored as the assistant's reply
  bool raw = false;          // no chat template: prompt and text are plain continuation
  int top_k = 5;             // alternatives kept per token
  bool allow_windows = true; // longer than the context: score in windows, else context_overflow
  int window_overlap = -1;   // tokens of context carried into each next window; -1 = n_ctx / 4
};

/// Options of Analyzer::generate.
struct GenerateParams {
  std::string prompt;        // the user prompt (required)
  int n_predict = 128;       // tokens at most, >= 1; generation also stops at end-of-generation
  SamplingParams sampling;   // greedy by default
  bool raw = false;          // no chat template
  int top_k = 5;             // alternatives kept per token
};

/// Runs analyses on a borrowed Session (it must outlive the Analyzer; each call resets it).
/// One thread at a time.
class Analyzer {
 public:
  Analyzer(Session& session, KeyTokenDetector detector);

  /// Teacher-forced scoring of `text`. invalid_argument for empty or non-UTF-8 text;
  /// context_overflow when windows are off and the text does not fit (names the limit and --ctx).
  Result<Analysis> score_text(std::string_view text, const ScoreParams& params);

  /// Generates from `params.prompt` and analyses each generated token; on_token (optional) sees
  /// each record as it is made. invalid_argument for an empty prompt or n_predict < 1.
  Result<Analysis> generate(const GenerateParams& params,
                            const std::function<void(const TokenRecord&)>& on_token = {});

  const KeyTokenDetector& detector() const { return detector_; }
  const Session& session() const { return session_; }

 private:
  Session& session_;
  KeyTokenDetector detector_;
};

/// Scores `text` (teacher forcing, as Analyzer::score_text with `params`) and sets thresholds
/// so that `rule` flags `key_fraction` of its positions. Fills every Calibration field but
/// text_source. invalid_argument for a fraction outside (0, 1) and for texts with fewer than
/// 20 scored positions (too few for a quantile).
Result<Calibration> calibrate_on_text(Session& session, std::string_view text,
                                      const ScoreParams& params, KeyRule rule, double key_fraction);

}  // namespace keytok
