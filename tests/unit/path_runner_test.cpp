// PathRunner and the strategies without a model: a scripted DecodeTarget (scripted_target.hpp)
// whose logits are chosen so that each rule fires where the test says, and nowhere else.
#include <gtest/gtest.h>

#include <algorithm>

#include "keytok/strategy.hpp"
#include "unit/scripted_target.hpp"

namespace keytok {
namespace {

using testing::peaked;
using testing::ScriptedTarget;
constexpr token_id kEog = ScriptedTarget::kEog;

// "abc" then end of generation, every step near-certain.
std::vector<float> abc(const std::vector<token_id>& g) {
  return g.size() < 3 ? peaked(static_cast<token_id>(g.size())) : peaked(kEog);
}

Result<GenerationResult> run(const std::string& spec, ScriptedTarget& target,
                             const std::function<void(StrategyParams&)>& tweak = {}) {
  StrategyParams p = parse_strategy(spec).value();
  if (tweak) tweak(p);
  auto strategy = make_strategy(p);
  if (!strategy.ok()) return strategy.status();
  return (*strategy)->run(target, GenerateRequest{.prompt = "hi"});
}

TEST(PathRunner, GreedyDecodesTheArgmaxUntilEndOfGeneration) {
  ScriptedTarget target(abc);
  auto r = run("greedy", target);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->paths.size(), 1u);
  const PathResult& p = r->paths[0];
  EXPECT_EQ(p.tokens, (std::vector<token_id>{0, 1, 2}));
  EXPECT_EQ(p.text, "abc");
  EXPECT_EQ(p.stop_reason, "eog");
  EXPECT_EQ(r->text, "abc");
  ASSERT_TRUE(r->vote.answer.has_value());
  EXPECT_EQ(*r->vote.answer, "abc");
  EXPECT_EQ(r->cost.prompt_tokens, 2);
  EXPECT_EQ(r->cost.generated_tokens, 3);
  EXPECT_EQ(r->cost.decode_calls, 4);  // the prefill, then one step per token
  EXPECT_EQ(r->cost.peak_live, 1);
  EXPECT_NEAR(p.logprobs[0], std::log(0.99f), 1e-4);
  EXPECT_EQ(target.open_sequences(), 0);
  EXPECT_EQ(target.cells_in_use(), 0);
}

TEST(PathRunner, MaxTokensStopsAtExactlyThatMany) {
  ScriptedTarget target([](const std::vector<token_id>&) { return peaked(1); });
  auto r = run("greedy", target, [](StrategyParams& p) { p.max_tokens = 5; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->paths[0].tokens.size(), 5u);
  EXPECT_EQ(r->paths[0].stop_reason, "length");
  EXPECT_EQ(r->cost.generated_tokens, 5);
  // The fifth token is recorded but never decoded: nothing would read its logits.
  EXPECT_EQ(r->cost.decode_calls, 5);
}

TEST(PathRunner, TheBudgetCapsTokensOverAllPaths) {
  ScriptedTarget target([](const std::vector<token_id>&) { return peaked(1, 1.0f); });
  auto r = run("sc:3", target, [](StrategyParams& p) { p.budget_tokens = 7; });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->cost.generated_tokens, 7);
  ASSERT_EQ(r->paths.size(), 3u);
  std::size_t tokens = 0;
  for (const PathResult& p : r->paths) {
    EXPECT_EQ(p.stop_reason, "budget");
    tokens += p.tokens.size();
  }
  EXPECT_EQ(tokens, 7u);
  EXPECT_EQ(target.open_sequences(), 0);
}

TEST(PathRunner, SelfConsistencyForksThePromptAndVotes) {
  // Probability 1 on one token: every sample is the same path, so the vote is 3 to 0.
  ScriptedTarget target([](const std::vector<token_id>& g) {
    return g.size() < 2 ? peaked(3, 1.0f) : peaked(kEog, 1.0f);
  });
  auto r = run("sc:3", target);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->paths.size(), 3u);
  EXPECT_EQ(r->cost.forks, 2);        // two forks of the prompt; the third path takes it over
  EXPECT_EQ(r->cost.peak_live, 3);
  EXPECT_EQ(r->cost.decode_calls, 3);  // prefill + two batched steps of three paths
  ASSERT_EQ(r->vote.tallies.size(), 1u);
  EXPECT_EQ(r->vote.tallies[0].answer, "dd");
  EXPECT_EQ(r->vote.tallies[0].count, 3);
  for (const auto& step : target.steps) EXPECT_EQ(step.size(), 3u);  // all paths in one batch
}

