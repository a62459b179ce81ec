// Analyzer and Session on real GGUF models (label `model`).
#include <llama.h>

#include <cmath>
#include <string>
#include <vector>

#include "keytok/analysis.hpp"
#include "model/test_models.hpp"

namespace keytok::testing {
namespace {

constexpr char kText[] =
    "The capital of France is Paris. It lies on the river Seine, and about two million people "
    "live in the city itself. Its best-known landmark, the Eiffel Tower, was finished in 1889.";

SessionParams small_session(int n_ctx = 1024, int n_seq_max = 1) {
  return {.n_ctx = n_ctx, .n_batch = 512, .n_seq_max = n_seq_max, .n_threads = 0};
}

using AnalyzeModel = ModelTest;

// The stop rules of Analyzer::generate (src/analyze/analyzer.cpp), tied to what was generated:
// "length" iff all n_predict tokens were recorded; "eog" iff fewer, and the next sampled token
// is end-of-generation (kept in `eog`, never in `tokens`); "context" iff fewer, and the next
// token had no position left: prompt + recorded tokens = n_ctx + 1, because the last recorded
// token is sampled from the previous position's logits but never decoded.
void expect_stop_reason_fits(const Analysis& g, int n_predict, int n_ctx, const Model& model) {
  const int n = static_cast<int>(g.tokens.size());
  for (const TokenRecord& t : g.tokens) EXPECT_FALSE(model.is_eog(t.id)) << "at " << t.index;
  if (g.stop_reason == "length") {
    EXPECT_EQ(n, n_predict);
    EXPECT_FALSE(g.eog.has_value());
    EXPECT_LE(g.n_prompt_tokens + n, n_ctx + 1);
  } else if (g.stop_reason == "eog") {
    EXPECT_LT(n, n_predict);
    ASSERT_TRUE(g.eog.has_value());
    EXPECT_TRUE(model.is_eog(g.eog->id));
    EXPECT_EQ(g.eog->index, n);
    EXPECT_LE(g.n_prompt_tokens + n, n_ctx);
  } else if (g.stop_reason == "context") {
    EXPECT_LT(n, n_predict);
    EXPECT_FALSE(g.eog.has_value());
    EXPECT_EQ(g.n_prompt_tokens + n, n_ctx + 1);
  } else {
    ADD_FAILURE() << "unknown stop reason '" << g.stop_reason << "'";
  }
}

TEST_P(AnalyzeModel, IsDeterministicRunToRun) {
  auto session = Session::create(model_, small_session()).value();
  Analyzer analyzer(*session, KeyTokenDetector{});
  auto a = analyzer.score_text(kText, {}).value();
  auto b = analyzer.score_text(kText, {}).value();
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  ASSERT_GT(a.tokens.size(), 20u);
  for (std::size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].id, b.tokens[i].id);
    EXPECT_EQ(a.tokens[i].stats.logprob, b.tokens[i].stats.logprob) << i;
    EXPECT_EQ(a.tokens[i].stats.entropy, b.tokens[i].stats.entropy) << i;
    EXPECT_EQ(a.tokens[i].key, b.tokens[i].key) << i;
  }
  const GenerateParams gp{.prompt = "Name three colours.", .n_predict = 24};
  auto g1 = analyzer.generate(gp).value();
  auto g2 = analyzer.generate(gp).value();
  EXPECT_EQ(g1.text, g2.text);
  ASSERT_EQ(g1.tokens.size(), g2.tokens.size());
  for (std::size_t i = 0; i < g1.tokens.size(); ++i) {
    EXPECT_EQ(g1.tokens[i].stats.entropy, g2.tokens[i].stats.entropy);
  }
}

