// The concrete strategies behind make_strategy, one file each.
#pragma once

#include <memory>

#include "keytok/strategy.hpp"

namespace keytok::detail {

/// greedy, sample and sc:N: N independent paths from the shared prompt, stepped together.
std::unique_ptr<Strategy> make_parallel_strategy(const StrategyParams& params);
/// branch: key-token forking.
std::unique_ptr<Strategy> make_branch_strategy(const StrategyParams& params);
/// deepconf:N: warm-up, confidence bar, early stop, weighted vote.
std::unique_ptr<Strategy> make_deepconf_strategy(const StrategyParams& params);
/// cascade: a small model decodes, a large one chooses the flagged tokens.
std::unique_ptr<Strategy> make_cascade_strategy(const StrategyParams& params);

/// Sampling params of the i-th independent path: its own seed, so paths differ but runs repeat.
SamplingParams path_sampling(const StrategyParams& params, int i);

}  // namespace keytok::detail