// A fork at the first generated token: 'a' (0.55) or 'b' (0.40). After 'a' the path writes "ax",
// after 'b' it writes "by"; then end of generation.
std::vector<float> fork_once(const std::vector<token_id>& g) {
  if (g.empty()) {
    std::vector<float> p(ScriptedTarget::kVocab, 0.01f);
    p[0] = 0.55f;
    p[1] = 0.40f;
    p[kEog] = 0.0f;
    return p;
  }
  if (g.size() == 1) return peaked(g[0] == 0 ? 5 : 6);
  return peaked(kEog);
}

void fork_params(StrategyParams& p) {
  p.branch.detector.entropy_threshold_nats = 0.5f;
  p.branch.min_fork_distance = 0;
}

TEST(Branch, ForksAtTheKeyTokenIntoTheNextAlternative) {
  ScriptedTarget target(fork_once);
  auto r = run("branch", target, fork_params);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->forks.size(), 1u);
  const ForkPoint& f = r->forks[0];
  EXPECT_EQ(f.path, 0);
  EXPECT_EQ(f.index, 0);
  ASSERT_GE(f.alternatives.size(), 2u);
  EXPECT_EQ(f.alternatives[0].id, 0);  // the parent keeps its top-1 token
  EXPECT_EQ(f.alternatives[0].path, 0);
  EXPECT_EQ(f.alternatives[1].id, 1);
  EXPECT_EQ(f.alternatives[1].path, 1);
  EXPECT_NEAR(f.alternatives[1].prob, 0.40f, 1e-5);  // the script's probabilities sum to 1
  ASSERT_EQ(r->paths.size(), 2u);
  EXPECT_EQ(r->paths[0].text, "af");
  // The forced alternative is the child's first token, and the token it decodes next follows
  // the script after that alternative.
  EXPECT_EQ(r->paths[1].parent, 0);
  EXPECT_EQ(r->paths[1].fork_index, 0);
  EXPECT_EQ(r->paths[1].tokens, (std::vector<token_id>{1, 6}));
  EXPECT_EQ(r->paths[1].text, "bg");
  EXPECT_TRUE(r->paths[0].key[0]);
  // Both paths decode in the same batch after the fork.
  ASSERT_FALSE(target.steps.empty());
  EXPECT_EQ(target.steps[0].size(), 2u);
  EXPECT_EQ(target.open_sequences(), 0);
}

TEST(Branch, ATiedVoteGoesToTheLowestPath) {
  ScriptedTarget target(fork_once);
  auto r = run("branch", target, fork_params);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->vote.tallies.size(), 2u);
  EXPECT_EQ(r->vote.tallies[0].count, 1);
  EXPECT_EQ(r->vote.tallies[1].count, 1);
  EXPECT_EQ(*r->vote.answer, "af");
  EXPECT_EQ(r->vote.chosen_path, 0);
}

