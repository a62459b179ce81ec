// cascade on the real pair Qwen2.5-Coder 0.5B (small) and 1.5B (large), and the Session
// operation its rollback rests on (truncate). Kept to a few dozen tokens: the large model
// decodes about 6 tokens/s on one thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "keytok/strategy.hpp"
#include "keytok/strategy_setup.hpp"
#include "model/test_models.hpp"

namespace keytok::testing {
namespace {

// The two models part at the second token ("The sea is ..." against "The vast expanse ...").
constexpr char kPrompt[] = "Write one sentence about the sea.";
constexpr int kTokens = 20;

SessionParams one_thread() { return {.n_ctx = 1024, .n_batch = 512, .n_seq_max = 1, .n_threads = 1}; }

void expect_no_cells(const Session& s) {
  EXPECT_EQ(s.live_branches(), 0);
  for (seq_id id = 0; id < s.n_seq_max(); ++id) EXPECT_FALSE(s.holds_cells(id)) << "seq " << id;
}

// The tokens of one greedy answer on `model`.
std::vector<token_id> greedy_tokens(const std::shared_ptr<const Model>& model) {
  StrategyParams p = parse_strategy("greedy").value();
  p.max_tokens = kTokens;
  auto session = Session::create(model, one_thread()).value();
  auto r = make_strategy(p).value()->run(*session, {.prompt = kPrompt});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->paths[0].tokens : std::vector<token_id>{};
}

class CascadeModel : public ::testing::Test {
 protected:
  void SetUp() override {
    small_ = load_test_model(kQwen05);
    large_model_ = load_test_model(kQwen15);
    if (!small_ || !large_model_) {
      GTEST_SKIP() << "the Qwen2.5-Coder 0.5B and 1.5B models are absent; run scripts/fetch_models.sh --tests";
    }
    session_ = Session::create(small_, one_thread()).value();
    large_ = open_large_model(large_model_, *small_, one_thread()).value();
  }

  GenerationResult run(float entropy_threshold, float rollback_nats = 0.0f, const StrategyEventFn& on_event = {}) {
    StrategyParams p = parse_strategy("cascade").value();
    p.max_tokens = kTokens;
    p.branch.detector.rule = KeyRule::entropy;
    p.branch.detector.entropy_threshold_nats = entropy_threshold;
    p.cascade.rollback_nats = rollback_nats;
    p.cascade.check_every = 8;
    auto r = make_strategy(p).value()->run(
        *session_, {.prompt = kPrompt, .on_event = on_event, .large = large_.target.get()});
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    expect_no_cells(*session_);
    expect_no_cells(*large_.session);
    return r.ok() ? std::move(r).value() : GenerationResult{};
  }

