// The concrete strategies behind make_strategy, one file each.
#pragma once

#include <memory>

#include "decode/decode_target.hpp"
#include "keytok/strategy.hpp"

namespace keytok::detail {

/// A strategy that runs on any DecodeTarget: a Session in use, a scripted one in tests.
class TargetStrategy : public Strategy {
 public:
  Result<GenerationResult> run(Session& session, const GenerateRequest& request) const final {
    SessionTarget target(session);
    return run_on(target, request);
  }
  /// Strategy::run's contract, on `target`.
  virtual Result<GenerationResult> run_on(DecodeTarget& target, const GenerateRequest& request) const = 0;
};

/// greedy, sample and sc:N: N independent paths from the shared prompt, stepped together.
std::unique_ptr<TargetStrategy> make_parallel_strategy(const StrategyParams& params);
/// branch: key-token forking.
std::unique_ptr<TargetStrategy> make_branch_strategy(const StrategyParams& params);
/// deepconf:N: warm-up, confidence bar, early stop, weighted vote.
std::unique_ptr<TargetStrategy> make_deepconf_strategy(const StrategyParams& params);

/// make_strategy's factory, keeping the DecodeTarget entry point (for tests).
Result<std::unique_ptr<TargetStrategy>> make_target_strategy(const StrategyParams& params);

/// Sampling params of the i-th independent path: its own seed, so paths differ but runs repeat.
SamplingParams path_sampling(const StrategyParams& params, int i);

}  // namespace keytok::detail