// The reference: a plain llama.cpp loop written here, independent of keytok's Session.
std::vector<double> reference_logprobs(const std::string& path, const std::vector<llama_token>& tokens,
                                       int n_threads) {
  llama_model_params mp = llama_model_default_params();
  llama_model* m = llama_model_load_from_file(path.c_str(), mp);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 1024;
  cp.n_batch = cp.n_ubatch = 512;
  cp.n_threads = cp.n_threads_batch = n_threads;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.kv_unified = true;
  cp.swa_full = true;
  llama_context* ctx = llama_init_from_model(m, cp);
  llama_batch batch = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(tokens.size());
  EXPECT_EQ(llama_decode(ctx, batch), 0);
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
  std::vector<double> out;
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    const float* l = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    double mx = l[0];
    for (int v = 1; v < n_vocab; ++v) mx = std::max(mx, static_cast<double>(l[v]));
    double z = 0;
    for (int v = 0; v < n_vocab; ++v) z += std::exp(l[v] - mx);
    out.push_back(l[tokens[i + 1]] - mx - std::log(z));
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(m);
  return out;
}

TEST_P(AnalyzeModel, TeacherForcedLogprobsMatchPlainLlamaLoop) {
  auto session = Session::create(model_, small_session()).value();
  Analyzer analyzer(*session, KeyTokenDetector{});
  auto a = analyzer.score_text(kText, {}).value();

  std::vector<llama_token> tokens;
  if (model_->adds_bos()) tokens.push_back(model_->bos());
  for (token_id t : model_->tokenize(kText, false).value()) tokens.push_back(t);
  const auto ref = reference_logprobs(model_path(GetParam()), tokens, session->n_threads());
  // ref[i] scores tokens[i + 1]: with BOS that is every text token; without, the first text
  // token has no prediction and keytok leaves it unscored too.
  ASSERT_EQ(a.tokens.size(), ref.size());
  EXPECT_EQ(a.n_unscored, model_->adds_bos() ? 0 : 1);
  for (std::size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].id, tokens[i + 1]);
    EXPECT_NEAR(a.tokens[i].stats.logprob, ref[i], 1e-4) << "token " << i;
  }
}

TEST_P(AnalyzeModel, CalibratedFractionMatchesRequestedQuantile) {
  const std::string text = read_test_data("calibration.txt");
  ASSERT_FALSE(text.empty());
  auto session = Session::create(model_, small_session(2048)).value();
  // End to end once: calibrate on the text, analyze it again with the calibrated detector.
  auto cal = calibrate_on_text(*session, text, {}, KeyRule::entropy, 0.08);
  ASSERT_TRUE(cal.ok()) << cal.status().to_string();
  EXPECT_GT(cal->n_positions, 300u);
  Analyzer analyzer(*session, KeyTokenDetector(cal->params, "calibration"));
  const Analysis a = analyzer.score_text(text, {}).value();
  const AnalysisSummary s = summarize(a);
  EXPECT_NEAR(s.key_fraction, 0.08, 0.01);
  EXPECT_NEAR(cal->achieved_fraction, s.key_fraction, 1e-12);
  // Every rule and several fractions on the same real signals (each analysis pass is seconds).
  std::vector<float> e, m;
  for (const auto& t : a.tokens) e.push_back(t.stats.entropy), m.push_back(t.stats.margin);
  for (KeyRule rule : {KeyRule::entropy, KeyRule::margin, KeyRule::both, KeyRule::either}) {
    for (double q : {0.05, 0.08, 0.15}) {
      auto p = calibrate_thresholds(e, m, rule, q);
      ASSERT_TRUE(p.ok());
      EXPECT_NEAR(flagged_fraction(*p, e, m), q, 0.01) << key_rule_name(rule) << " q=" << q;
    }
  }
}

TEST_P(AnalyzeModel, LongTextIsScoredInWindowsOnce) {
  const std::string text = read_test_data("calibration.txt");
  auto full_session = Session::create(model_, small_session(2048)).value();
  auto full = Analyzer(*full_session, KeyTokenDetector{}).score_text(text, {}).value();
  EXPECT_EQ(full.n_windows, 1);

  auto small = Session::create(model_, small_session(256)).value();
  Analyzer analyzer(*small, KeyTokenDetector{});
  auto windowed = analyzer.score_text(text, {.window_overlap = 64}).value();
  EXPECT_GT(windowed.n_windows, 2);
  ASSERT_EQ(windowed.tokens.size(), full.tokens.size());
  for (std::size_t i = 0; i < full.tokens.size(); ++i) {
    EXPECT_EQ(windowed.tokens[i].id, full.tokens[i].id);
    EXPECT_EQ(windowed.tokens[i].index, static_cast<int>(i));
  }
  // The first window sees the same context as the full pass.
  EXPECT_NEAR(windowed.tokens[50].stats.logprob, full.tokens[50].stats.logprob, 1e-3);

  auto refused = analyzer.score_text(text, {.allow_windows = false});
  EXPECT_EQ(refused.status().code(), StatusCode::context_overflow);
  EXPECT_NE(refused.status().message().find("--ctx"), std::string::npos);
}

