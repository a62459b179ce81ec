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
  EXPECT_TRUE(g.stop_reason == "eog" || g.stop_reason == "length");
  EXPECT_EQ(session->live_branches(), 0);
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
