// Flags shared by `generate` and `bench`: the strategy knobs. Defaults come from
// keytok::StrategyParams, so the CLI and the library cannot drift.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "keytok/strategy.hpp"
#include "keytok/strategy_setup.hpp"

namespace keytok::cli {

struct StrategyOptions {
  StrategyParams base;        // every knob but the kind and N
  DetectorSpec detector;   // branch's key-token rule
  std::string combine = combine_rule_name(StrategyParams{}.combine);
  std::string big_model;   // cascade's large model: a path or a known model's name
};

/// --budget, --max-tokens, sampling, --combine, branch and deepconf knobs, detector flags.
void add_strategy_options(CLI::App* cmd, StrategyOptions& opts);

/// keytok::resolve_strategy on the flags, telling the user on stderr when the model is
/// calibrated for branch on first use (with a progress bar).
Result<StrategyParams> resolve_strategy(const StrategyOptions& opts, const std::string& spec,
                                        const std::shared_ptr<const Model>& model, const SessionParams& session);

/// cascade's large model when one of `strategies` is cascade: loaded from --big-model, its
/// vocabulary checked against `small`, its Session sized like `session`. nullopt when no
/// strategy is cascade. invalid_argument when cascade has no --big-model, or --big-model is
/// given without cascade.
Result<std::optional<LargeModel>> open_big_model(const StrategyOptions& opts, const std::vector<StrategyParams>& strategies,
                                                 const Model& small, const ModelOptions& model_opts);

/// Splits "greedy,sc:8" at commas; empty items are an error.
Result<std::vector<std::string>> split_strategies(const std::string& list);

}  // namespace keytok::cli