TEST(Branch, RespectsMaxPathsAndTheForkDistance) {
  // Every position is uncertain: the detector fires at every step.
  ScriptedTarget target([](const std::vector<token_id>& g) {
    if (g.size() >= 6) return peaked(kEog);
    std::vector<float> p(ScriptedTarget::kVocab, 0.0f);
    p[2] = 0.5f;
    p[3] = 0.5f;
    return p;
  });
  auto r = run("branch", target, [](StrategyParams& p) {
    p.branch.detector.entropy_threshold_nats = 0.5f;
    p.branch.min_fork_distance = 2;
    p.branch.max_paths = 3;
    p.branch.max_live = 3;
    p.branch.prune_gap_nats = 0.0f;
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths.size(), 3u);
  EXPECT_EQ(r->cost.forks, 2);
  // Forks on one path are at least min_fork_distance tokens apart.
  std::map<int, int> last;
  for (const ForkPoint& f : r->forks) {
    if (last.count(f.path) != 0) {
      EXPECT_GE(f.index - last[f.path], 2);
    }
    last[f.path] = f.index;
  }
  for (const PathResult& p : r->paths) EXPECT_EQ(p.stop_reason, "eog");
}

TEST(Branch, PrunesAPathThatTrailsTheBestByMoreThanTheGap) {
  // After 'b' every token has probability 0.2, after 'a' 0.99. With 4 tokens each, the child's
  // mean logprob is (ln 0.40 + 3 ln 0.2) / 4 = -1.44 and the parent's (ln 0.55 + 3 ln 0.99) / 4
  // = -0.16: a gap of 1.28 nats, over the 1.0 allowed.
  ScriptedTarget target([](const std::vector<token_id>& g) {
    if (g.empty()) return fork_once(g);
    if (g.size() > 12) return peaked(kEog);
    return g[0] == 0 ? peaked(4) : peaked(4, 0.2f);
  });
  auto r = run("branch", target, [](StrategyParams& p) {
    p.branch.detector.entropy_threshold_nats = 0.5f;
    p.branch.min_fork_distance = 0;
    p.branch.max_paths = 2;
    p.branch.max_live = 2;
    p.branch.prune_gap_nats = 1.0f;
    p.branch.prune_min_tokens = 4;
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->paths.size(), 2u);
  EXPECT_EQ(r->paths[0].stop_reason, "eog");
  EXPECT_EQ(r->paths[1].stop_reason, "pruned");
  EXPECT_FALSE(r->paths[1].votes);
  // Pruned as soon as it holds prune_min_tokens of its own.
  EXPECT_EQ(r->paths[1].tokens.size(), 4u);
  EXPECT_EQ(r->vote.tallies.size(), 1u);
  EXPECT_EQ(target.open_sequences(), 0);
}

// A fork at the first token ('a' 0.55 or 'b' 0.40) that only changes the wording: after either,
// the text goes on c, d, e, c, d, e, ... (the same tokens, one position later after 'b' when
// `late`), then ends at 12 tokens. With merge_after 3 the child closes as soon as its last three
// tokens repeat the parent's, without a vote; the parent decodes to the end.
std::vector<float> reworded(const std::vector<token_id>& g, bool late) {
  if (g.empty()) return fork_once(g);
  if (g.size() >= 12) return peaked(kEog);
  const int lag = late && g[0] == 1 ? 1 : 0;
  const int i = static_cast<int>(g.size()) - 1 - lag;
  return peaked(i < 0 ? 4 : 2 + i % 3);
}

// One fork into two paths, a child merging after three tokens that repeat its parent's.
void two_paths_merging_after_3(StrategyParams& p) {
  fork_params(p);
  p.branch.max_paths = 2;
  p.branch.max_live = 2;
  p.branch.merge_after = 3;
}

TEST(Branch, APathThatRejoinsItsParentsTextMerges) {
  for (const bool late : {false, true}) {
    SCOPED_TRACE(late ? "rejoins a position later" : "rejoins in step");
    ScriptedTarget target([late](const std::vector<token_id>& g) { return reworded(g, late); });
    auto r = run("branch", target, two_paths_merging_after_3);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->paths.size(), 2u);
    EXPECT_EQ(r->paths[0].stop_reason, "eog");
    EXPECT_EQ(r->paths[0].tokens.size(), 12u);
    EXPECT_EQ(r->paths[1].stop_reason, "merged");
    EXPECT_FALSE(r->paths[1].votes);
    // 'b' then three tokens of its own that the parent also wrote (one more when late: the
    // first token after 'b' is the filler the parent never wrote).
    EXPECT_EQ(r->paths[1].tokens.size(), late ? 5u : 4u);
    EXPECT_EQ(r->vote.tallies.size(), 1u);
    EXPECT_EQ(target.open_sequences(), 0);
  }
  // Off (the default): the child decodes to the end and votes.
  ScriptedTarget target([](const std::vector<token_id>& g) { return reworded(g, false); });
  auto r = run("branch", target, [](StrategyParams& p) {
    fork_params(p);
    p.branch.max_paths = 2;
    p.branch.max_live = 2;
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths[1].stop_reason, "eog");
  EXPECT_TRUE(r->paths[1].votes);
}

// A fork at the first token into text that comes back to the parent's far from the ±2 positions
// of a reworded token: after 'a' the parent writes kSentence; after 'b' the child either first
// writes five fillers ('b' again) and then kSentence (verbose: behind the parent) or skips the
// sentence's first three tokens (concise: ahead of it). Every three consecutive tokens of
// kSentence are unique, so a match of three says where the texts rejoined.
const std::vector<token_id> kSentence = {2, 3, 4, 5, 6, 2, 4, 6, 3, 5, 2, 5, 3, 6, 4, 2, 6, 5, 4, 3};

std::vector<float> rejoining(const std::vector<token_id>& g, bool verbose) {
  if (g.empty()) return fork_once(g);
  std::size_t i = g.size() - 1;  // the sentence's index for the parent
  if (g[0] == 1) {
    if (verbose && g.size() < 6) return peaked(1);
    i = verbose ? g.size() - 6 : g.size() + 2;
  }
  return i < kSentence.size() ? peaked(kSentence[i]) : peaked(kEog);
}

TEST(Branch, AChildThatRejoinsItsParentsTextEarlierOrLaterMerges) {
  std::vector<std::vector<token_id>> windows;
  for (std::size_t i = 0; i + 3 <= kSentence.size(); ++i) {
    windows.emplace_back(kSentence.begin() + i, kSentence.begin() + i + 3);
  }
  std::sort(windows.begin(), windows.end());
  ASSERT_EQ(std::unique(windows.begin(), windows.end()), windows.end());
  for (const bool verbose : {true, false}) {
    SCOPED_TRACE(verbose ? "behind the parent" : "ahead of the parent");
    ScriptedTarget target([verbose](const std::vector<token_id>& g) { return rejoining(g, verbose); });
    auto r = run("branch", target, two_paths_merging_after_3);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->paths.size(), 2u);
    EXPECT_EQ(r->paths[0].tokens.size(), kSentence.size() + 1);
    EXPECT_EQ(r->paths[1].stop_reason, "merged");
    // Behind: 'b', five fillers, then the sentence's first three tokens, found in the parent's
    // text. Ahead: 'b' and sentence tokens 3..8, which hold the parent's last three (4..6).
    EXPECT_EQ(r->paths[1].tokens.size(), verbose ? 9u : 7u);
    EXPECT_EQ(target.open_sequences(), 0);
  }
}

TEST(PathRunner, AFullKvPoolEndsThePendingPaths) {
  ScriptedTarget target([](const std::vector<token_id>&) { return peaked(1, 1.0f); }, 256, 16,
                        /*kv_cells=*/2 + 6);
  auto r = run("sc:2", target);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (const PathResult& p : r->paths) EXPECT_EQ(p.stop_reason, "kv_full");
  // Two prompt cells, then three steps of two paths fill the pool; the fourth step cannot fit.
  EXPECT_EQ(r->paths[0].tokens.size(), 4u);
  EXPECT_EQ(target.open_sequences(), 0);
  EXPECT_EQ(target.cells_in_use(), 0);
}

TEST(PathRunner, TheEndOfTheContextEndsAPath) {
  ScriptedTarget target([](const std::vector<token_id>&) { return peaked(1, 1.0f); }, /*n_ctx=*/6);
  auto r = run("greedy", target);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths[0].stop_reason, "context");
  // Two prompt tokens and four decoded ones fill six positions; the fifth token has no room.
  EXPECT_EQ(r->paths[0].tokens.size(), 5u);
}

