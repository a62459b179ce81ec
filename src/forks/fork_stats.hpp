// Internal to src/forks: the weighted ROC pass that weighted_auroc and the summary's bootstrap
// share. The summary sorts each signal once and reweights per bootstrap replicate, so the pass
// takes items already in score order.
#pragma once

#include <span>

namespace keytok::detail {

/// One scored item. weight <= 0 counts as left out.
struct ScoredItem {
  double score = 0.0;  // not NaN
  bool label = false;
  double weight = 0.0;
};

/// Weighted AUROC of items sorted by ascending score (equal scores adjacent): the weighted share
/// of positive-negative pairs ordered correctly, ties one half. NaN when a class has no weight.
/// O(n).
double auroc_sorted(std::span<const ScoredItem> items);

}  // namespace keytok::detail
