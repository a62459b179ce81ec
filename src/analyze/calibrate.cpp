// calibrate_on_text: quantile thresholds from one teacher-forced pass over a calibration text.
#include <vector>

#include "calibration/calibration_from_signals.hpp"
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
  auto cal = detail::calibration_from_signals(session.model(), entropies, margins, rule, key_fraction);
  if (!cal.ok()) return cal.status();
  cal->method = "text";
  return cal;
}

}  // namespace keytok
