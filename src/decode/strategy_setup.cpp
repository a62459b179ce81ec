// From a user's strategy spec to validated StrategyParams (keytok/strategy_setup.hpp).
#include "keytok/strategy_setup.hpp"

namespace keytok {

Result<StrategyParams> strategy_params(const StrategySpec& spec, const KeyTokenDetector& detector) {
  auto p = parse_strategy(spec.spec, spec.base);
  if (!p.ok()) return p.status();
  if (!spec.combine.empty()) {
    auto combine = parse_combine_rule(spec.combine);
    if (!combine.ok()) return combine.status();
    p->combine = *combine;
  }
  if (p->kind == StrategyKind::branch || p->kind == StrategyKind::cascade) {
    p->branch.detector = detector.params();
    p->branch.detector_source = detector.source();
  }
  KEYTOK_RETURN_IF_ERROR(p->validate());
  return p;
}

Result<StrategyParams> resolve_strategy(const StrategySpec& spec, const std::shared_ptr<const Model>& model,
                                        int n_threads, const DetectorEvents& events) {
  auto p = parse_strategy(spec.spec, spec.base);
  if (!p.ok()) return p.status();
  if (p->kind != StrategyKind::branch && p->kind != StrategyKind::cascade) {
    return strategy_params(spec, KeyTokenDetector());
  }
  auto detector = resolve_detector(spec.detector, model, n_threads, events);
  if (!detector.ok()) return detector.status();
  return strategy_params(spec, *detector);
}

Result<LargeModel> open_large_model(std::shared_ptr<const Model> large, const Model& small, SessionParams params) {
  KEYTOK_RETURN_IF_ERROR(check_same_vocabulary(small, *large));
  params.n_seq_max = 1;
  auto session = Session::create(large, params);
  if (!session.ok()) return session.status();
  LargeModel out{.model = std::move(large), .session = std::move(*session)};
  out.target = std::make_unique<SessionTarget>(*out.session);
  return out;
}

AnswerExtractor answer_extractor(MatchMode match) {
  return [match](std::string_view text) { return extract_answer(match, text); };
}

}  // namespace keytok