  std::shared_ptr<const Model> small_, large_model_;
  std::unique_ptr<Session> session_;
  LargeModel large_;
};

TEST_F(CascadeModel, TheTwoModelsShareOneVocabulary) {
  EXPECT_TRUE(check_same_vocabulary(*small_, *large_model_).ok());
}

TEST_F(CascadeModel, ThresholdAtInfinityIsSmallGreedy) {
  const GenerationResult r = run(std::numeric_limits<float>::max());
  EXPECT_EQ(r.paths[0].tokens, greedy_tokens(small_));
  EXPECT_EQ(r.cost.large_decisions, 0);
  EXPECT_EQ(r.cost.large_prefill_tokens, 0);
}

TEST_F(CascadeModel, ThresholdAtZeroIsLargeGreedyTokenForToken) {
  const GenerationResult r = run(0.0f);
  const std::vector<token_id> large = greedy_tokens(large_model_);
  EXPECT_EQ(r.paths[0].tokens, large);
  EXPECT_NE(large, greedy_tokens(small_)) << "the test needs a prompt where the two models differ";
  EXPECT_EQ(r.cost.large_decisions, static_cast<int>(r.paths[0].tokens.size()) +
                                        (r.paths[0].stop_reason == "eog" ? 1 : 0));
}

TEST_F(CascadeModel, RollbackLeavesBothCachesAtTheRejectedToken) {
  int rollbacks = 0;
  const std::size_t n_prompt = small_->encode_prompt(kPrompt, false).value().size();
  const GenerationResult r = run(std::numeric_limits<float>::max(), /*rollback_nats=*/1.0f,
                                 [&](const StrategyEvent& e) {
    if (e.kind != StrategyEventKind::rollback) return;
    ++rollbacks;
    // Both hold the prompt and exactly the kept tokens (the small model's sequence is seq 0).
    EXPECT_EQ(session_->n_past(Branch{0}), static_cast<pos>(n_prompt) + e.index);
    EXPECT_EQ(large_.session->n_past(Branch{0}), static_cast<pos>(n_prompt) + e.index);
  });
  EXPECT_GT(rollbacks, 0) << "a 1-nat rollback threshold should fire within " << kTokens << " tokens";
  EXPECT_EQ(r.cost.rollbacks, rollbacks);
  EXPECT_EQ(std::count(r.paths[0].large.begin(), r.paths[0].large.end(), true), r.cost.large_decisions);
}

TEST_F(CascadeModel, AVocabularyOfAnotherFamilyIsRefusedByName) {
  auto smol = load_test_model(kSmolLM2);
  ASSERT_TRUE(smol);
  const Status st = check_same_vocabulary(*small_, *smol);
  EXPECT_EQ(st.code(), StatusCode::invalid_argument);
  EXPECT_NE(st.message().find("differ in size (151936 and 49152 tokens)"), std::string::npos) << st.message();
  EXPECT_EQ(open_large_model(smol, *small_, one_thread()).status().code(), StatusCode::invalid_argument);
}

// Session::truncate: cutting a branch back and decoding on gives the logits of a branch that
// never held the cut tokens.
using TruncateModel = ModelTest;

TEST_P(TruncateModel, DecodingAfterACutMatchesAFreshRun) {
  const std::vector<token_id> prompt = model_->encode_prompt("Count: one, two, three", false).value();
  const std::vector<token_id> a = {model_->tokenize(" four", false).value()[0],
                                   model_->tokenize(" five", false).value()[0],
                                   model_->tokenize(" six", false).value()[0]};
  const token_id b = model_->tokenize(" seven", false).value()[0];
  auto cut = Session::create(model_, one_thread()).value();
  Branch x = cut->open().value();
  ASSERT_TRUE(cut->feed(x, prompt).ok());
  for (token_id t : a) ASSERT_TRUE(cut->step(std::span(&x, 1), std::span(&t, 1)).ok());
  const pos keep = static_cast<pos>(prompt.size()) + 1;
  ASSERT_TRUE(cut->truncate(x, keep).ok());
  EXPECT_EQ(cut->n_past(x), keep);
  EXPECT_TRUE(cut->logits(x).empty());
  ASSERT_TRUE(cut->step(std::span(&x, 1), std::span(&b, 1)).ok());

  auto fresh = Session::create(model_, one_thread()).value();
  Branch y = fresh->open().value();
  ASSERT_TRUE(fresh->feed(y, prompt).ok());
  ASSERT_TRUE(fresh->step(std::span(&y, 1), std::span(&a[0], 1)).ok());
  ASSERT_TRUE(fresh->step(std::span(&y, 1), std::span(&b, 1)).ok());

  const auto l1 = cut->logits(x);
  const auto l2 = fresh->logits(y);
  ASSERT_EQ(l1.size(), l2.size());
  float max_diff = 0.0f;
  for (std::size_t i = 0; i < l1.size(); ++i) max_diff = std::max(max_diff, std::abs(l1[i] - l2[i]));
  EXPECT_LT(max_diff, 1e-3f);
  EXPECT_EQ(std::max_element(l1.begin(), l1.end()) - l1.begin(), std::max_element(l2.begin(), l2.end()) - l2.begin());
  EXPECT_EQ(cut->n_past(x), fresh->n_past(y));

  EXPECT_EQ(cut->truncate(x, keep + 5).message(),
            "cannot cut a branch of " + std::to_string(keep + 1) + " positions back to " + std::to_string(keep + 5) +
                "; keep 0.." + std::to_string(keep + 1));
  EXPECT_EQ(cut->truncate(Branch{3}, 0).code(), StatusCode::invalid_argument);
  ASSERT_TRUE(cut->truncate(x, 0).ok());
  EXPECT_FALSE(cut->holds_cells(x.id));
}

INSTANTIATE_TEST_SUITE_P(Models, TruncateModel, ::testing::Values(kSmolLM2, kQwen05), test_model_name);

}  // namespace
}  // namespace keytok::testing
