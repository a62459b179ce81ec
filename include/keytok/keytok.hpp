// keytok/keytok.hpp: the whole public API in one include.
//
// keytok finds the key tokens of local LLM generation, the sparse positions where the text forks
// and errors concentrate (Arbuzov et al., "Beyond Exponential Decay", arXiv 2505.24187).
//
//   #include <keytok/keytok.hpp>
//
//   auto path = keytok::resolve_model("qwen2.5-coder-0.5b");  // or a path to any GGUF
//   auto model = keytok::Model::load({.path = path.value()});
//   if (!model.ok()) { std::puts(model.status().to_string().c_str()); return 1; }
//   auto session = keytok::Session::create(*model, {.n_ctx = 2048}).value();
//
//   // The model's key-token detector: its calibration, made on its own answers on first use.
//   auto detector = keytok::resolve_detector({}, *model, 0).value();
//
//   // Per-token uncertainty of a generation, with key-token flags.
//   keytok::Analyzer analyzer(*session, detector);
//   auto a = analyzer.generate({.prompt = "Name three primes.", .n_predict = 64}).value();
//   for (const auto& t : a.tokens)
//     if (t.key) std::printf("%s  H=%.2f nats\n", t.piece.c_str(), t.stats.entropy);
//   keytok::AnalysisSummary s = keytok::summarize(a);  // key_fraction, surprisal_share_key, ...
//
//   // Calibrate explicitly: 5% of the model's own answers to your prompts flagged.
//   auto cal = keytok::calibrate_on_generations(*model, my_prompts, {.key_fraction = 0.05}, 0);
//   keytok::KeyTokenDetector calibrated(cal->calibration.params, "my calibration");
//
//   // Branch at key tokens and vote (EAGer-style), batched over KV-cache forks.
//   auto branch = keytok::make_strategy(keytok::parse_strategy("branch").value()).value();
//   auto result = branch->run(*session, {.prompt = "Add 6 + 7."});  // paths, forks, vote, cost
//
// Errors: every fallible call returns keytok::Status or keytok::Result<T>; nothing throws.
// Threads: Model is immutable and shared; a Session is used by one thread at a time.
#pragma once

#include "keytok/analysis.hpp"
#include "keytok/build_info.hpp"
#include "keytok/calibration_prompts.hpp"
#include "keytok/detector_setup.hpp"
#include "keytok/first_error.hpp"
#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/model_identity.hpp"
#include "keytok/model_registry.hpp"
#include "keytok/reliability.hpp"
#include "keytok/report.hpp"
#include "keytok/sampling.hpp"
#include "keytok/self_calibration.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "keytok/strategy.hpp"
#include "keytok/sweep.hpp"
#include "keytok/tasks.hpp"
#include "keytok/threading.hpp"
#include "keytok/token_stats.hpp"
#include "keytok/types.hpp"