TEST(PathRunner, APromptThatLeavesNoRoomIsAClearError) {
  ScriptedTarget target(abc, /*n_ctx=*/2);
  auto r = run("greedy", target);
  EXPECT_EQ(r.status().code(), StatusCode::context_overflow);
  EXPECT_EQ(r.status().message(), "the prompt is 2 tokens but the context holds 2 with room needed to "
                                  "generate; raise --ctx or shorten the prompt");
  EXPECT_EQ(target.open_sequences(), 0);
}

TEST(PathRunner, TooFewSequencesIsAClearError) {
  ScriptedTarget target(abc, 256, /*n_seq_max=*/2);
  auto r = run("sc:4", target);
  EXPECT_EQ(r.status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(r.status().message(), "strategy sc:4 needs a session with n_seq_max >= 4; it has 2");
}

TEST(PathRunner, ADecodeFailureClosesEverySequence) {
  ScriptedTarget target([](const std::vector<token_id>&) { return peaked(1, 1.0f); });
  target.fail_at_step = 2;
  auto r = run("sc:3", target);
  EXPECT_EQ(r.status().code(), StatusCode::internal);
  EXPECT_EQ(r.status().message(), "scripted decode failure");
  EXPECT_EQ(target.open_sequences(), 0);
  EXPECT_EQ(target.cells_in_use(), 0);
}

TEST(DeepConf, TracesBelowTheWarmupBarStopAndDoNotVote) {
  // The first token is a coin flip between 'a' and 'b'. After 'a' the trace is confident, after
  // 'b' it is not; each trace then writes 8 tokens.
  const auto script = [](const std::vector<token_id>& g) {
    if (g.empty()) {
      std::vector<float> p(ScriptedTarget::kVocab, 0.0f);
      p[0] = 0.5f;
      p[1] = 0.5f;
      return p;
    }
    if (g.size() > 8) return peaked(kEog, 1.0f);
    return g[0] == 0 ? peaked(2, 0.99f) : peaked(3, 0.4f);
  };
  // The first seed whose 4 warm-up traces are all confident (so the bar sits at their level) and
  // whose later traces include an unsure one: that one must stop. The search is deterministic.
  int stopped = 0;
  for (std::uint32_t seed = 1; seed <= 64 && stopped == 0; ++seed) {
    ScriptedTarget target(script);
    StrategyParams p = parse_strategy("deepconf:8").value();
    p.sampling = SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed};
    p.deepconf.warmup = 4;
    p.deepconf.window = 4;
    p.deepconf.top_k = 2;
    // No answers to vote on: agreeing warm-up traces cannot settle the run early.
    GenerateRequest req{.prompt = "hi", .extract = [](std::string_view) { return std::optional<std::string>(); }};
    auto r = make_strategy(p).value()->run(target, req);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->paths.size(), 8u);
    EXPECT_EQ(target.open_sequences(), 0);
    bool warmup_confident = true;
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(r->paths[i].stop_reason, "eog") << "seed " << seed;  // warm-up runs to the end
      warmup_confident = warmup_confident && r->paths[i].tokens[0] == 0;
    }
    for (std::size_t i = 4; i < r->paths.size(); ++i) {
      const PathResult& p = r->paths[i];
      if (p.tokens[0] == 0) {
        // A confident trace stays above any bar the warm-up can set.
        EXPECT_EQ(p.stop_reason, "eog") << "seed " << seed << " path " << i;
        EXPECT_TRUE(p.votes);
      } else if (warmup_confident) {
        EXPECT_EQ(p.stop_reason, "low_confidence") << "seed " << seed << " path " << i;
        EXPECT_FALSE(p.votes);
        EXPECT_LT(p.tokens.size(), 9u);  // stopped before its end
        ++stopped;
      }
    }
  }
  EXPECT_GT(stopped, 0) << "no seed in 1..64 gave confident warm-ups and an unsure later trace";
}

}  // namespace
}  // namespace keytok

