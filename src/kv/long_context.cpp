// Long-text perplexity under a KV policy, and its results file.
#include "keytok/long_context.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "keytok/token_stats.hpp"
#include "kv/kv_usage_json.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace {

constexpr detail::JsonlFormat kLongContextFormat{"keytok-longctx", 1, "longctx results file",
                                                 "pass the file keytok longctx wrote, or another -o", false,
                                                 detail::CutOffLine::drop};

}  // namespace

Result<LongContextResult> measure_long_context(std::shared_ptr<const Model> model,
                                               std::span<const token_id> tokens, SessionParams session) {
  if (tokens.size() < 2) return Status::invalid_argument("the text has fewer than 2 tokens; nothing to predict");
  if (!session.kv.evicts()) session.n_ctx = static_cast<int>(tokens.size());
  const auto t0 = std::chrono::steady_clock::now();
  auto s = Session::create(model, session);
  if (!s.ok()) return s.status();
  auto branch = (*s)->open();
  if (!branch.ok()) return branch.status();
  LongContextResult r;
  r.kv = session.kv;
  double sum = 0.0, sum_after = 0.0;
  const std::size_t after_from = session.kv.evicts() ? static_cast<std::size_t>(session.kv.budget) : tokens.size();
  // Token i's logits predict token i + 1; the last token's prediction has nothing to score.
  KEYTOK_RETURN_IF_ERROR((*s)->feed(*branch, tokens.first(tokens.size() - 1),
                                    [&](std::size_t i, std::span<const float> logits) {
                                      const double nll = -compute_token_stats(logits, tokens[i + 1], 0).logprob;
                                      sum += nll;
                                      if (i + 1 >= after_from) {
                                        sum_after += nll;
                                        ++r.n_after;
                                      }
                                    }));
  r.n_tokens = static_cast<int>(tokens.size()) - 1;
  r.mean_nll = sum / r.n_tokens;
  r.perplexity = std::exp(r.mean_nll);
  r.perplexity_after = r.n_after > 0 ? std::exp(sum_after / r.n_after) : 0.0;
  r.usage = (*s)->kv_usage();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string long_context_header_line(const std::string& model_name, const std::string& text_file,
                                     int n_tokens, const KvPolicyParams& k) {
  return detail::header_line(kLongContextFormat,
                             {{"model", model_name},
                              {"text", text_file},
                              {"n_tokens", n_tokens},
                              {"settings", {{"sinks", k.sinks}, {"window", k.window}, {"step", k.evict_step},
                                            {"importance", kv_importance_name(k.importance)},
                                            {"max_unit", k.max_unit}, {"seed", k.seed}}}});
}

std::string long_context_row_line(const LongContextResult& r) {
  nlohmann::ordered_json j = {{"policy", kv_policy_name(r.kv.policy)},
                              {"budget", r.budget_spec},
                              {"budget_cells", r.kv.evicts() ? r.kv.budget : 0},
                              {"window_cells", r.kv.evicts() ? r.kv.protected_tail() : 0},
                              {"step_cells", r.kv.evicts() ? r.kv.step() : 0},
                              {"n_tokens", r.n_tokens},
                              {"mean_nll", r.mean_nll},
                              {"perplexity", r.perplexity},
                              {"n_after", r.n_after},
                              {"perplexity_after", r.perplexity_after}};
  // The usage's figures beside them; the row's policy and budget (as given) stay.
  const nlohmann::ordered_json usage = detail::kv_usage_to_json(r.usage);  // items() does not own it
  for (const auto& [key, value] : usage.items()) {
    if (key != "policy" && key != "budget") j[key] = value;
  }
  j["seconds"] = r.seconds;
  return detail::dump_line(j);
}

Result<std::vector<LongContextRow>> load_long_context_results(const std::string& path,
                                                              std::string_view expected_header_line) {
  auto text = detail::read_text_file(path, kLongContextFormat.what, kLongContextFormat.hint);
  if (!text.ok()) return text.status();
  auto doc = detail::parse_jsonl(*text, path, kLongContextFormat);
  if (!doc.ok()) return doc.status();
  const nlohmann::json want = nlohmann::json::parse(expected_header_line);
  if (doc->header != want) {
    std::string which = detail::first_differing_member(want, doc->header);
    const nlohmann::json* have = &doc->header;
    const nlohmann::json* now = &want;
    std::string prefix;
    if (which == "settings" && have->contains("settings") && (*have)["settings"].is_object()) {
      // Name the knob, not the whole settings object.
      have = &(*have)["settings"];
      now = &want["settings"];
      which = detail::first_differing_member(*now, *have);
      prefix = "settings.";
    }
    return Status::invalid_argument(fmt::format(
        "{} was started with other settings ({}{} is {} in the file, {} now); resume with the same text "
        "and flags, or -o a new file",
        path, prefix, which, detail::member_text(*have, which), detail::member_text(*now, which)));
  }
  std::vector<LongContextRow> rows;
  for (const auto& [line, j] : doc->rows) {
    try {
      rows.push_back({.policy = j.at("policy").get<std::string>(),
                      .budget_spec = j.at("budget").get<std::string>(),
                      .perplexity = j.at("perplexity").get<double>(),
                      .perplexity_after = j.value("perplexity_after", 0.0),
                      .n_after = j.value("n_after", 0)});
    } catch (const nlohmann::json::exception& e) {
      return detail::line_error(path, line, fmt::format("not a longctx row ({})", e.what()));
    }
  }
  return rows;
}

}  // namespace keytok
