// keytok/detector_setup.hpp: choosing the key-token detector for a model, the one path every
// frontend (CLI subcommands, later the server) takes from user options to a KeyTokenDetector.
//
// Order, first match wins:
//   1. an explicit calibration file (DetectorSpec::calibration_file);
//   2. a calibration beside the model, <model>.keytok-calibration.json (`keytok calibrate`);
//   3. threshold flags alone (entropy or margin threshold given): no calibration needed;
//   4. the automatic calibration cached for this model file, found by the file's SHA-256
//      (model_identity.hpp), so a copied or renamed model keeps it;
//   5. a new automatic calibration, when allowed: the model's own greedy answers to the
//      built-in prompt set (calibration_prompts.hpp), kAutoKeyFraction of their tokens flagged,
//      saved to the cache for next time; about 80 s for a 0.5B model on 2 cores;
//   6. the default rule, entropy >= 2.0 nats, when automatic calibration is off: then steps 4
//      and 5 are skipped, and only a calibration someone made (steps 1-2) is used. A failed
//      automatic calibration is an error, never a silent fall-back.
// Explicit rule or threshold flags then override the chosen thresholds. The detector's
// source() always says which of these it came from.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/self_calibration.hpp"
#include "keytok/status.hpp"

namespace keytok {

/// The fraction of tokens an automatic calibration flags: inside the paper's 5-10% of key
/// tokens (arXiv 2505.24187), the value keytok's earlier results used.
inline constexpr double kAutoKeyFraction = 0.08;
/// Tokens per answer of an automatic calibration (52 prompts: up to 6,656 tokens). Answers cut
/// short read as more uncertain than whole ones, since an answer's first tokens are its most
/// uncertain: on Qwen2.5-Coder-0.5B the 8% threshold is 3.04 nats at 64 tokens, 2.73 at 128, 2.05
/// for whole answers up to 256 (docs/results/calibration.md). 128 covers most of a typical answer
/// at half the cost of whole ones.
inline constexpr int kAutoTokensPerAnswer = 128;

/// What the user asked for. Defaults: no file, no overrides, automatic calibration on.
struct DetectorSpec {
  std::string calibration_file;           // explicit calibration; empty = look for one
  std::string rule;                       // "entropy", "margin", "both", "either"; empty = as chosen
  float entropy_threshold_nats = -1.0f;   // < 0: not given
  float margin_threshold = -1.0f;         // < 0: not given
  bool auto_calibrate = true;             // steps 4-5 above; false: no automatic calibration,
                                          // neither made nor read from the cache
};

/// Notices for a frontend while a detector is set up; both optional, called on the caller's
/// thread. notice gets whole sentences (what is happening, how long, how to skip it).
struct DetectorEvents {
  std::function<void(const std::string&)> notice;
  CalibrationProgressFn progress;
};

/// Builds the detector for `model` as described above. n_threads is used by an automatic
/// calibration (0 = physical cores). Errors: a calibration file that is missing, malformed, or
/// made for another vocabulary or another model file (format_error / invalid_argument, with what
/// to do); failures of an automatic calibration.
Result<KeyTokenDetector> resolve_detector(const DetectorSpec& spec, const std::shared_ptr<const Model>& model,
                                          int n_threads, const DetectorEvents& events = {});

/// `<model path>.keytok-calibration.json`: where `keytok calibrate` writes by default.
std::string sidecar_calibration_path(const std::string& model_path);

/// Where the automatic calibration of a model file with this SHA-256 is cached:
/// `cache_dir()/calibrations/<sha256>.<builtin_prompt_set_id()>.json`.
std::string auto_calibration_path(const std::string& model_sha256);

/// The calibration `model` would use without flags (step 2, and step 4 when `automatic`), and its
/// path; nullopt when there is none yet. Does not calibrate. Errors as resolve_detector's for a
/// bad file.
struct FoundCalibration {
  Calibration calibration;
  std::string path;
  bool automatic = false;  // from the cache (step 4) rather than beside the model
};
Result<std::optional<FoundCalibration>> find_calibration(const Model& model, bool automatic = true);

}  // namespace keytok