TEST_P(AnalyzeModel, GenerationRecordsTheGreedyChoice) {
  auto session = Session::create(model_, small_session()).value();
  Analyzer analyzer(*session, KeyTokenDetector{});
  int seen = 0;
  auto g = analyzer.generate({.prompt = "Count from one to ten in words.", .n_predict = 16},
                             [&](const TokenRecord&) { ++seen; }).value();
  ASSERT_FALSE(g.tokens.empty());
  EXPECT_LE(g.tokens.size(), 16u);
  EXPECT_EQ(seen, static_cast<int>(g.tokens.size()));
  std::string text;
  for (const auto& t : g.tokens) {
    EXPECT_EQ(t.stats.rank, 0);  // greedy picks the argmax
    EXPECT_EQ(t.stats.token, t.id);
    EXPECT_EQ(t.stats.top1, t.id);
    EXPECT_LE(t.stats.logprob, 0.0f);
    text += t.piece;
  }
  EXPECT_EQ(text, g.text);
  expect_stop_reason_fits(g, 16, session->n_ctx(), *model_);
  EXPECT_EQ(session->live_branches(), 0);
}

// Each way generation ends, on a run that must end that way (greedy, so each run is fixed).
// A raw run of "a a a ..." continues with " a", never with end-of-generation.
TEST_P(AnalyzeModel, StopReasonSaysHowGenerationEnded) {
  auto session = Session::create(model_, small_session(256)).value();
  Analyzer analyzer(*session, KeyTokenDetector{});
  const int n_ctx = session->n_ctx();
  auto length = analyzer.generate({.prompt = "a a a a a a a a", .n_predict = 4, .raw = true}).value();
  EXPECT_EQ(length.stop_reason, "length") << length.text;
  expect_stop_reason_fits(length, 4, n_ctx, *model_);

  // A prompt that leaves 6 positions free: the 7th generated token finds no room.
  auto a_run = [](int n) {
    std::string text = "a";
    for (int i = 1; i < n; ++i) text += " a";
    return text;
  };
  int lo = 1, hi = n_ctx;  // the longest run whose prompt takes at most n_ctx - 6 tokens
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (model_->encode_prompt(a_run(mid), true).value().size() <= static_cast<std::size_t>(n_ctx - 6)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const std::string filler = a_run(lo);
  auto context = analyzer.generate({.prompt = filler, .n_predict = 64, .raw = true}).value();
  EXPECT_EQ(context.stop_reason, "context") << context.text;
  EXPECT_EQ(context.n_prompt_tokens, n_ctx - 6);
  EXPECT_EQ(context.tokens.size(), 7u);
  expect_stop_reason_fits(context, 64, n_ctx, *model_);

  // Only an instruction model (one with a chat template) ends its answer; Gemma 3 270M here is
  // the base model and never does.
  if (!model_->has_chat_template()) return;
  auto eog = analyzer.generate({.prompt = "What is 2 + 2?", .n_predict = 32}).value();
  EXPECT_EQ(eog.stop_reason, "eog") << eog.text;
  expect_stop_reason_fits(eog, 32, n_ctx, *model_);
}

TEST_P(AnalyzeModel, ForkSharesHistoryAndCloseFreesCells) {
  auto session = Session::create(model_, small_session(1024, 4)).value();
  auto prompt = model_->encode_prompt("Say hello.", false).value();
  Branch a = session->open().value();
  ASSERT_TRUE(session->feed(a, prompt).ok());
  Branch b = session->fork(a).value();
  EXPECT_EQ(session->n_past(b), session->n_past(a));
  const token_id next = argmax(session->logits(a));
  const std::vector<Branch> both = {a, b};
  const std::vector<token_id> toks = {next, next};
  ASSERT_TRUE(session->step(both, toks).ok());
  auto la = session->logits(a), lb = session->logits(b);
  ASSERT_EQ(la.size(), lb.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < la.size(); ++i) max_diff = std::max(max_diff, std::abs(double(la[i]) - lb[i]));
  EXPECT_LT(max_diff, 1e-3);
  EXPECT_TRUE(session->holds_cells(b.id));
  session->close(b);
  EXPECT_FALSE(session->holds_cells(b.id));
  EXPECT_TRUE(session->holds_cells(a.id));
  EXPECT_EQ(session->live_branches(), 1);
}

// A server's mixed batch: one sequence's prefill and another's next token in one decode give
// the same greedy continuations and near-equal logits as separate decodes (the noise floor of
// batching, docs/llama-cpp-notes.md).
TEST_P(AnalyzeModel, MixedBatchMatchesSeparateDecodes) {
  auto session = Session::create(model_, small_session(1024, 4)).value();
  const auto p1 = model_->encode_prompt("Say hello.", false).value();
  const auto p2 = model_->encode_prompt("Name a color.", false).value();
  // Reference: each prompt alone, then one step.
  std::vector<float> ref_a, ref_b;
  {
    Branch a = session->open().value();
    ASSERT_TRUE(session->feed(a, p1).ok());
    const token_id t = argmax(session->logits(a));
    ASSERT_TRUE(session->step(std::vector{a}, std::vector{t}).ok());
    ref_a.assign(session->logits(a).begin(), session->logits(a).end());
    Branch b = session->open().value();
    ASSERT_TRUE(session->feed(b, p2).ok());
    ref_b.assign(session->logits(b).begin(), session->logits(b).end());
    session->reset();
  }
  // Mixed: a's prefill, then a's next token in the same decode as b's whole prompt.
  Branch a = session->open().value();
  ASSERT_TRUE(session->feed(a, p1).ok());
  const token_id t = argmax(session->logits(a));
  Branch b = session->open().value();
  const std::vector<token_id> one = {t};
  const std::vector<std::span<const token_id>> tokens = {one, p2};
  ASSERT_TRUE(session->decode_batch(std::vector{a, b}, tokens).ok());
  EXPECT_EQ(session->n_past(a), static_cast<pos>(p1.size() + 1));
  EXPECT_EQ(session->n_past(b), static_cast<pos>(p2.size()));
  EXPECT_EQ(argmax(session->logits(a)), argmax(ref_a));
  EXPECT_EQ(argmax(session->logits(b)), argmax(ref_b));
  double max_diff = 0;
  for (std::size_t i = 0; i < ref_a.size(); ++i) {
    max_diff = std::max({max_diff, std::abs(double(session->logits(a)[i]) - ref_a[i]),
                         std::abs(double(session->logits(b)[i]) - ref_b[i])});
  }
  EXPECT_LT(max_diff, 0.5);
  // More tokens than one batch is refused, naming the count; nothing advanced.
  const std::vector<token_id> many(static_cast<std::size_t>(session->n_batch()) + 1, t);
  const std::vector<std::span<const token_id>> too_many = {many};
  const Status st = session->decode_batch(std::vector{a}, too_many);
  EXPECT_EQ(st.code(), StatusCode::invalid_argument);
  EXPECT_NE(st.message().find("exceeds the batch size"), std::string::npos) << st.message();
  EXPECT_EQ(session->n_past(a), static_cast<pos>(p1.size() + 1));
}

TEST_P(AnalyzeModel, RejectsEmptyAndInvalidInput) {
  auto session = Session::create(model_, small_session()).value();
  Analyzer analyzer(*session, KeyTokenDetector{});
  EXPECT_EQ(analyzer.score_text("", {}).status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(analyzer.score_text("bad \xFF byte", {}).status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(analyzer.generate({.prompt = ""}).status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(analyzer.generate({.prompt = "hi", .n_predict = 0}).status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(Session::create(model_, {.n_seq_max = 257}).status().code(), StatusCode::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Models, AnalyzeModel, ::testing::Values(kSmolLM2, kGemma3, kQwen05), test_model_name);

}  // namespace
}  // namespace keytok::testing
