// keytok/strategy_setup.hpp: from what a user asked for (a spec such as "sc:8", the knobs, a
// key-token rule, how answers compare) to the parameters of one strategy run. The CLI
// (`generate`, `bench`) and the server (`serve`) take this one path, so a request means the same
// whichever frontend it came through.
//
//   StrategySpec s{.spec = "branch"};
//   auto params = keytok::resolve_strategy(s, model, /*n_threads=*/0).value();
//   auto strategy = keytok::make_strategy(params).value();
//   auto r = strategy->run(*session, {.prompt = "What is 17 + 25?",
//                                     .extract = keytok::answer_extractor(MatchMode::number)});
#pragma once

#include <memory>
#include <string>

#include "keytok/detector_setup.hpp"
#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/status.hpp"
#include "keytok/strategy.hpp"
#include "keytok/tasks.hpp"

namespace keytok {

/// A strategy as a user states it.
struct StrategySpec {
  std::string spec = "greedy";  // greedy, sample, sc:N, branch, deepconf:N
  StrategyParams base;          // every knob but the kind and N
  std::string combine;          // majority, weighted, best; empty = base.combine
  DetectorSpec detector;        // branch's key-token rule (keytok/detector_setup.hpp)
};

/// Parses `spec.spec` onto `spec.base`, applies `combine`, gives branch `detector`'s rule and
/// source, and validates. invalid_argument naming the spec or the bad knob.
Result<StrategyParams> strategy_params(const StrategySpec& spec, const KeyTokenDetector& detector);

/// The same, building the detector with resolve_detector (calibrating the model on first use,
/// with `n_threads`; `events` reports that) only when the strategy needs one.
Result<StrategyParams> resolve_strategy(const StrategySpec& spec, const std::shared_ptr<const Model>& model,
                                        int n_threads, const DetectorEvents& events = {});

/// A cascade's large model as a frontend holds it: the model, its Session (one sequence, the
/// small model's context size and threads) and the target for GenerateRequest::large.
struct LargeModel {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Session> session;
  std::unique_ptr<SessionTarget> target;
};

/// Checks that `large` shares `small`'s vocabulary (check_same_vocabulary) and makes its
/// Session with `params` (n_seq_max is set to 1). invalid_argument naming the first difference;
/// load_failed when llama.cpp cannot make the context.
Result<LargeModel> open_large_model(std::shared_ptr<const Model> large, const Model& small, SessionParams params);

/// The vote's answer extraction (GenerateRequest::extract) for a match mode: the trimmed text
/// (exact), the last number (number), or the text itself (contains); see extract_answer.
AnswerExtractor answer_extractor(MatchMode match);

}  // namespace keytok
