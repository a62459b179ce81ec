// TokenStats on synthetic distributions (no model), as llama.cpp's test-sampling.cpp does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "keytok/token_stats.hpp"

namespace keytok {
namespace {

// Reference computation in long double, written independently of the fast path.
struct Ref {
  double entropy, varentropy, logprob;
};
Ref reference(const std::vector<float>& l, int token) {
  long double mx = l[0];
  for (float x : l) mx = std::max<long double>(mx, x);
  long double z = 0;
  for (float x : l) z += std::exp(x - mx);
  long double h = 0, h2 = 0;
  for (float x : l) {
    const long double lp = (x - mx) - std::log(z);
    const long double p = std::exp(lp);
    h -= p * lp;
    h2 += p * lp * lp;
  }
  return {static_cast<double>(h), static_cast<double>(h2 - h * h),
          static_cast<double>((l[token] - mx) - std::log(z))};
}

TEST(TokenStats, UniformOverKTokensHasEntropyLnK) {
  for (int k : {2, 4, 17, 1000}) {
    std::vector<float> logits(k, 3.5f);
    const TokenStats st = compute_token_stats(logits, 1, 5);
    EXPECT_NEAR(st.entropy, std::log(static_cast<double>(k)), 1e-5) << k;
    EXPECT_NEAR(st.varentropy, 0.0, 1e-5) << k;
    EXPECT_NEAR(st.top1_prob, 1.0 / k, 1e-6);
    EXPECT_NEAR(st.margin, 0.0, 1e-6);
    EXPECT_NEAR(st.logprob, -std::log(static_cast<double>(k)), 1e-5);
  }
}

TEST(TokenStats, UniformOverSubsetOfVocabulary) {
  // Four equal tokens, the rest impossible: entropy ln 4.
  std::vector<float> logits(1000, -1e4f);
  for (int i : {10, 20, 30, 40}) logits[i] = 0.0f;
  const TokenStats st = compute_token_stats(logits, 30, 4);
  EXPECT_NEAR(st.entropy, std::log(4.0), 1e-5);
  EXPECT_EQ(st.top1, 10);  // ties: lowest id first
  EXPECT_EQ(st.rank, 2);   // 10 and 20 rank above 30
  ASSERT_EQ(st.top.size(), 4u);
  EXPECT_EQ(st.top[0].id, 10);
  EXPECT_EQ(st.top[3].id, 40);
}

TEST(TokenStats, OneHotHasZeroEntropy) {
  std::vector<float> logits(5000, -1e4f);
  logits[123] = 10.0f;
  const TokenStats st = compute_token_stats(logits, 123, 3);
  EXPECT_NEAR(st.entropy, 0.0, 1e-6);
  EXPECT_NEAR(st.varentropy, 0.0, 1e-6);
  EXPECT_NEAR(st.top1_prob, 1.0, 1e-6);
  EXPECT_NEAR(st.margin, 1.0, 1e-6);
  EXPECT_EQ(st.rank, 0);
  EXPECT_NEAR(st.logprob, 0.0, 1e-6);
}

TEST(TokenStats, MarginAndRankOnKnownDistribution) {
  // p = (0.5, 0.3, 0.2) from logits log p.
  std::vector<float> logits = {std::log(0.2f), std::log(0.5f), std::log(0.3f)};
  const TokenStats st = compute_token_stats(logits, 0, 3);
  EXPECT_EQ(st.top1, 1);
  EXPECT_NEAR(st.top1_prob, 0.5, 1e-6);
  EXPECT_NEAR(st.top2_prob, 0.3, 1e-6);
  EXPECT_NEAR(st.margin, 0.2, 1e-6);
  EXPECT_EQ(st.rank, 2);
  EXPECT_NEAR(st.logprob, std::log(0.2), 1e-6);
  const double h = -(0.5 * std::log(0.5) + 0.3 * std::log(0.3) + 0.2 * std::log(0.2));
  EXPECT_NEAR(st.entropy, h, 1e-6);
  ASSERT_EQ(st.top.size(), 3u);
  EXPECT_EQ(st.top[1].id, 2);
  EXPECT_NEAR(st.top[2].prob, 0.2, 1e-6);
}

TEST(TokenStats, MatchesLongDoubleReferenceOnRandomLogits) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 4.0f);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> logits(49152);
    for (auto& x : logits) x = g(rng);
    const int token = static_cast<int>(rng() % logits.size());
    const TokenStats st = compute_token_stats(logits, token, 5);
    const Ref ref = reference(logits, token);
    EXPECT_NEAR(st.entropy, ref.entropy, 1e-4 * std::max(1.0, ref.entropy));
    EXPECT_NEAR(st.varentropy, ref.varentropy, 1e-3 * std::max(1.0, ref.varentropy));
    EXPECT_NEAR(st.logprob, ref.logprob, 1e-4);
    ASSERT_EQ(st.top.size(), 5u);
    for (std::size_t i = 1; i < st.top.size(); ++i) EXPECT_GE(st.top[i - 1].prob, st.top[i].prob);
    EXPECT_EQ(st.top[0].id, argmax(logits));
  }
}

// Rank, top-k order and argmax against a full sort in argmax order (logit desc, then id asc),
// on vocabularies that are not multiples of the scan's 1,024-token blocks, with many ties
// (logits rounded to a coarse grid) and with the best tokens in late blocks.
TEST(TokenStats, RankTopKAndArgmaxMatchAFullSortWithTies) {
  std::mt19937 rng(11);
  for (std::size_t n : {1u, 2u, 7u, 1023u, 1024u, 1025u, 5000u, 151936u}) {
    for (int trial = 0; trial < 6; ++trial) {
      std::vector<float> l(n);
      std::normal_distribution<float> g(0.0f, 2.0f);
      for (auto& x : l) x = std::round(g(rng) * 2.0f) / 2.0f;  // coarse grid: many ties
      if (trial % 2 == 1) {
        for (std::size_t i = n - std::min<std::size_t>(n, 3); i < n; ++i) l[i] = 20.0f;  // late winners
      }
      std::vector<int> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<int>(i);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
      EXPECT_EQ(argmax(l), order[0]) << "n=" << n;
      const int token = static_cast<int>(rng() % n);
      const int k = 6;
      const TokenStats st = compute_token_stats(l, token, k);
      EXPECT_EQ(st.rank, static_cast<int>(std::find(order.begin(), order.end(), token) - order.begin())) << n;
      EXPECT_EQ(st.top1, order[0]);
      ASSERT_EQ(st.top.size(), std::min<std::size_t>(n, k)) << n;
      for (std::size_t i = 0; i < st.top.size(); ++i) EXPECT_EQ(st.top[i].id, order[i]) << "n=" << n << " i=" << i;
    }
  }
}

TEST(TokenStats, TopKZeroKeepsNoAlternatives) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const TokenStats st = compute_token_stats(logits, 2, 0);
  EXPECT_TRUE(st.top.empty());
  EXPECT_GT(st.margin, 0.0f);  // margin still uses the runner-up
}

}  // namespace
}  // namespace keytok
