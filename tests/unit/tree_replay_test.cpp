// revote_tree_json's replays against real runs: a tree replayed with fewer paths or an early stop
// must vote and spend exactly what a run made under those limits votes and spends. The runs use
// a scripted target (scripted_target.hpp) whose paths fork, differ in length and disagree.
#include <gtest/gtest.h>

#include <algorithm>

#include "keytok/strategy.hpp"
#include "unit/scripted_target.hpp"

namespace keytok {
namespace {

using testing::peaked;
using testing::ScriptedTarget;

// Uncertain ('a' 0.55, 'b' 0.40) at tokens 0, 3 and 6, else 'c'; every 'b' makes the text three
// tokens longer (it ends at 8 + 3 x b's tokens). The answer is the number of b's, so paths that
// took different alternatives disagree and end at different steps.
std::vector<float> forking(const std::vector<token_id>& g) {
  const auto bs = std::count(g.begin(), g.end(), 1);
  if (static_cast<long>(g.size()) >= 8 + 3 * bs) return peaked(ScriptedTarget::kEog);
  if (g.size() == 0 || g.size() == 3 || g.size() == 6) {
    std::vector<float> p(ScriptedTarget::kVocab, 0.01f);
    p[0] = 0.55f;
    p[1] = 0.40f;
    p[ScriptedTarget::kEog] = 0.0f;
    return p;
  }
  return peaked(2);
}

std::optional<std::string> count_bs(std::string_view text) {
  return std::to_string(std::count(text.begin(), text.end(), 'b'));
}

GenerationResult run(const std::string& spec, const std::function<void(StrategyParams&)>& tweak) {
  StrategyParams p = parse_strategy(spec).value();
  p.branch.detector.entropy_threshold_nats = 0.5f;
  p.branch.min_fork_distance = 0;
  p.branch.prune_gap_nats = 0.0f;
  p.sampling = SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 7};
  tweak(p);
  ScriptedTarget target(forking);
  auto r = make_strategy(p).value()->run(target, GenerateRequest{.prompt = "hi", .extract = count_bs});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(target.open_sequences(), 0);
  return r.ok() ? *r : GenerationResult{};
}

void expect_same(const GenerationResult& real, const Revote& replay) {
  EXPECT_EQ(replay.vote.answer, real.vote.answer);
  EXPECT_EQ(replay.tokens, real.cost.generated_tokens);
  ASSERT_EQ(replay.vote.tallies.size(), real.vote.tallies.size());
  for (std::size_t i = 0; i < real.vote.tallies.size(); ++i) {
    EXPECT_EQ(replay.vote.tallies[i].answer, real.vote.tallies[i].answer);
    EXPECT_EQ(replay.vote.tallies[i].count, real.vote.tallies[i].count);
    EXPECT_NEAR(replay.vote.tallies[i].weight, real.vote.tallies[i].weight, 1e-9);
  }
  EXPECT_TRUE(replay.exact);
}

TEST(TreeReplay, BranchWithFewerPathsOrAnEarlyStopIsWhatSuchARunMakes) {
  const GenerationResult full = run("branch", [](StrategyParams& p) {
    p.branch.max_paths = 4;
    p.branch.max_live = 4;
  });
  ASSERT_EQ(full.paths.size(), 4u);
  const std::string tree = generation_tree_json(full);
  int stopped_early = 0;
  for (int k = 1; k <= 4; ++k) {
    for (int agree = 0; agree <= k; ++agree) {
      for (const CombineRule rule : {CombineRule::majority, CombineRule::tree, CombineRule::root}) {
        SCOPED_TRACE("max paths " + std::to_string(k) + ", stop-agree " + std::to_string(agree) + ", rule " +
                     combine_rule_name(rule));
        const GenerationResult real = run("branch", [&](StrategyParams& p) {
          p.branch.max_paths = k;
          p.branch.max_live = k;
          p.stop_agree = agree;
          p.combine = rule;
        });
        const Revote replay =
            revote_tree_json(tree, {.rule = rule, .max_paths = k, .stop_agree = agree}).value();
        expect_same(real, replay);
        if (real.cost.generated_tokens < full.cost.generated_tokens && k == 4) ++stopped_early;
      }
    }
  }
  // Not vacuous: some stops cut the full run short.
  EXPECT_GT(stopped_early, 0);
}

TEST(TreeReplay, SelfConsistencyWithItsFirstSamplesOrAnEarlyStopIsWhatSuchARunMakes) {
  const GenerationResult full = run("sc:6", [](StrategyParams&) {});
  const std::string tree = generation_tree_json(full);
  std::vector<std::string> answers;
  for (const PathResult& p : full.paths) answers.push_back(p.answer.value_or(""));
  std::sort(answers.begin(), answers.end());
  ASSERT_GT(std::unique(answers.begin(), answers.end()) - answers.begin(), 1) << "the samples should disagree";
  for (int n = 2; n <= 6; ++n) {
    for (int agree = 0; agree <= n; ++agree) {
      SCOPED_TRACE("sc:" + std::to_string(n) + ", stop-agree " + std::to_string(agree));
      const GenerationResult real = run("sc:" + std::to_string(n), [&](StrategyParams& p) { p.stop_agree = agree; });
      const Revote replay =
          revote_tree_json(tree, {.first_paths = n == 6 ? 0 : n, .stop_agree = agree}).value();
      expect_same(real, replay);
    }
  }
}

TEST(TreeReplay, AStoppedRunClosesTheRestAsSettled) {
  const GenerationResult r = run("sc:6", [](StrategyParams& p) { p.stop_agree = 2; });
  int settled = 0;
  for (const PathResult& p : r.paths) {
    if (p.stop_reason != "settled") continue;
    ++settled;
    EXPECT_FALSE(p.votes);
  }
  EXPECT_GT(settled, 0);
  EXPECT_EQ(r.vote.tallies.front().count, 2);
  EXPECT_EQ(largest_agreement(r.paths), 2);
}

TEST(TreeReplay, APruneThatADroppedPathCouldHaveChangedIsInexact) {
  // Path 1 was pruned at step 19 while path 2 (dropped by max_paths 2) was decoding.
  GenerationResult g;
  g.paths.resize(3);
  const int opened[] = {0, 2, 4};
  const char* reasons[] = {"eog", "pruned", "eog"};
  for (int i = 0; i < 3; ++i) {
    PathResult& p = g.paths[static_cast<std::size_t>(i)];
    p.id = i;
    p.parent = i == 0 ? -1 : 0;
    p.fork_index = opened[i];
    p.tokens.assign(20, 0);
    p.stop_reason = reasons[i];
    p.votes = i != 1;
    p.answer = "1";
  }
  g.forks = {ForkPoint{.path = 0, .index = 2, .alternatives = {{.prob = 0.6f, .path = 0}, {.prob = 0.4f, .path = 1}}},
             ForkPoint{.path = 0, .index = 4, .alternatives = {{.prob = 0.6f, .path = 0}, {.prob = 0.4f, .path = 2}}}};
  const std::string tree = generation_tree_json(g);
  EXPECT_FALSE(revote_tree_json(tree, {.max_paths = 2}).value().exact);
  EXPECT_TRUE(revote_tree_json(tree, {.max_paths = 3}).value().exact);
  EXPECT_EQ(revote_tree_json(tree, {.max_paths = 2}).value().tokens, 20 + 18);
}

TEST(TreeReplay, GrowingDecodesTheRestOnlyWhereTheFirstRoundDisagrees) {
  // Branch: the root keeps 'a' everywhere (answer 0), its first child takes 'b' at token 0
  // (answer 1 or more), so two paths disagree and the replay is the 4-path run's.
  const GenerationResult branch = run("branch", [](StrategyParams& p) {
    p.branch.max_paths = 4;
    p.branch.max_live = 4;
  });
  ASSERT_EQ(branch.paths.size(), 4u);
  ASSERT_NE(branch.paths[0].answer, branch.paths[1].answer);
  const Revote grown = revote_tree_json(generation_tree_json(branch), {.grow_from = 2}).value();
  expect_same(branch, grown);
  EXPECT_TRUE(grown.grew);

  // Hand-made: the root and its first child (forked at 3) agree on "4"; a second child, forked
  // at 6, says "5". Growing from 2 stops with the first two: 30 + (25 - 3) tokens.
  GenerationResult g;
  const int opened[] = {0, 3, 6};
  const char* answers[] = {"4", "4", "5"};
  for (int i = 0; i < 3; ++i) {
    PathResult p{.id = i, .parent = i == 0 ? -1 : 0, .fork_index = opened[i]};
    p.tokens.assign(i == 0 ? 30 : 25, 0);
    p.stop_reason = "eog";
    p.answer = answers[i];
    g.paths.push_back(std::move(p));
  }
  g.forks = {ForkPoint{.path = 0, .index = 3, .alternatives = {{.prob = 0.6f, .path = 0}, {.prob = 0.4f, .path = 1}}},
             ForkPoint{.path = 0, .index = 6, .alternatives = {{.prob = 0.7f, .path = 0}, {.prob = 0.3f, .path = 2}}}};
  const std::string tree = generation_tree_json(g);
  const Revote stopped = revote_tree_json(tree, {.grow_from = 2}).value();
  EXPECT_FALSE(stopped.grew);
  EXPECT_EQ(stopped.tokens, 30 + 22);
  EXPECT_EQ(stopped.vote.answer, "4");
  EXPECT_EQ(stopped.vote.tallies.size(), 1u);
  // A first-round path without an answer counts as disagreement: all three decode.
  g.paths[1].answer.reset();
  const Revote unsure = revote_tree_json(generation_tree_json(g), {.grow_from = 2}).value();
  EXPECT_TRUE(unsure.grew);
  EXPECT_EQ(unsure.tokens, 30 + 22 + 19);
  // A merged child does not vote: the root alone decides the first round.
  g.paths[1].stop_reason = "merged";
  g.paths[1].votes = false;
  EXPECT_FALSE(revote_tree_json(generation_tree_json(g), {.grow_from = 2}).value().grew);

  // A tree of one path without an answer: round one disagrees, but there is nothing to add.
  GenerationResult lone;
  lone.paths.push_back(PathResult{.tokens = std::vector<token_id>(12, 0), .stop_reason = "length"});
  const Revote alone = revote_tree_json(generation_tree_json(lone), {.grow_from = 2}).value();
  EXPECT_FALSE(alone.grew);
  EXPECT_EQ(alone.tokens, 12);
  EXPECT_FALSE(alone.vote.answer.has_value());

  EXPECT_EQ(revote_tree_json(tree, {.stop_agree = 2, .grow_from = 2}).status().message(),
            "grow_from and stop_agree are not replayed together; use one of them");
}

TEST(TreeReplay, StopAgreeIsCheckedAgainstThePathsARunCanHave) {
  StrategyParams sc = parse_strategy("sc:4").value();
  sc.stop_agree = 5;
  EXPECT_EQ(sc.validate().message(), "strategy sc:4: stop-agree 5 can never be met by at most 4 paths; lower it (0 = off)");
  sc.stop_agree = -1;
  EXPECT_EQ(sc.validate().message(), "strategy sc:4: stop-agree must be >= 0 (0 = off)");
  StrategyParams branch = parse_strategy("branch").value();
  branch.stop_agree = branch.branch.max_paths;
  EXPECT_TRUE(branch.validate().ok());
  ++branch.stop_agree;
  EXPECT_FALSE(branch.validate().ok());
  // Strategies without several voting paths ignore it.
  StrategyParams greedy = parse_strategy("greedy").value();
  greedy.stop_agree = 3;
  EXPECT_TRUE(greedy.validate().ok());
}

}  // namespace
}  // namespace keytok