namespace keytok {
namespace {

using testing::peaked;
using testing::ScriptedTarget;

// "kind:path" per event, for comparing whole sequences.
std::vector<std::string> record_events(const std::string& spec, ScriptedTarget& target,
                                       const std::function<void(StrategyParams&)>& tweak,
                                       Result<GenerationResult>* result) {
  std::vector<std::string> events;
  StrategyParams p = parse_strategy(spec).value();
  if (tweak) tweak(p);
  auto strategy = make_strategy(p).value();
  GenerateRequest req{.prompt = "hi"};
  req.on_event = [&](const StrategyEvent& e) {
    switch (e.kind) {
      case StrategyEventKind::token:
        events.push_back("token:" + std::to_string(e.path) + ":" + std::string(e.piece) +
                         (e.key ? "*" : ""));
        break;
      case StrategyEventKind::fork:
        events.push_back("fork:" + std::to_string(e.path) + ":" +
                         std::to_string(e.fork->alternatives.size()));
        break;
      case StrategyEventKind::path_end:
        events.push_back("end:" + std::to_string(e.path) + ":" + std::string(e.stop_reason));
        break;
      case StrategyEventKind::rollback:
        events.push_back("rollback:" + std::to_string(e.path) + ":" + std::to_string(e.index));
        break;
      case StrategyEventKind::vote:
        events.push_back("vote:" + e.vote->answer.value_or("-"));
        break;
    }
  };
  *result = strategy->run(target, req);
  return events;
}

TEST(StrategyEvents, GreedyStreamsTokensThenTheEndThenTheVote) {
  ScriptedTarget target([](const std::vector<token_id>& g) {
    return g.size() < 3 ? peaked(static_cast<token_id>(g.size())) : peaked(ScriptedTarget::kEog);
  });
  Result<GenerationResult> r = Status::internal("not run");
  const auto events = record_events("greedy", target, {}, &r);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(events, (std::vector<std::string>{"token:0:a", "token:0:b", "token:0:c", "end:0:eog", "vote:abc"}));
}

TEST(StrategyEvents, AForkIsAnnouncedBeforeItsChildrenDecode) {
  ScriptedTarget target(fork_once);
  Result<GenerationResult> r = Status::internal("not run");
  const auto events = record_events("branch", target, fork_params, &r);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // The fork (parent 0, its own token and 7 others considered) comes first, then the child's
  // forced token, then the parent's own token, flagged key.
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].rfind("fork:0:", 0), 0u);
  EXPECT_EQ(events[1], "token:1:b*");  // the same distribution as the parent's: key too
  EXPECT_EQ(events[2], "token:0:a*");
  EXPECT_EQ(events.back(), "vote:af");
  int ends = 0;
  for (const std::string& e : events) ends += e.rfind("end:", 0) == 0 ? 1 : 0;
  EXPECT_EQ(ends, 2);
}

