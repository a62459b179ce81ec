// make_strategy: the concrete strategy for a validated StrategyParams (keytok/strategy.hpp).
// Apart from strategy_params.cpp because it links every strategy, and with them llama.cpp.
#include "decode/strategies.hpp"
#include "keytok/strategy.hpp"

namespace keytok {

Result<std::unique_ptr<Strategy>> make_strategy(const StrategyParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  switch (params.kind) {
    case StrategyKind::greedy:
    case StrategyKind::sample:
    case StrategyKind::self_consistency:
      return detail::make_parallel_strategy(params);
    case StrategyKind::branch:
      return detail::make_branch_strategy(params);
    case StrategyKind::deepconf:
      return detail::make_deepconf_strategy(params);
    case StrategyKind::cascade:
      return detail::make_cascade_strategy(params);
  }
  return Status::internal("unhandled strategy kind");
}

}  // namespace keytok
