// keytok/self_calibration.hpp: calibrating the key-token detector on the model's own answers.
//
// The detector flags positions whose entropy (or margin) passes a threshold. No fixed threshold
// transfers between models: "entropy >= 2.0 nats" flags 58% of SmolLM2-135M's tokens and almost
// none of Qwen2.5-0.5B's. Teacher-forced reference text does not fix it either, because a model
// is far less sure of another's text than of its own. So keytok generates the model's answers
// to a prompt set and sets the threshold at the quantile that flags the requested fraction of
// those tokens (the paper, arXiv 2505.24187, puts key tokens at 5-10% of a text).
//
//   auto r = calibrate_on_generations(model, builtin_calibration_prompts(), {}, 0).value();
//   KeyTokenDetector det(r.calibration.params, "self-calibration");
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "keytok/calibration_prompts.hpp"
#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/sampling.hpp"
#include "keytok/status.hpp"

namespace keytok {

/// Options of calibrate_on_generations.
struct SelfCalibrationParams {
  int n_predict = 64;          // tokens per answer at most, >= 1; answers also end at EOG
  SamplingParams sampling;     // greedy by default; with temperature > 0, prompt i draws with
                               // seed + i, so results do not depend on the batching
  KeyRule rule = KeyRule::entropy;
  double key_fraction = 0.08;  // fraction of the answers' tokens to flag, in (0, 1)
  int n_parallel = 16;         // answers decoded together, one batched decode per step, 1..64
                               // (Qwen2.5-0.5B, 2 cores: 4 -> 59 s, 8 -> 51 s, 16 -> 44 s, 32 -> 48 s
                               // for 52 answers of 64 tokens)
  bool raw = false;            // no chat template: prompts are plain continuations

  /// invalid_argument naming the field.
  Status validate() const;
};

/// The signals of one generated token.
struct CalibrationSample {
  int prompt = 0;        // index into the prompts
  int index = 0;         // token index within that answer
  float entropy = 0.0f;  // nats
  float margin = 0.0f;   // top-1 minus top-2 probability
};

/// Where a calibration run stands; passed to the progress callback after each answer.
struct CalibrationProgress {
  int prompts_done = 0;
  int prompts_total = 0;
  std::int64_t tokens = 0;  // answer tokens generated so far
  double seconds = 0.0;     // since the start
};
using CalibrationProgressFn = std::function<void(const CalibrationProgress&)>;

/// What calibrate_on_generations found.
struct SelfCalibrationResult {
  Calibration calibration;                 // method "generate"; text_source left to the caller
  std::vector<CalibrationSample> samples;  // every answer token, by prompt then index
  std::int64_t prompt_tokens = 0;          // prefilled prompt tokens, all prompts together
  double seconds = 0.0;                    // wall time
};

/// Generates each prompt's answer (through the chat template unless params.raw) and sets the
/// thresholds so that params.rule flags params.key_fraction of the answer tokens. The
/// end-of-generation step itself is not counted, as in Analyzer::generate. Runs on its own
/// Session (n_parallel sequences, context sized to fit them) with n_threads threads (0 =
/// physical cores); calls progress (optional) on the caller's thread after each answer.
/// Errors: invalid_argument (params, no prompts, a prompt that does not tokenize), and those of
/// Session::create and decoding; invalid_argument when the answers hold fewer than 20 tokens.
/// Cost: prompt prefill plus about n_prompts * n_predict / n_parallel batched decode steps.
Result<SelfCalibrationResult> calibrate_on_generations(std::shared_ptr<const Model> model,
                                                       std::span<const CalibrationPrompt> prompts,
                                                       const SelfCalibrationParams& params, int n_threads,
                                                       const CalibrationProgressFn& progress = {});

}  // namespace keytok