TEST(StrategyEvents, CancellingStopsTheRunAndFreesEverySequence) {
  ScriptedTarget target([](const std::vector<token_id>&) { return peaked(1, 1.0f); });
  std::atomic<bool> cancel{false};
  int tokens = 0;
  auto strategy = make_strategy(parse_strategy("sc:2").value()).value();
  GenerateRequest req{.prompt = "hi"};
  req.cancel = &cancel;
  req.on_event = [&](const StrategyEvent& e) {
    if (e.kind == StrategyEventKind::token && ++tokens == 5) cancel = true;
  };
  auto r = strategy->run(target, req);
  EXPECT_EQ(r.status().code(), StatusCode::aborted);
  EXPECT_EQ(r.status().message(), "the request was cancelled");
  EXPECT_EQ(tokens, 6);  // the round in progress finishes; no step runs after the flag is set
  EXPECT_EQ(target.open_sequences(), 0);
  EXPECT_EQ(target.cells_in_use(), 0);
  EXPECT_EQ(target.abort_flag, nullptr);  // the runner hands the abort flag back
}

}  // namespace
}  // namespace keytok

namespace keytok {
namespace {

TEST(PathRunner, AStopStringEndsThePathAndIsCutFromItsText) {
  // "abcabc..." forever; stop at "ca".
  testing::ScriptedTarget target([](const std::vector<token_id>& g) {
    return testing::peaked(static_cast<token_id>(g.size() % 3));
  });
  auto strategy = make_strategy(parse_strategy("greedy").value()).value();
  GenerateRequest req{.prompt = "hi"};
  req.stop = {"xyz", "ca"};
  auto r = strategy->run(target, req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->paths[0].stop_reason, "stop");
  EXPECT_EQ(r->paths[0].tokens.size(), 4u);  // a b c a: the stop string is complete
  EXPECT_EQ(r->text, "ab");
  EXPECT_EQ(target.open_sequences(), 0);
}

}  // namespace
}  // namespace keytok

namespace keytok {
namespace {

TEST(PathRunner, EveryStrategyFlagsKeyTokensWithTheDetector) {
  // The first position is uncertain (0.55 / 0.40), the rest near-certain.
  for (const char* spec : {"greedy", "sc:2", "deepconf:2", "branch"}) {
    testing::ScriptedTarget target(fork_once);
    StrategyParams p = parse_strategy(spec).value();
    p.branch.detector.entropy_threshold_nats = 0.5f;
    p.branch.max_paths = p.branch.max_live = 1;  // branch: flags, but no fork
    auto strategy = make_strategy(p).value();
    auto r = strategy->run(target, GenerateRequest{.prompt = "hi"});
    ASSERT_TRUE(r.ok()) << spec << ": " << r.status().to_string();
    for (const PathResult& path : r->paths) {
      ASSERT_FALSE(path.key.empty()) << spec;
      EXPECT_TRUE(path.key[0]) << spec;
      for (std::size_t i = 1; i < path.key.size(); ++i) EXPECT_FALSE(path.key[i]) << spec << " token " << i;
    }
  }
}

}  // namespace
}  // namespace keytok
