// The step every calibration ends with, whatever it scored: thresholds at the quantile of the
// collected signals, and a Calibration describing the model they belong to.
#pragma once

#include <vector>

#include "keytok/key_token.hpp"
#include "keytok/model.hpp"

namespace keytok::detail {

/// Sets thresholds so that `rule` flags `key_fraction` of the positions and fills the model
/// fields (name, vocabulary, file size, and the file's sha256 when it can be read). method,
/// text_source, n_prompts and n_predict are left to the caller. entropies and margins:
/// (n_positions), n_positions > 0. Errors of calibrate_thresholds.
Result<Calibration> calibration_from_signals(const Model& model, const std::vector<float>& entropies,
                                             const std::vector<float>& margins, KeyRule rule,
                                             double key_fraction);

}  // namespace keytok::detail
