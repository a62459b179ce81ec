// JSONL per token and the summary object.
#include <nlohmann/json.hpp>

#include "analyze/report_json.hpp"
#include "kv/kv_usage_json.hpp"
#include "keytok/report.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace detail {

nlohmann::ordered_json record_to_json(const TokenRecord& r) {
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < r.stats.top.size(); ++i) {
    top.push_back({{"token_id", r.stats.top[i].id},
                   {"piece", i < r.top_pieces.size() ? r.top_pieces[i] : std::string()},
                   {"prob", r.stats.top[i].prob}});
  }
  return {{"pos", r.index},          {"token_id", r.id},
          {"piece", r.piece},        {"logprob", r.stats.logprob},
          {"entropy", r.stats.entropy}, {"varentropy", r.stats.varentropy},
          {"top1_prob", r.stats.top1_prob}, {"top2_prob", r.stats.top2_prob},
          {"margin", r.stats.margin}, {"rank", r.stats.rank},
          {"key", r.key},            {"top", std::move(top)}};
}

nlohmann::ordered_json summary_to_json(const Analysis& a, const AnalysisSummary& s) {
  nlohmann::ordered_json j = {{"model", a.model_name},
          {"mode", a.mode},
          {"rule", a.rule},
          {"rule_source", a.rule_source},
          {"n_tokens", s.n_tokens},
          {"n_key", s.n_key},
          {"key_fraction", s.key_fraction},
          {"mean_entropy", s.mean_entropy},
          {"mean_entropy_key", s.mean_entropy_key},
          {"mean_logprob", s.mean_logprob},
          {"perplexity", s.perplexity},
          {"surprisal_total", s.surprisal_total},
          {"surprisal_share_key", s.surprisal_share_key},
          {"n_prompt_tokens", a.n_prompt_tokens},
          {"n_windows", a.n_windows},
          {"n_unscored", a.n_unscored},
          {"stop_reason", a.stop_reason}};
  // Only under an evicting policy, so that the summary of a plain run stays as it was.
  if (a.kv.policy != KvPolicy::full) j["kv"] = kv_usage_to_json(a.kv);
  return j;
}

std::string dump_json(const nlohmann::ordered_json& j, int indent) {
  // Token pieces can hold half a UTF-8 character; replace such bytes instead of throwing.
  return indent < 0 ? dump_line(j)
                    : j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace detail

std::string token_record_json(const TokenRecord& record) {
  return detail::dump_json(detail::record_to_json(record), -1);
}

void write_jsonl(const Analysis& analysis, std::ostream& out) {
  out << detail::header_line(detail::kTokensFormat, {{"model", analysis.model_name},
                                                     {"mode", analysis.mode},
                                                     {"rule", analysis.rule},
                                                     {"rule_source", analysis.rule_source},
                                                     {"n_prompt_tokens", analysis.n_prompt_tokens}})
      << '\n';
  for (const auto& r : analysis.tokens) out << token_record_json(r) << '\n' << std::flush;
}

std::string summary_json(const Analysis& analysis, const AnalysisSummary& summary) {
  return detail::dump_json(detail::summary_to_json(analysis, summary), 2);
}

}  // namespace keytok
