// Ancestry-aware voting (issue 13): `tree` weighs each path by the probability of the branches
// its ancestry took, `root` gives each alternative of the first fork one vote, so near-copies of
// one early decision do not outvote the rest of the tree.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "keytok/bench.hpp"
#include "keytok/strategy.hpp"

namespace keytok {
namespace {

PathResult path(int id, int parent, int fork_index, std::optional<std::string> answer, bool votes = true) {
  PathResult p;
  p.id = id;
  p.parent = parent;
  p.fork_index = fork_index;
  p.answer = std::move(answer);
  p.votes = votes;
  return p;
}

ForkPoint fork_at(int forking_path, int index, std::vector<std::pair<float, int>> taken) {
  ForkPoint f{.path = forking_path, .index = index};
  for (const auto& [prob, p] : taken) f.alternatives.push_back({.prob = prob, .path = p});
  return f;
}

// The issue's example: the root (answer 140) forks at token 18 into an alternative (p 0.4 against
// its own 0.6) that answers 14; a child of that path, 6 tokens later (p 0.5 against 0.5),
// repeats 14; a second fork of the root (0.75 / 0.25) answers 7. Majority: 14 wins 2-1-1.
struct IssueTree {
  std::vector<PathResult> paths = {path(0, -1, 0, "140"), path(1, 0, 18, "14"), path(2, 1, 24, "14"),
                                   path(3, 0, 40, "7")};
  std::vector<ForkPoint> forks = {fork_at(0, 18, {{0.6f, 0}, {0.4f, 1}}), fork_at(1, 24, {{0.5f, 1}, {0.5f, 2}}),
                                  fork_at(0, 40, {{0.75f, 0}, {0.25f, 3}})};
};

TEST(VoteTree, TreeWeightsSplitEachForkByTheTakenProbabilities) {
  const IssueTree t;
  const std::vector<double> w = tree_weights(t.paths, t.forks);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_NEAR(w[0], 0.6 * 0.75, 1e-6);
  EXPECT_NEAR(w[1], 0.4 * 0.5, 1e-6);
  EXPECT_NEAR(w[2], 0.4 * 0.5, 1e-6);
  EXPECT_NEAR(w[3], 0.6 * 0.25, 1e-6);
  EXPECT_NEAR(w[0] + w[1] + w[2] + w[3], 1.0, 1e-6);
}

TEST(VoteTree, AlternativesNotTakenDoNotCount) {
  // Three alternatives, only two taken (path -1: skipped for the budget): renormalised over 0.5+0.25.
  const std::vector<PathResult> paths = {path(0, -1, 0, "a"), path(1, 0, 3, "b")};
  const std::vector<ForkPoint> forks = {fork_at(0, 3, {{0.5f, 0}, {0.25f, 1}, {0.25f, -1}})};
  const std::vector<double> w = tree_weights(paths, forks);
  EXPECT_NEAR(w[0], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(w[1], 1.0 / 3.0, 1e-6);
}

TEST(VoteTree, RootGroupsFollowTheFirstForksAlternatives) {
  const IssueTree t;
  EXPECT_EQ(root_groups(t.paths, t.forks), (std::vector<int>{0, 1, 1, 0}));
  // sc-like: independent paths from the prompt are groups of their own; no forks at all.
  const std::vector<PathResult> sc = {path(0, -1, 0, "1"), path(1, -1, 0, "2"), path(2, -1, 0, "1")};
  EXPECT_EQ(root_groups(sc, {}), (std::vector<int>{0, 1, 2}));
}

std::vector<Ballot> ballots_of(const IssueTree& t, CombineRule rule) {
  const std::vector<double> w = tree_weights(t.paths, t.forks);
  const std::vector<int> g = root_groups(t.paths, t.forks);
  std::vector<Ballot> b;
  for (std::size_t i = 0; i < t.paths.size(); ++i) {
    b.push_back({.answer = t.paths[i].answer, .weight = rule == CombineRule::tree ? w[i] : 1.0,
                 .votes = t.paths[i].votes, .group = g[i]});
  }
  return b;
}

TEST(VoteTree, MajorityLetsNearCopiesWinTreeAndRootDoNot) {
  const IssueTree t;
  EXPECT_EQ(combine_ballots(ballots_of(t, CombineRule::majority), CombineRule::majority).answer, "14");
  const Vote tree = combine_ballots(ballots_of(t, CombineRule::tree), CombineRule::tree);
  EXPECT_EQ(tree.answer, "140");  // 0.45 against 0.4 and 0.15
  ASSERT_EQ(tree.tallies.size(), 3u);
  EXPECT_NEAR(tree.tallies[0].weight, 0.45, 1e-6);
  EXPECT_NEAR(tree.tallies[1].weight, 0.4, 1e-6);
  EXPECT_EQ(tree.tallies[1].count, 2);
  EXPECT_EQ(tree.chosen_path, 0);
  // root: group 0 (paths 0 and 3: 140 and 7, a tie broken by the first) votes 140, group 1 votes
  // 14; one vote each, the tie broken by first appearance.
  const Vote root = combine_ballots(ballots_of(t, CombineRule::root), CombineRule::root);
  EXPECT_EQ(root.answer, "140");
  ASSERT_EQ(root.tallies.size(), 2u);
  EXPECT_EQ(root.tallies[0].count, 1);
  EXPECT_EQ(root.tallies[1].answer, "14");
}

TEST(VoteTree, RootVotesOnlyCountedPathsAndFallsBackLikeMajority) {
  IssueTree t;
  t.paths[0].votes = false;  // pruned: group 0 is left with path 3 (7)
  const Vote root = combine_ballots(ballots_of(t, CombineRule::root), CombineRule::root);
  ASSERT_EQ(root.tallies.size(), 2u);
  // Groups vote in the order their first counted path appears: group 1 (14), then group 0 (7);
  // the tie goes to the first.
  EXPECT_EQ(root.answer, "14");
  EXPECT_EQ(root.tallies[1].answer, "7");
  // No answer anywhere: nullopt, the best voting path is still chosen.
  for (PathResult& p : t.paths) p.answer.reset();
  const Vote none = combine_ballots(ballots_of(t, CombineRule::root), CombineRule::root);
  EXPECT_FALSE(none.answer.has_value());
  EXPECT_GE(none.chosen_path, 0);
}

TEST(VoteTree, RevotingATreeCastsTheRunsVoteAndSubsetsOfSamples) {
  GenerationResult g;
  const IssueTree t;
  g.paths = t.paths;
  g.forks = t.forks;
  for (PathResult& p : g.paths) {
    p.tokens.assign(static_cast<std::size_t>(p.fork_index + 10), 0);
    p.stop_reason = "eog";
  }
  const std::string tree = generation_tree_json(g);
  auto vote = [&](const std::string& text, RevoteParams params) { return revote_tree_json(text, params); };
  EXPECT_EQ(vote(tree, {.rule = CombineRule::majority}).value().vote.answer, "14");
  EXPECT_EQ(vote(tree, {.rule = CombineRule::tree}).value().vote.answer, "140");
  EXPECT_EQ(vote(tree, {.rule = CombineRule::root}).value().vote.answer, "140");
  const Revote all = vote(tree, {.rule = CombineRule::tree}).value();
  EXPECT_EQ(all.tokens, 40);  // ten own tokens a path
  EXPECT_TRUE(all.exact);
  // A tree with forks has no first N samples.
  EXPECT_EQ(vote(tree, {.first_paths = 2}).status().code(), StatusCode::invalid_argument);
  // sc:4 as four samples from the prompt: its first two vote 1 and 2, the tie goes to the first.
  GenerationResult sc;
  sc.paths = {path(0, -1, 0, "1"), path(1, -1, 0, "2"), path(2, -1, 0, "2"), path(3, -1, 0, "2")};
  for (PathResult& p : sc.paths) {
    p.tokens.assign(5, 0);
    p.stop_reason = "eog";
  }
  const std::string sc_tree = generation_tree_json(sc);
  EXPECT_EQ(vote(sc_tree, {}).value().vote.answer, "2");
  const Revote two = vote(sc_tree, {.first_paths = 2}).value();
  EXPECT_EQ(two.vote.answer, "1");
  EXPECT_EQ(two.tokens, 10);
  EXPECT_EQ(revote_tree_json("[1,2]").status().code(), StatusCode::format_error);
  EXPECT_EQ(revote_tree_json(R"({"paths":[{"id":3}]})").status().code(), StatusCode::format_error);
}

TEST(VoteTree, RuleNamesParse) {
  EXPECT_EQ(parse_combine_rule("tree").value(), CombineRule::tree);
  EXPECT_EQ(parse_combine_rule("root").value(), CombineRule::root);
  EXPECT_STREQ(combine_rule_name(CombineRule::tree), "tree");
  EXPECT_EQ(parse_combine_rule("trees").status().message(),
            "unknown combine rule 'trees'; use majority, weighted, best, tree or root");
}

TEST(VoteTree, BenchRowsCarryTheTreeThroughAFile) {
  GenerationResult g;
  const IssueTree t;
  g.paths = t.paths;
  g.forks = t.forks;
  const std::string tree = generation_tree_json(g);
  const auto j = nlohmann::json::parse(tree);
  ASSERT_EQ(j["paths"].size(), 4u);
  EXPECT_EQ(j["paths"][2]["parent"], 1);
  EXPECT_EQ(j["paths"][2]["answer"], "14");
  EXPECT_EQ(j["forks"][0]["alternatives"][1]["path"], 1);
  EXPECT_FALSE(j["paths"][0].contains("text"));

  BenchRow row{.task_id = "t1", .strategy = "branch", .correct = true, .answer = "140", .expected = "140",
               .generated_tokens = 10, .paths = 4, .tree = tree};
  const std::string file = std::string(R"({"format":"keytok-bench","version":1,"model":"m"})") + "\n" +
                           bench_row_line(row) + "\n";
  const auto rows = parse_bench_results(file, "mem", "m", nullptr).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(rows[0].tree), j);
  // A row without a tree (one path) has none, and reads back without one.
  row.tree.clear();
  EXPECT_EQ(bench_row_line(row).find("tree"), std::string::npos);
}

}  // namespace
}  // namespace keytok
