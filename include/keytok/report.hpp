// keytok/report.hpp: writing an Analysis as JSONL, a summary JSON object, or an HTML heatmap.
#pragma once

#include <ostream>
#include <string>

#include "keytok/analysis.hpp"

namespace keytok {

/// A header line {"format":"keytok-tokens","version":1,"model","mode","rule","rule_source",
/// "n_prompt_tokens"}, as every keytok JSON-lines file starts, then one JSON object per analysed
/// token, one per line:
///   {"pos", "token_id", "piece", "logprob", "entropy", "varentropy", "top1_prob", "top2_prob",
///    "margin", "rank", "key", "top": [{"token_id", "piece", "prob"}, ...]}
/// Pieces that are not valid UTF-8 on their own (a split character) have the bad bytes replaced
/// by U+FFFD. Flushes per line, so a partly written file is still valid JSONL.
void write_jsonl(const Analysis& analysis, std::ostream& out);

/// One JSONL line for one record (no trailing newline), as write_jsonl writes it.
std::string token_record_json(const TokenRecord& record);

/// The summary as a JSON object: model, mode, rule, rule_source, n_tokens, n_key, key_fraction,
/// mean_entropy, mean_entropy_key, mean_logprob, perplexity, surprisal_total,
/// surprisal_share_key, n_prompt_tokens, n_windows, n_unscored, stop_reason; pretty-printed.
std::string summary_json(const Analysis& analysis, const AnalysisSummary& summary);

/// One self-contained HTML page (no external resources): the text as tokens coloured by
/// entropy, key tokens outlined, the top alternatives on hover, and the summary numbers.
void write_html(const Analysis& analysis, const AnalysisSummary& summary, std::ostream& out);

}  // namespace keytok
