// calibrate_on_text: quantile thresholds from one teacher-forced pass over a calibration text.
#include <vector>

#include "keytok/analysis.hpp"

namespace keytok {

Result<Calibration> calibrate_on_text(Session& session, std::string_view text,
                                      const ScoreParams& params, KeyRule rule, double key_fraction) {
  if (!(key_fraction > 0.0 && key_fraction < 1.0)) {
    return Status::invalid_argument("key fraction must be strictly between 0 and 1, e.g. 0.08");
  }
  Analyzer analyzer(session, KeyTokenDetector{});
  auto a = analyzer.score_text(text, params);
  if (!a.ok()) return a.status();
  constexpr std::size_t kMinPositions = 20;
  if (a->tokens.size() < kMinPositions) {
    return Status::invalid_argument("the calibration text has only " + std::to_string(a->tokens.size()) +
                                    " scored tokens; give at least " + std::to_string(kMinPositions) +
                                    " (a few paragraphs is better)");
  }
  std::vector<float> entropies, margins;
  entropies.reserve(a->tokens.size());
  margins.reserve(a->tokens.size());
  for (const auto& t : a->tokens) {
    entropies.push_back(t.stats.entropy);
    margins.push_back(t.stats.margin);
  }
  auto params_or = calibrate_thresholds(entropies, margins, rule, key_fraction);
  if (!params_or.ok()) return params_or.status();
  const Model& model = session.model();
  Calibration cal;
  cal.params = *params_or;
  cal.key_fraction = key_fraction;
  cal.achieved_fraction = flagged_fraction(cal.params, entropies, margins);
  cal.n_positions = entropies.size();
  cal.model_name = model.name();
  cal.n_vocab = model.n_vocab();
  cal.model_file_size = model.file_size();
  return cal;
}

}  // namespace keytok
