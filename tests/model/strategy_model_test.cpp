// Decoding strategies on a real model (label `model`): determinism, branch vs greedy, fork
// positions, budgets, and that every sequence is closed after a run. Kept to a few dozen tokens.
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <string>
#include <vector>

#include "keytok/strategy.hpp"
#include "model/test_models.hpp"

namespace keytok::testing {
namespace {

constexpr char kPrompt[] = "What is 17 + 25? Answer with a number.";

StrategyParams spec(const std::string& s, int max_tokens = 12, int budget = 0) {
  StrategyParams p = parse_strategy(s).value();
  p.max_tokens = max_tokens;
  p.budget_tokens = budget;
  p.sampling.seed = 7;
  return p;
}

std::unique_ptr<Session> session_for(const std::shared_ptr<const Model>& model, const StrategyParams& p) {
  // One thread: on a shared 2-core machine two spinning threads can run 100x slower.
  return Session::create(model, {.n_ctx = 1024, .n_batch = 512, .n_seq_max = p.max_live_sequences(),
                                 .n_threads = 1}).value();
}

GenerationResult run(Session& s, const StrategyParams& p, const std::string& prompt = kPrompt) {
  auto strategy = make_strategy(p).value();
  auto r = strategy->run(s, {.prompt = prompt});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : GenerationResult{};
}

void expect_all_closed(const Session& s) {
  EXPECT_EQ(s.live_branches(), 0);
  for (seq_id id = 0; id < s.n_seq_max(); ++id) EXPECT_FALSE(s.holds_cells(id)) << "seq " << id;
}

std::int64_t own_tokens(const GenerationResult& r) {
  std::int64_t n = 0;
  for (const PathResult& p : r.paths) n += static_cast<std::int64_t>(p.tokens.size()) - p.fork_index;
  return n;
}

using StrategyModel = ModelTest;

TEST_P(StrategyModel, EveryStrategyIsDeterministicWithAFixedSeed) {
  for (const char* name : {"greedy", "sample", "sc:3", "branch", "deepconf:4"}) {
    const StrategyParams p = spec(name, 10, 40);
    auto s = session_for(model_, p);
    const GenerationResult a = run(*s, p);
    const GenerationResult b = run(*s, p);
    ASSERT_EQ(a.paths.size(), b.paths.size()) << name;
    for (std::size_t i = 0; i < a.paths.size(); ++i) {
      EXPECT_EQ(a.paths[i].tokens, b.paths[i].tokens) << name << " path " << i;
      EXPECT_EQ(a.paths[i].stop_reason, b.paths[i].stop_reason) << name;
    }
    EXPECT_EQ(a.vote.answer, b.vote.answer) << name;
    EXPECT_EQ(a.text, b.text) << name;
    EXPECT_EQ(a.cost.generated_tokens, b.cost.generated_tokens) << name;
    expect_all_closed(*s);
  }
}

TEST_P(StrategyModel, BranchWithoutForksEqualsGreedy) {
  StrategyParams g = spec("greedy", 16);
  StrategyParams b = spec("branch", 16);
  b.branch.detector.entropy_threshold_nats = 1e6f;  // nothing is ever flagged
  auto s = session_for(model_, b);
  const GenerationResult gr = run(*s, g);
  const GenerationResult br = run(*s, b);
  ASSERT_EQ(br.paths.size(), 1u);
  EXPECT_TRUE(br.forks.empty());
  EXPECT_EQ(br.paths[0].tokens, gr.paths[0].tokens);
  EXPECT_EQ(br.text, gr.text);
  EXPECT_EQ(br.cost.generated_tokens, gr.cost.generated_tokens);
}

TEST_P(StrategyModel, ForksHappenExactlyAtFlaggedPositions) {
  StrategyParams p = spec("branch", 10);
  p.branch.detector.entropy_threshold_nats = 0.5f;
  p.branch.max_live = 4;
  p.branch.max_paths = 6;
  p.branch.min_fork_distance = 2;
  p.branch.min_alternative_prob = 0.0f;
  p.branch.prune_gap_nats = 0.0f;
  const KeyTokenDetector det(p.branch.detector);
  auto s = session_for(model_, p);
  const GenerationResult r = run(*s, p);
  expect_all_closed(*s);
  ASSERT_FALSE(r.forks.empty()) << "a 0.5-nat threshold should flag something in 10 tokens";
  for (const ForkPoint& f : r.forks) {
    const PathResult& parent = r.paths[static_cast<std::size_t>(f.path)];
    EXPECT_TRUE(det.is_key(f.entropy, f.margin));
    if (static_cast<std::size_t>(f.index) == parent.tokens.size()) {
      // The parent's own top-1 there was end-of-generation: it ended, its alternatives go on.
      EXPECT_EQ(parent.stop_reason, "eog");
    } else {
      ASSERT_LT(static_cast<std::size_t>(f.index), parent.key.size());
      EXPECT_TRUE(parent.key[static_cast<std::size_t>(f.index)]) << "fork at unflagged index " << f.index;
    }
    for (const ForkAlternative& a : f.alternatives) {
      if (a.path < 0 || a.path == f.path) continue;
      const PathResult& child = r.paths[static_cast<std::size_t>(a.path)];
      EXPECT_EQ(child.parent, f.path);
      EXPECT_EQ(child.fork_index, f.index);
      ASSERT_GT(child.tokens.size(), static_cast<std::size_t>(f.index));
      EXPECT_EQ(child.tokens[static_cast<std::size_t>(f.index)], a.id);
      EXPECT_TRUE(std::equal(child.tokens.begin(), child.tokens.begin() + f.index, parent.tokens.begin()));
    }
  }
  // The root may fork at once, so its first flagged position is its first fork.
  const PathResult& root = r.paths[0];
  const auto first_key = std::find(root.key.begin(), root.key.end(), true) - root.key.begin();
  EXPECT_EQ(r.forks[0].path, 0);
  EXPECT_EQ(r.forks[0].index, first_key);
  // Flagged positions where no fork could happen are only those after a fork, within the distance,
  // or once the caps were reached; a fork never happens at an unflagged one (checked above).
  EXPECT_LE(static_cast<int>(r.paths.size()), p.branch.max_paths);
  EXPECT_LE(r.cost.peak_live, p.branch.max_live);
}

TEST_P(StrategyModel, BudgetIsNeverExceeded) {
  for (const char* name : {"greedy", "sample", "sc:4", "branch", "deepconf:4"}) {
    for (int budget : {5, 23}) {
      StrategyParams p = spec(name, 16, budget);
      p.branch.detector.entropy_threshold_nats = 0.5f;
      auto s = session_for(model_, p);
      const GenerationResult r = run(*s, p);
      EXPECT_LE(r.cost.generated_tokens, budget) << name;
      EXPECT_EQ(own_tokens(r), r.cost.generated_tokens) << name;
      expect_all_closed(*s);
    }
  }
}

TEST_P(StrategyModel, PathsShareOnePrefillOfThePrompt) {
  const StrategyParams p = spec("sc:4", 8);
  auto s = session_for(model_, p);
  const GenerationResult r = run(*s, p);
  ASSERT_EQ(r.paths.size(), 4u);
  EXPECT_EQ(r.cost.forks, 3);
  // Every decoded token is either the prompt (once) or a generated token, never a second prefill.
  EXPECT_LE(s->counters().tokens_decoded, r.cost.prompt_tokens + r.cost.generated_tokens);
  EXPECT_EQ(r.cost.peak_live, 4);
  // One batched decode per step: at most max_tokens steps after the prefill.
  EXPECT_LE(r.cost.decode_calls, 1 + p.max_tokens);
}

TEST_P(StrategyModel, DeepConfSecondPhaseStartsFromThePrompt) {
  StrategyParams p = spec("deepconf:4", 10);
  p.deepconf.warmup = 2;
  p.deepconf.window = 4;
  auto s = session_for(model_, p);
  // No answer is ever extracted, so the vote never settles and all four traces run.
  const GenerateRequest req{.prompt = kPrompt, .extract = [](std::string_view) { return std::optional<std::string>{}; }};
  auto a = make_strategy(p).value()->run(*s, req).value();
  auto b = make_strategy(p).value()->run(*s, req).value();
  ASSERT_EQ(a.paths.size(), 4u);
  EXPECT_GT(a.deepconf_threshold, 0.0);
  for (std::size_t i = 0; i < a.paths.size(); ++i) {
    EXPECT_EQ(a.paths[i].parent, -1);
    EXPECT_FALSE(a.paths[i].tokens.empty()) << i;
    EXPECT_EQ(a.paths[i].tokens, b.paths[i].tokens) << i;
    if (a.paths[i].stop_reason == "low_confidence") {
      EXPECT_FALSE(a.paths[i].votes);
    }
  }
  EXPECT_FALSE(a.vote.answer);
  EXPECT_LE(a.cost.peak_live, p.max_live_sequences());
  expect_all_closed(*s);
}

TEST_P(StrategyModel, PromptLongerThanContextFails) {
  const StrategyParams p = spec("sc:2");
  auto s = Session::create(model_, {.n_ctx = 256, .n_seq_max = 2, .n_threads = 1}).value();
  std::string prompt;
  for (int i = 0; i < 300; ++i) prompt += "word ";
  auto r = make_strategy(p).value()->run(*s, {.prompt = prompt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::context_overflow);
  expect_all_closed(*s);
}

TEST_P(StrategyModel, TooFewSequencesIsAnError) {
  const StrategyParams p = spec("sc:4");
  auto s = Session::create(model_, {.n_ctx = 512, .n_seq_max = 2, .n_threads = 1}).value();
  auto r = make_strategy(p).value()->run(*s, {.prompt = kPrompt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::invalid_argument);
}

TEST_P(StrategyModel, ACancelledRunStopsInsideTheDecodeAndLeavesTheSessionUsable) {
  const StrategyParams p = spec("sc:2", 8);
  auto s = session_for(model_, p);
  auto strategy = make_strategy(p).value();
  // Set before the run: the prefill's llama_decode itself is aborted by the abort callback.
  std::atomic<bool> cancel{true};
  GenerateRequest req{.prompt = kPrompt};
  req.cancel = &cancel;
  auto r = strategy->run(*s, req);
  EXPECT_EQ(r.status().code(), StatusCode::aborted);
  EXPECT_EQ(r.status().message(), "decoding was aborted");
  expect_all_closed(*s);
  // The abort flag is handed back: the same session runs the next request to the end.
  const GenerationResult again = run(*s, p);
  EXPECT_EQ(again.paths.size(), 2u);
  expect_all_closed(*s);
}

INSTANTIATE_TEST_SUITE_P(Models, StrategyModel, ::testing::Values(kSmolLM2), test_model_name);

}  // namespace
}  // namespace keytok::testing
