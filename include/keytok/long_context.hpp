// keytok/long_context.hpp: teacher-forced perplexity of a long text under a KV policy, the
// measurement behind `keytok longctx` (docs/kv.md).
//
// The text is fed through one Session whose policy holds each branch to its budget; every
// token's log-probability is taken from the logits the model had when it reached it, so the
// increase over policy `full` is what the evicted cells were worth to the prediction.
//
//   auto toks = model->tokenize(text, true).value();
//   SessionParams sp{.kv = {.policy = KvPolicy::keytoken, .budget = 8192}};
//   LongContextResult r = measure_long_context(model, toks, sp).value();
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/model.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"

namespace keytok {

struct LongContextResult {
  KvPolicyParams kv;            // as run (budget in cells)
  std::string budget_spec;      // as the user gave it ("25%", "8192"); "" for full
  int n_tokens = 0;             // tokens scored (the first has no prediction and is not)
  double mean_nll = 0.0;        // nats per scored token
  double perplexity = 0.0;      // exp(mean_nll)
  int n_after = 0;              // scored tokens at index >= budget: those predicted from a full cache
  double perplexity_after = 0.0;  // their perplexity (0 when none)
  KvUsage usage;
  double seconds = 0.0;         // wall time of the whole run
};

/// Scores `tokens` (at least 2) under `session.kv`. For policy full the context is sized to the
/// text; otherwise n_ctx follows the budget. invalid_argument for fewer than 2 tokens;
/// context_overflow past the model's training context.
Result<LongContextResult> measure_long_context(std::shared_ptr<const Model> model,
                                               std::span<const token_id> tokens, SessionParams session);

/// Results file (JSON lines, format "keytok-longctx"): header with the model, the text and the
/// knobs shared by every row, then one row per (policy, budget).
std::string long_context_header_line(const std::string& model_name, const std::string& text_file,
                                     int n_tokens, const KvPolicyParams& knobs);
std::string long_context_row_line(const LongContextResult& r);
/// The rows of an existing file for --resume, as (policy name, budget spec) pairs with their
/// perplexity. invalid_argument naming the setting when the header differs from what
/// long_context_header_line would write now; format_error naming file:line for a malformed row.
struct LongContextRow {
  std::string policy;
  std::string budget_spec;
  double perplexity = 0.0;
  double perplexity_after = 0.0;
  int n_after = 0;
};
Result<std::vector<LongContextRow>> load_long_context_results(const std::string& path,
                                                              std::string_view expected_header_line);

}  // namespace keytok
