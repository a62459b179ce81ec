// calibration_from_signals: shared by calibrate_on_text and calibrate_on_generations.
#include "calibration/calibration_from_signals.hpp"

#include "keytok/model_identity.hpp"

namespace keytok::detail {

Result<Calibration> calibration_from_signals(const Model& model, const std::vector<float>& entropies,
                                             const std::vector<float>& margins, KeyRule rule,
                                             double key_fraction) {
  auto params = calibrate_thresholds(entropies, margins, rule, key_fraction);
  if (!params.ok()) return params.status();
  Calibration cal;
  cal.params = *params;
  cal.key_fraction = key_fraction;
  cal.achieved_fraction = flagged_fraction(cal.params, entropies, margins);
  cal.n_positions = entropies.size();
  cal.model_name = model.name();
  cal.n_vocab = model.n_vocab();
  cal.model_file_size = model.file_size();
  // The identity ties the calibration to this file; a model that cannot be hashed (unreadable
  // afterwards) still gets its thresholds, without the guard.
  if (auto id = file_sha256(model.path()); id.ok()) cal.model_sha256 = *id;
  return cal;
}

}  // namespace keytok::detail
