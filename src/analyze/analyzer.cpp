// Analyzer: teacher-forced scoring (with context windows) and analysed generation.
#include "keytok/analysis.hpp"

#include <algorithm>
#include <cmath>

#include "util/utf8.hpp"

namespace keytok {

namespace {

Analysis start_analysis(const Session& session, const KeyTokenDetector& det, std::string mode,
                        std::string prompt) {
  Analysis a;
  a.model_name = session.model().name();
  a.mode = std::move(mode);
  a.prompt = std::move(prompt);
  a.rule = det.describe();
  a.rule_source = det.source();
  return a;
}

TokenRecord make_record(const Model& model, const KeyTokenDetector& det, int index, token_id id,
                        std::span<const float> logits, int top_k) {
  TokenRecord r;
  r.index = index;
  r.id = id;
  r.piece = model.token_piece(id);
  r.stats = compute_token_stats(logits, id, top_k);
  r.key = det.is_key(r.stats);
  r.top_pieces.reserve(r.stats.top.size());
  for (const auto& alt : r.stats.top) r.top_pieces.push_back(model.token_piece(alt.id));
  return r;
}

}  // namespace

AnalysisSummary summarize(const Analysis& a) {
  AnalysisSummary s;
  s.n_tokens = static_cast<int>(a.tokens.size());
  double entropy = 0.0, entropy_key = 0.0, surprisal_key = 0.0;
  for (const auto& t : a.tokens) {
    entropy += t.stats.entropy;
    s.surprisal_total += -static_cast<double>(t.stats.logprob);
    if (t.key) {
      ++s.n_key;
      entropy_key += t.stats.entropy;
      surprisal_key += -static_cast<double>(t.stats.logprob);
    }
  }
  if (s.n_tokens > 0) {
    s.key_fraction = static_cast<double>(s.n_key) / s.n_tokens;
    s.mean_entropy = entropy / s.n_tokens;
    s.mean_logprob = -s.surprisal_total / s.n_tokens;
    s.perplexity = std::exp(-s.mean_logprob);
  }
  if (s.n_key > 0) s.mean_entropy_key = entropy_key / s.n_key;
  if (s.surprisal_total > 0.0) s.surprisal_share_key = surprisal_key / s.surprisal_total;
  return s;
}

Analyzer::Analyzer(Session& session, KeyTokenDetector detector)
    : session_(session), detector_(std::move(detector)) {}

Result<Analysis> Analyzer::score_text(std::string_view text, const ScoreParams& params) {
  if (text.empty()) return Status::invalid_argument("the text is empty; give a file with some text");
  const Model& model = session_.model();
  std::vector<token_id> prefix;
  if (!params.prompt.empty()) {
    auto p = model.encode_prompt(params.prompt, params.raw);
    if (!p.ok()) return p.status();
    prefix = std::move(*p);
  } else if (model.adds_bos() && model.bos() >= 0) {
    prefix.push_back(model.bos());
  }
  auto toks = model.tokenize(text, /*add_special=*/false);
  if (!toks.ok()) return toks.status();
  const std::vector<token_id>& t = *toks;
  if (t.empty()) return Status::invalid_argument("the text has no tokens");

  Analysis a = start_analysis(session_, detector_, "text", params.prompt);
  a.text = std::string(text);
  a.n_prompt_tokens = static_cast<int>(prefix.size());
  // Without any context the first token has no prediction.
  const std::size_t first = prefix.empty() ? 1 : 0;
  a.n_unscored = static_cast<int>(first);
  // Positions, not cells: with an evicting KV policy the session keeps its budget of cells by
  // itself while the text runs on, so one window holds it all.
  const auto n_ctx = static_cast<std::size_t>(session_.max_positions());
  const std::size_t total = prefix.size() + t.size();
  if (total > n_ctx && !params.allow_windows) {
    return Status::context_overflow("the prompt and text are " + std::to_string(total) +
                                    " tokens but the context holds " + std::to_string(n_ctx) +
                                    "; raise it with --ctx or allow windows");
  }
  const std::size_t overlap =
      params.window_overlap >= 0 ? static_cast<std::size_t>(params.window_overlap) : n_ctx / 4;
  // Each window feeds prefix + `overlap` tokens of earlier text + new tokens to score.
  if (total > n_ctx && prefix.size() + overlap + 1 > n_ctx) {
    return Status::context_overflow("the prompt (" + std::to_string(prefix.size()) +
                                    " tokens) plus the window overlap (" + std::to_string(overlap) +
                                    ") leave no room in a context of " + std::to_string(n_ctx) +
                                    "; raise --ctx or lower --window-overlap");
  }
  const std::size_t stride = total <= n_ctx ? t.size() : n_ctx - prefix.size() - overlap;
  session_.reset();
  session_.reset_counters();
  a.n_windows = 0;
  a.tokens.reserve(t.size());
  std::vector<token_id> window;
  for (std::size_t begin = first; begin < t.size(); begin += stride) {
    // Score t[begin, end); context t[ctx_begin, begin) precedes them.
    const std::size_t end = std::min(t.size(), begin + stride);
    const std::size_t ctx_begin = begin == first ? 0 : begin - std::min(begin, overlap);
    window.assign(prefix.begin(), prefix.end());
    window.insert(window.end(), t.begin() + static_cast<std::ptrdiff_t>(ctx_begin),
                  t.begin() + static_cast<std::ptrdiff_t>(end));
    // Window index w predicts window[w + 1]; text token i sits at prefix.size() + i - ctx_begin.
    const std::size_t first_pred = prefix.size() + begin - ctx_begin - 1;
    session_.reset();
    auto branch = session_.open();
    if (!branch.ok()) return branch.status();
    const std::span<const token_id> feed_tokens(window.data(), window.size() - 1);
    KEYTOK_RETURN_IF_ERROR(session_.feed(*branch, feed_tokens, [&](std::size_t w, std::span<const float> l) {
      if (w < first_pred) return;
      a.tokens.push_back(make_record(model, detector_, static_cast<int>(a.tokens.size()),
                                     window[w + 1], l, params.top_k));
    }));
    ++a.n_windows;
  }
  a.kv = session_.kv_usage();
  session_.reset();
  return a;
}

Result<Analysis> Analyzer::generate(const GenerateParams& params,
                                    const std::function<void(const TokenRecord&)>& on_token) {
  if (params.prompt.empty()) return Status::invalid_argument("the prompt is empty; pass -p TEXT");
  if (params.n_predict < 1) return Status::invalid_argument("the number of tokens to generate must be >= 1");
  auto sampler = Sampler::create(params.sampling);
  if (!sampler.ok()) return sampler.status();
  const Model& model = session_.model();
  auto prompt = model.encode_prompt(params.prompt, params.raw);
  if (!prompt.ok()) return prompt.status();

  Analysis a = start_analysis(session_, detector_, "generate", params.prompt);
  a.n_prompt_tokens = static_cast<int>(prompt->size());
  session_.reset();
  session_.reset_counters();
  auto branch = session_.open();
  if (!branch.ok()) return branch.status();
  KEYTOK_RETURN_IF_ERROR(session_.feed(*branch, *prompt));
  a.stop_reason = "length";
  a.tokens.reserve(static_cast<std::size_t>(params.n_predict));
  for (int i = 0; i < params.n_predict; ++i) {
    const std::span<const float> logits = session_.logits(*branch);
    const token_id next = sampler->sample(logits);
    if (model.is_eog(next)) {
      a.stop_reason = "eog";
      a.eog = make_record(model, detector_, i, next, logits, params.top_k);
      break;
    }
    TokenRecord r = make_record(model, detector_, i, next, logits, params.top_k);
    a.text += r.piece;
    if (on_token) on_token(r);
    a.tokens.push_back(std::move(r));
    if (i + 1 == params.n_predict) break;  // the last token needs no decode
    const Status st = session_.step(std::span(&*branch, 1), std::span(&next, 1));
    if (st.code() == StatusCode::context_overflow) {
      a.stop_reason = "context";
      break;
    }
    KEYTOK_RETURN_IF_ERROR(st);
  }
  a.kv = session_.kv_usage();
  session_.reset();
  return a;
}

}  // namespace keytok
