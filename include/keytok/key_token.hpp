// keytok/key_token.hpp: deciding which positions are key tokens, and calibrating that decision.
//
// The paper (Arbuzov et al., "Beyond Exponential Decay", arXiv 2505.24187) locates errors at sparse
// key tokens where the text forks. keytok flags a position as key by a rule over its
// TokenStats: high entropy (many plausible continuations), a small top-1/top-2 margin (two close
// options), both, or either.
//
// Thresholds are absolute, or calibrated per model: on a calibration text, the threshold is the
// quantile of the signal that flags a requested fraction of positions ("the most uncertain 8%").
// The calibration is saved as a small versioned JSON file and loaded again.
//
// Default rule, used when no calibration is given: entropy >= 2.0 nats. The value is EAGer's
// branching threshold (theta ~ 2.0 nats, arXiv 2510.11170); it is not tuned on keytok's tests.
// Outputs always say which rule was used and where it came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "keytok/status.hpp"
#include "keytok/token_stats.hpp"

namespace keytok {

/// Which signals decide. Persisted by name ("entropy", "margin", "both", "either").
enum class KeyRule { entropy, margin, both, either };

const char* key_rule_name(KeyRule rule);
/// Parses a rule name; invalid_argument lists the valid names.
Result<KeyRule> parse_key_rule(const std::string& name);

/// Detector thresholds.
struct KeyTokenParams {
  KeyRule rule = KeyRule::entropy;
  float entropy_threshold_nats = 2.0f;  // key when entropy >= this (rules entropy/both/either)
  float margin_threshold = 0.10f;       // key when top1 - top2 prob <= this (rules margin/both/either)

  /// invalid_argument for a negative entropy threshold or a margin outside [0, 1].
  Status validate() const;
};

/// Flags key positions. Immutable and thread-safe.
class KeyTokenDetector {
 public:
  explicit KeyTokenDetector(KeyTokenParams params = {}, std::string source = "default rule");

  bool is_key(float entropy_nats, float margin) const;
  bool is_key(const TokenStats& st) const { return is_key(st.entropy, st.margin); }

  const KeyTokenParams& params() const { return params_; }
  /// Where the thresholds came from: "default rule" or "calibration FILE".
  const std::string& source() const { return source_; }
  /// Human-readable rule, e.g. "entropy >= 2.000 nats".
  std::string describe() const;

 private:
  KeyTokenParams params_;
  std::string source_;
};

/// A per-model calibration, as saved on disk (JSON, format "keytok-calibration", version 1).
struct Calibration {
  static constexpr int kVersion = 1;
  KeyTokenParams params;            // the calibrated thresholds
  double key_fraction = 0.0;        // requested fraction of positions flagged, in (0, 1)
  double achieved_fraction = 0.0;   // fraction the thresholds flag on the calibration positions
  std::size_t n_positions = 0;      // positions scored
  std::string model_name;           // Model::name() at calibration time
  int n_vocab = 0;                  // guards against loading it for another vocabulary
  std::uint64_t model_file_size = 0;
  std::string model_sha256;         // the model file's identity (file_sha256); empty when not
                                    // recorded, as in files written before it existed
  std::string method = "text";      // "text": teacher-forced on a given text; "generate": the
                                    // model's own answers to prompts (calibrate_on_generations)
  std::string text_source;          // what it was computed on: the text's path, the prompt
                                    // file's path, or builtin_prompt_set_id()
  int n_prompts = 0;                // generate: prompts answered
  int n_predict = 0;                // generate: tokens per answer at most
};
/// Sets thresholds so that `rule` flags `key_fraction` of the given positions.
/// entropy: threshold between the (1-q) quantile neighbours; margin: between the q quantile
/// neighbours; both/either: one common quantile level for the two signals, found by bisection so
/// the combined rule flags the fraction. entropies and margins have equal, non-zero length.
/// invalid_argument for q outside (0, 1) or empty input.
Result<KeyTokenParams> calibrate_thresholds(std::span<const float> entropies,
                                            std::span<const float> margins, KeyRule rule,
                                            double key_fraction);

/// Fraction of positions the params flag.
double flagged_fraction(const KeyTokenParams& params, std::span<const float> entropies,
                        std::span<const float> margins);

/// Writes the calibration as JSON. io_error when the file cannot be written.
Status save_calibration(const Calibration& cal, const std::string& path);
/// Reads a calibration file. not_found, format_error (wrong format name or version, missing
/// fields; the message says to run `keytok calibrate` again).
Result<Calibration> load_calibration(const std::string& path);
/// Same as load_calibration on a file's text already in memory; `source` names it in messages
/// where the path would. format_error as load_calibration.
Result<Calibration> parse_calibration(std::string_view text, const std::string& source);

}  // namespace keytok
