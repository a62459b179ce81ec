// cascade without models: two scripted targets (scripted_target.hpp), a small one and a large
// one whose next-token rules differ at one position, so that each of the cascade's rules (who
// decides, when the large model catches up, rollback, the decision cap) shows in the tokens
// and in what each target was fed.
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "keytok/strategy.hpp"
#include "unit/scripted_target.hpp"

namespace keytok {
namespace {

using testing::peaked;
using testing::ScriptedTarget;
constexpr token_id kEog = ScriptedTarget::kEog;

// Six tokens, then end of generation; the next token depends only on how many came before.
std::vector<float> follow(const std::vector<token_id>& seq, const std::vector<token_id>& g, float p) {
  return g.size() < seq.size() ? peaked(seq[g.size()], p) : peaked(kEog, p);
}
const std::vector<token_id> kSmall = {0, 1, 2, 3, 4, 5};  // "abcdef"
const std::vector<token_id> kLarge = {0, 1, 6, 3, 4, 5};  // "abgdef": differs at index 2

ScriptedTarget::Script small_script() {
  return [](const std::vector<token_id>& g) { return follow(kSmall, g, 0.9f); };
}
ScriptedTarget::Script large_script() {
  return [](const std::vector<token_id>& g) { return follow(kLarge, g, 0.99f); };
}

StrategyParams cascade(float entropy_threshold, float rollback_nats = 0.0f) {
  StrategyParams p = parse_strategy("cascade").value();
  p.branch.detector.rule = KeyRule::entropy;
  p.branch.detector.entropy_threshold_nats = entropy_threshold;
  p.cascade.rollback_nats = rollback_nats;
  return p;
}

Result<GenerationResult> run(const StrategyParams& p, ScriptedTarget& small, ScriptedTarget* large,
                             std::vector<std::string>* events = nullptr) {
  auto strategy = make_strategy(p);
  if (!strategy.ok()) return strategy.status();
  GenerateRequest req{.prompt = "hi", .large = large};
  if (events != nullptr) {
    req.on_event = [events](const StrategyEvent& e) {
      if (e.kind == StrategyEventKind::token) events->push_back(std::string(e.piece));
      if (e.kind == StrategyEventKind::rollback) events->push_back("rollback@" + std::to_string(e.index));
    };
  }
  return (*strategy)->run(small, req);
}

constexpr float kNever = std::numeric_limits<float>::max();

TEST(Cascade, WithNoKeyPositionItIsTheSmallModelsGreedyAndNeverTouchesTheLargeOne) {
  ScriptedTarget small(small_script()), large(large_script());
  auto r = run(cascade(kNever), small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->strategy, "cascade");
  EXPECT_EQ(r->paths[0].tokens, kSmall);
  EXPECT_EQ(r->paths[0].stop_reason, "eog");
  EXPECT_EQ(r->paths[0].large, std::vector<bool>(6, false));
  EXPECT_TRUE(large.feeds.empty());
  EXPECT_EQ(r->cost.large_decisions, 0);
  EXPECT_EQ(r->cost.large_prefill_tokens, 0);
  EXPECT_EQ(r->cost.large_prompt_tokens, 0);
  EXPECT_EQ(small.open_sequences(), 0);
  EXPECT_EQ(large.open_sequences(), 0);
}

TEST(Cascade, WithEveryPositionKeyItIsTheLargeModelsGreedyFedOneTokenAtATime) {
  ScriptedTarget small(small_script()), large(large_script()), reference(large_script());
  auto r = run(cascade(0.0f), small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto greedy = run(parse_strategy("greedy").value(), reference, nullptr);
  ASSERT_TRUE(greedy.ok());
  EXPECT_EQ(r->paths[0].tokens, greedy->paths[0].tokens);
  EXPECT_EQ(r->paths[0].tokens, kLarge);
  EXPECT_EQ(r->paths[0].large, std::vector<bool>(6, true));
  // Six tokens and the end of generation: seven decisions; only index 2 differs from the small model.
  EXPECT_EQ(r->cost.large_decisions, 7);
  EXPECT_EQ(r->cost.large_changed, 1);
  EXPECT_EQ(r->cost.large_prompt_tokens, 2);
  EXPECT_EQ(r->cost.large_prefill_tokens, 6);
  // The prompt, then each accepted token alone: the large model never falls behind.
  ASSERT_EQ(large.feeds.size(), 7u);
  for (std::size_t i = 1; i < large.feeds.size(); ++i) {
    EXPECT_EQ(large.feeds[i].second, std::vector<token_id>{kLarge[i - 1]}) << "feed " << i;
  }
  EXPECT_EQ(r->cost.large_decode_calls, 7);
  EXPECT_EQ(large.open_sequences(), 0);
}

TEST(Cascade, TheLargeModelCatchesUpInOneChunkAtAKeyPosition) {
  // Key only where the small model's distribution is flat: index 2 (after "ab").
  ScriptedTarget small([](const std::vector<token_id>& g) {
    return g.size() == 2 ? std::vector<float>(ScriptedTarget::kVocab, 1.0f / ScriptedTarget::kVocab)
                         : follow(kSmall, g, 0.99f);
  });
  ScriptedTarget large(large_script());
  auto r = run(cascade(1.0f), small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths[0].tokens, kLarge);
  EXPECT_EQ(r->paths[0].large, (std::vector<bool>{false, false, true, false, false, false}));
  ASSERT_EQ(large.feeds.size(), 2u);  // the prompt, then "ab" in one prefill
  EXPECT_EQ(large.feeds[1].second, (std::vector<token_id>{0, 1}));
  EXPECT_EQ(r->cost.large_decisions, 1);
  EXPECT_EQ(r->cost.large_changed, 1);
  EXPECT_EQ(r->cost.large_prefill_tokens, 2);
}

TEST(Cascade, RollbackReturnsBothCachesToTheRejectedTokenAndLetsTheLargeModelChoose) {
  ScriptedTarget small(small_script()), large(large_script());
  StrategyParams p = cascade(kNever, /*rollback_nats=*/3.0f);
  p.cascade.check_every = 4;
  std::vector<std::string> events;
  // At the rollback both sequences must hold the prompt and "ab", nothing after.
  std::vector<token_id> small_held, large_held;
  auto strategy = make_strategy(p).value();
  GenerateRequest req{.prompt = "hi", .large = &large};
  req.on_event = [&](const StrategyEvent& e) {
    if (e.kind == StrategyEventKind::token) events.push_back(std::string(e.piece));
    if (e.kind == StrategyEventKind::rollback) {
      events.push_back("rollback@" + std::to_string(e.index));
      small_held = small.held_tokens(0);
      large_held = large.held_tokens(0);
    }
  };
  auto r = strategy->run(small, req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const std::vector<token_id> prompt = small.encode_prompt("hi", true).value();
  std::vector<token_id> expected_held = prompt;
  expected_held.insert(expected_held.end(), {0, 1});
  EXPECT_EQ(small_held, expected_held);
  EXPECT_EQ(large_held, expected_held);
  // "abcd" accepted; the check after 4 tokens rejects "c" (the large model gives it 0.01/6);
  // the large model writes "g" there and the small model goes on.
  EXPECT_EQ(events, (std::vector<std::string>{"a", "b", "c", "d", "rollback@2", "g", "d", "e", "f"}));
  EXPECT_EQ(r->paths[0].tokens, kLarge);
  EXPECT_EQ(r->paths[0].large, (std::vector<bool>{false, false, true, false, false, false}));
  EXPECT_EQ(r->cost.rollbacks, 1);
  EXPECT_EQ(r->cost.rolled_back_tokens, 2);
  EXPECT_EQ(r->cost.large_decisions, 1);
  EXPECT_EQ(r->cost.generated_tokens, 8);  // "abcd" + "gdef": undone tokens were spent
  // The large model: the prompt, "abcd" checked in one chunk, then "gdef" checked before the end.
  ASSERT_EQ(large.feeds.size(), 3u);
  EXPECT_EQ(large.feeds[1].second, (std::vector<token_id>{0, 1, 2, 3}));
  EXPECT_EQ(large.feeds[2].second, (std::vector<token_id>{6, 3, 4, 5}));
  EXPECT_EQ(r->cost.large_prefill_tokens, 8);
  // The small model re-read "b" to get its distribution at index 2 back.
  ASSERT_EQ(small.feeds.size(), 2u);
  EXPECT_EQ(small.feeds[1].second, std::vector<token_id>{1});
  EXPECT_EQ(small.open_sequences(), 0);
  EXPECT_EQ(large.open_sequences(), 0);
}

TEST(Cascade, RollbackAtTheFirstTokenRefeedsThePromptsLast) {
  ScriptedTarget small(small_script());
  ScriptedTarget large([](const std::vector<token_id>& g) { return follow({6, 1, 2, 3, 4, 5}, g, 0.99f); });
  StrategyParams p = cascade(kNever, 3.0f);
  p.cascade.check_every = 2;
  auto r = run(p, small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths[0].tokens, (std::vector<token_id>{6, 1, 2, 3, 4, 5}));
  EXPECT_EQ(r->cost.rollbacks, 1);
  EXPECT_EQ(r->cost.rolled_back_tokens, 2);
  const std::vector<token_id> prompt = small.encode_prompt("hi", true).value();
  ASSERT_EQ(small.feeds.size(), 2u);
  EXPECT_EQ(small.feeds[1].second, std::vector<token_id>{prompt.back()});
}

TEST(Cascade, TheLargeModelCanRefuseTheEndOfTheAnswer) {
  // The small model stops after "abc"; the large model wants "abcdef".
  ScriptedTarget small([](const std::vector<token_id>& g) { return follow({0, 1, 2}, g, 0.9f); });
  ScriptedTarget large(ScriptedTarget::Script([](const std::vector<token_id>& g) {
    return follow(kSmall, g, 0.99f);
  }));
  auto r = run(cascade(kNever, 3.0f), small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // Each time the small model would end, the large model writes its next letter instead.
  EXPECT_EQ(r->paths[0].tokens, kSmall);
  EXPECT_EQ(r->paths[0].large, (std::vector<bool>{false, false, false, true, true, true}));
  EXPECT_EQ(r->paths[0].stop_reason, "eog");
  EXPECT_EQ(r->cost.rollbacks, 0);
  EXPECT_EQ(r->cost.large_decisions, 3);
  EXPECT_EQ(r->cost.large_changed, 3);
}

TEST(Cascade, TheSearchTreeJsonCarriesEveryCostFigure) {
  ScriptedTarget small(small_script()), large(large_script());
  StrategyParams p = cascade(kNever, 3.0f);
  p.cascade.check_every = 4;
  auto r = run(p, small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const nlohmann::json j = nlohmann::json::parse(generation_to_json(*r));
  EXPECT_EQ(j["strategy"], "cascade");
  const nlohmann::json& c = j["cost"];
  EXPECT_EQ(c["large_prompt_tokens"], 2);
  EXPECT_EQ(c["large_prefill_tokens"], 8);
  EXPECT_EQ(c["large_decode_calls"], 3);
  EXPECT_EQ(c["large_decisions"], 1);
  EXPECT_EQ(c["large_changed"], 1);
  EXPECT_EQ(c["rollbacks"], 1);
  EXPECT_EQ(c["rolled_back_tokens"], 2);
  EXPECT_EQ(j["paths"][0]["large_positions"], nlohmann::json::array({2}));
}

TEST(Cascade, TheDecisionCapHandsTheRestToTheSmallModel) {
  ScriptedTarget small(small_script()), large(large_script());
  StrategyParams p = cascade(0.0f);
  p.cascade.max_decisions = 2;
  auto r = run(p, small, &large);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths[0].tokens, kSmall);
  EXPECT_EQ(r->paths[0].large, (std::vector<bool>{true, true, false, false, false, false}));
  EXPECT_EQ(r->cost.large_decisions, 2);
}

TEST(Cascade, WithoutALargeModelItIsAClearError) {
  ScriptedTarget small(small_script());
  auto r = run(cascade(1.0f), small, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(r.status().message(), "strategy cascade needs a large model; pass --big-model PATH");
}

TEST(Cascade, BadKnobsAreRefusedByName) {
  StrategyParams p = cascade(1.0f);
  p.cascade.check_every = 0;
  EXPECT_EQ(p.validate().message(), "strategy cascade: check every must be >= 1 token");
  p = cascade(1.0f, -1.0f);
  EXPECT_EQ(p.validate().message(), "strategy cascade: the rollback threshold must be >= 0 nats (0 = no rollback)");
  p = cascade(1.0f);
  p.cascade.max_decisions = -1;
  EXPECT_EQ(p.validate().message(), "strategy cascade: max large-model decisions must be >= 0 (0 = unlimited)");
  EXPECT_EQ(parse_strategy("cascade:2").status().message(), "strategy 'cascade' takes no count; got 'cascade:2'");
  EXPECT_EQ(p.max_live_sequences(), 1);
}

}  // namespace
}  // namespace keytok
