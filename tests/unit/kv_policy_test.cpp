// KV eviction policies without a model: which cells each policy drops (kv/eviction.hpp), the
// parameters' validation and the budget parser (keytok/kv_policy.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "keytok/kv_policy.hpp"
#include "keytok/session.hpp"
#include "kv/eviction.hpp"

namespace keytok {
namespace {

using detail::choose_evictions;
using detail::KvCell;
using Picks = std::vector<std::size_t>;

// n cells at positions 0..n-1 with the given importances (0 past the list) and unit ends.
std::vector<KvCell> make_cells(std::size_t n, const std::vector<float>& importance = {},
                               const std::set<std::size_t>& unit_ends = {}) {
  std::vector<KvCell> cells(n);
  for (std::size_t i = 0; i < n; ++i) {
    cells[i].position = static_cast<pos>(i);
    cells[i].id = static_cast<std::int64_t>(i);
    cells[i].importance = i < importance.size() ? importance[i] : 0.0f;
    cells[i].unit_end = unit_ends.count(i) > 0;
  }
  return cells;
}

KvPolicyParams params(KvPolicy policy, int sinks, int window, int max_unit = 48) {
  return {.policy = policy, .budget = 1000, .sinks = sinks, .window = window, .max_unit = max_unit};
}

// ---- window ----------------------------------------------------------------------------------

TEST(KvEviction, WindowEvictsTheOldestCellsAfterTheSinks) {
  const auto cells = make_cells(10);
  std::mt19937_64 rng(1);
  const KvPolicyParams p = params(KvPolicy::window, 3, /*window ignored*/ 5);
  EXPECT_EQ(p.protected_tail(), 1);
  EXPECT_EQ(choose_evictions(cells, 1, p, rng), (Picks{3}));
  EXPECT_EQ(choose_evictions(cells, 4, p, rng), (Picks{3, 4, 5, 6}));
  // All it may take: everything but the 3 sinks and the newest cell.
  EXPECT_EQ(choose_evictions(cells, 6, p, rng), (Picks{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(choose_evictions(cells, 0, p, rng), Picks{});
  // Without sinks it starts at the first cell.
  EXPECT_EQ(choose_evictions(cells, 2, params(KvPolicy::window, 0, -1), rng), (Picks{0, 1}));
}

TEST(KvEviction, WindowIgnoresImportance) {
  const auto cells = make_cells(8, {0, 0, 9, 9, 0, 0, 0, 0});
  std::mt19937_64 rng(1);
  EXPECT_EQ(choose_evictions(cells, 2, params(KvPolicy::window, 2, -1), rng), (Picks{2, 3}));
}

TEST(KvEviction, FullEvictsNothing) {
  const auto cells = make_cells(8);
  std::mt19937_64 rng(1);
  EXPECT_EQ(choose_evictions(cells, 0, params(KvPolicy::full, 0, 0), rng), Picks{});
}

// ---- keytoken --------------------------------------------------------------------------------

TEST(KvEviction, KeytokenEvictsTheLowestImportanceOlderFirstOnTies) {
  // Sinks 0..1 and the recent window 9..11 have the lowest importance of all: never taken.
  //                             sinks   evictable 2..8                 window 9..11
  const auto cells = make_cells(12, {0, 0, 5, 1, 3, 1, 2, 9, 1, 0, 0, 0});
  std::mt19937_64 rng(1);
  const KvPolicyParams p = params(KvPolicy::keytoken, 2, 3);
  EXPECT_EQ(p.protected_tail(), 3);
  EXPECT_EQ(choose_evictions(cells, 1, p, rng), (Picks{3}));
  EXPECT_EQ(choose_evictions(cells, 2, p, rng), (Picks{3, 5}));     // three tie at 1: the older two
  EXPECT_EQ(choose_evictions(cells, 3, p, rng), (Picks{3, 5, 8}));
  EXPECT_EQ(choose_evictions(cells, 4, p, rng), (Picks{3, 5, 6, 8}));  // then 2
  EXPECT_EQ(choose_evictions(cells, 5, p, rng), (Picks{3, 4, 5, 6, 8}));
  EXPECT_EQ(choose_evictions(cells, 7, p, rng), (Picks{2, 3, 4, 5, 6, 7, 8}));
}

TEST(KvEviction, KeytokenKeepsTheNewestCellWithAWindowOfZero) {
  const auto cells = make_cells(6, {9, 5, 4, 3, 2, 0});
  std::mt19937_64 rng(1);
  EXPECT_EQ(choose_evictions(cells, 2, params(KvPolicy::keytoken, 1, 0), rng), (Picks{3, 4}));
  EXPECT_EQ(choose_evictions(cells, 4, params(KvPolicy::keytoken, 1, 0), rng), (Picks{1, 2, 3, 4}));
}

TEST(KvEviction, KeytokenKeepsCellsOfUnknownImportance) {
  const float u = detail::kUnknownImportance;
  const auto cells = make_cells(10, {u, 2, u, 3, 1, 4, u, 0, 0, 0});
  std::mt19937_64 rng(1);
  // sinks 1, window 2: evictable 1..7; the unknown ones (2, 6) go last.
  EXPECT_EQ(choose_evictions(cells, 4, params(KvPolicy::keytoken, 1, 2), rng), (Picks{1, 3, 4, 7}));
  EXPECT_EQ(choose_evictions(cells, 6, params(KvPolicy::keytoken, 1, 2), rng), (Picks{1, 2, 3, 4, 5, 7}));
}

TEST(KvEviction, KeytokenWindowDefaultsToThreeQuartersOfTheBudget) {
  // window -1: protected_tail = 3 * budget / 4 = 12 with budget 16.
  const auto cells = make_cells(16, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  KvPolicyParams p{.policy = KvPolicy::keytoken, .budget = 16, .sinks = 2, .window = -1};
  std::mt19937_64 rng(1);
  const Picks all = choose_evictions(cells, 2, p, rng);  // 16 - 2 sinks - 12 recent
  EXPECT_EQ(all, (Picks{2, 3}));
}

// ---- chunk -----------------------------------------------------------------------------------

TEST(KvEviction, ChunkEvictsWholeUnitsLowestMeanFirst) {
  // sinks 0..1, window 12..13, evictable 2..11 with max_unit 3: the units are [2,4) (ends at the
  // unit_end cell 3), [4,7) (unit_end 6), [7,10) (max_unit) and [10,12) (the span's end).
  //                 sinks  [2,4) mean 5  [4,7) mean 1   [7,10) mean 3   [10,12) mean 1  window
  std::vector<float> imp = {0, 0, 4, 6, 0, 1, 2, 3, 3, 3, 0.5f, 1.5f, 0, 0};
  const auto cells = make_cells(14, imp, {1, 3, 6});
  std::mt19937_64 rng(1);
  const KvPolicyParams p = params(KvPolicy::chunk, 2, 2, 3);
  EXPECT_EQ(choose_evictions(cells, 1, p, rng), (Picks{4, 5, 6}));    // one whole unit, more than asked
  EXPECT_EQ(choose_evictions(cells, 3, p, rng), (Picks{4, 5, 6}));
  EXPECT_EQ(choose_evictions(cells, 4, p, rng), (Picks{4, 5, 6, 10, 11}));  // the tie: older first
  EXPECT_EQ(choose_evictions(cells, 6, p, rng), (Picks{4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(choose_evictions(cells, 10, p, rng), (Picks{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(KvEviction, ChunkUnitsAreWholeOnRandomInputs) {
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t n = 10 + gen() % 60;
    const int sinks = static_cast<int>(gen() % 5);
    const int window = static_cast<int>(gen() % 5);
    const int max_unit = 1 + static_cast<int>(gen() % 8);
    std::vector<float> imp(n);
    std::set<std::size_t> ends;
    for (std::size_t i = 0; i < n; ++i) {
      imp[i] = static_cast<float>(gen() % 7);
      if (gen() % 4 == 0) ends.insert(i);
    }
    const auto cells = make_cells(n, imp, ends);
    // The newest cell is always kept, even with a window of 0.
    const std::size_t lo = static_cast<std::size_t>(sinks), hi = n - static_cast<std::size_t>(std::max(1, window));
    const std::size_t need = 1 + gen() % (hi - lo);
    std::mt19937_64 rng(1);
    const KvPolicyParams p = params(KvPolicy::chunk, sinks, window, max_unit);
    const Picks got = choose_evictions(cells, need, p, rng);
    SCOPED_TRACE("trial " + std::to_string(trial));
    ASSERT_TRUE(std::is_sorted(got.begin(), got.end()));
    ASSERT_EQ(std::adjacent_find(got.begin(), got.end()), got.end());
    ASSERT_GE(got.size(), need);
    ASSERT_LT(got.size(), need + static_cast<std::size_t>(max_unit));
    ASSERT_GE(got.front(), lo);
    ASSERT_LT(got.back(), hi);
    // The same unit split, written here: each unit is all in or all out.
    const std::set<std::size_t> taken(got.begin(), got.end());
    std::size_t begin = lo;
    for (std::size_t i = lo; i < hi; ++i) {
      if (cells[i].unit_end || i + 1 - begin >= static_cast<std::size_t>(max_unit) || i + 1 == hi) {
        const bool first_in = taken.count(begin) > 0;
        for (std::size_t k = begin; k <= i; ++k) ASSERT_EQ(taken.count(k) > 0, first_in) << "unit at " << begin;
        begin = i + 1;
      }
    }
  }
}

// ---- random ----------------------------------------------------------------------------------

TEST(KvEviction, RandomNeverTakesProtectedCellsAndRepeatsForASeed) {
  const auto cells = make_cells(20);
  const KvPolicyParams p = params(KvPolicy::random, 4, 5);  // evictable 4..14
  std::mt19937_64 a(42), b(42), c(43);
  bool differs = false;
  for (int round = 0; round < 200; ++round) {
    const std::size_t need = 1 + static_cast<std::size_t>(round % 11);
    const Picks pa = choose_evictions(cells, need, p, a);
    const Picks pb = choose_evictions(cells, need, p, b);
    const Picks pc = choose_evictions(cells, need, p, c);
    ASSERT_EQ(pa, pb) << "round " << round;
    ASSERT_EQ(pa.size(), need);
    ASSERT_TRUE(std::is_sorted(pa.begin(), pa.end()));
    ASSERT_EQ(std::adjacent_find(pa.begin(), pa.end()), pa.end());
    ASSERT_GE(pa.front(), 4u);
    ASSERT_LE(pa.back(), 14u);
    differs = differs || pa != pc;
  }
  EXPECT_TRUE(differs) << "seeds 42 and 43 made the same 200 choices";
}

TEST(KvEviction, RandomIsRoughlyUniform) {
  const auto cells = make_cells(20);
  const KvPolicyParams p = params(KvPolicy::random, 4, 5);  // 11 evictable cells: 4..14
  std::mt19937_64 rng(9);
  // One cell at a time: 2000 draws each expected; sd about 43, so +-200 is about 4.6 sd.
  std::map<std::size_t, int> one;
  for (int i = 0; i < 22000; ++i) ++one[choose_evictions(cells, 1, p, rng)[0]];
  ASSERT_EQ(one.size(), 11u);
  for (const auto& [cell, n] : one) EXPECT_NEAR(n, 2000, 200) << "cell " << cell;
  // Three at a time: each cell is in 3/11 of the draws (3000 of 11000; sd about 47).
  std::map<std::size_t, int> three;
  for (int i = 0; i < 11000; ++i) {
    for (std::size_t c : choose_evictions(cells, 3, p, rng)) ++three[c];
  }
  ASSERT_EQ(three.size(), 11u);
  for (const auto& [cell, n] : three) EXPECT_NEAR(n, 3000, 250) << "cell " << cell;
}

TEST(KvEvictionDeathTest, AskingForMoreThanTheEvictableCellsIsAProgrammerError) {
  const auto cells = make_cells(10);
  std::mt19937_64 rng(1);
  // sinks 3 + newest 1 leave 6.
  EXPECT_DEATH(choose_evictions(cells, 7, params(KvPolicy::window, 3, -1), rng), "asked to evict 7 of 6");
}

// ---- ends_unit -------------------------------------------------------------------------------

TEST(KvEviction, EndsUnitAtSentenceEndsAndLineBreaks) {
  for (const char* piece : {".", " end.", "end.  ", "!", "?", ";", ":", "\n", "a\nb", "\n\n", " x.\t", "\r\n"}) {
    EXPECT_TRUE(detail::ends_unit(piece)) << "'" << piece << "'";
  }
  for (const char* piece : {"", " ", "\t", "abc", ",", " the", ".)", "3.5x", "\"", "-"}) {
    EXPECT_FALSE(detail::ends_unit(piece)) << "'" << piece << "'";
  }
}

// ---- KvPolicyParams --------------------------------------------------------------------------

TEST(KvPolicyParams, ValidateNeedsABudgetForAnEvictingPolicy) {
  for (KvPolicy policy : {KvPolicy::window, KvPolicy::keytoken, KvPolicy::chunk, KvPolicy::random}) {
    const KvPolicyParams p{.policy = policy, .budget = 0};
    const Status st = p.validate();
    EXPECT_EQ(st.code(), StatusCode::invalid_argument);
    EXPECT_EQ(st.message(), std::string("the KV budget must be at least 1 cell for policy ") +
                                kv_policy_name(policy) + " (got 0); pass --kv-budget");
  }
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::keytoken, .budget = -5}).validate().message(),
            "the KV budget must be at least 1 cell for policy keytoken (got -5); pass --kv-budget");
  // full needs none.
  EXPECT_TRUE(KvPolicyParams{}.validate().ok());
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::full, .budget = 0, .sinks = -1}).validate().ok());
}

TEST(KvPolicyParams, ValidateNeedsRoomBesideSinksAndWindow) {
  const KvPolicyParams small{.policy = KvPolicy::keytoken, .budget = 8, .sinks = 4, .window = 4};
  const Status st = small.validate();
  EXPECT_EQ(st.code(), StatusCode::invalid_argument);
  EXPECT_EQ(st.message(),
            "a KV budget of 8 cells leaves nothing to evict beside the 4 sink cells and the 4 recent ones "
            "policy keytoken always keeps; raise --kv-budget to at least 9 or lower --kv-sinks / --kv-window");
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::keytoken, .budget = 9, .sinks = 4, .window = 4}).validate().ok());
  // window keeps only the newest cell beside the sinks, whatever --kv-window says.
  const Status w = KvPolicyParams({.policy = KvPolicy::window, .budget = 5, .sinks = 4, .window = 100}).validate();
  EXPECT_EQ(w.message(),
            "a KV budget of 5 cells leaves nothing to evict beside the 4 sink cells and the 1 recent ones "
            "policy window always keeps; raise --kv-budget to at least 6 or lower --kv-sinks / --kv-window");
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::window, .budget = 6, .sinks = 4}).validate().ok());
  // The default window is three quarters of the budget: 4 + 12 + 1 > 16, 4 + 15 + 1 <= 20.
  EXPECT_FALSE(KvPolicyParams({.policy = KvPolicy::random, .budget = 16, .sinks = 4}).validate().ok());
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::random, .budget = 20, .sinks = 4}).validate().ok());
  // Even with no sinks and no window the newest cell stays: a budget of 1 has nothing to evict.
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::chunk, .budget = 1, .sinks = 0, .window = 0}).validate().message(),
            "a KV budget of 1 cells leaves nothing to evict beside the 0 sink cells and the 1 recent ones "
            "policy chunk always keeps; raise --kv-budget to at least 2 or lower --kv-sinks / --kv-window");
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::chunk, .budget = 2, .sinks = 0, .window = 0}).validate().ok());
}

TEST(KvPolicyParams, ValidateNamesBadKnobs) {
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::window, .budget = 64, .sinks = -1}).validate().message(),
            "the number of sink cells must be >= 0");
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::keytoken, .budget = 64, .window = -2}).validate().message(),
            "the recent window must be >= 0 cells (-1 = 3/4 of the budget)");
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::chunk, .budget = 64, .max_unit = 0}).validate().message(),
            "the longest chunk unit must be >= 1 token");
  // Values near INT_MAX are refused before any sum of them is formed (UBSan checks the overflow).
  constexpr int kHuge = std::numeric_limits<int>::max();
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::keytoken, .budget = 64, .sinks = kHuge}).validate().message(),
            "--kv-sinks and --kv-window must not exceed the KV budget of 64 cells");
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::random, .budget = 64, .window = kHuge}).validate().message(),
            "--kv-sinks and --kv-window must not exceed the KV budget of 64 cells");
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::keytoken, .budget = kHuge}).validate().ok());
  const SessionParams sp{.n_seq_max = 4, .kv = {.policy = KvPolicy::keytoken, .budget = kHuge}};
  EXPECT_EQ(sp.validate().message(),
            "a KV budget of 2147483647 cells for each of 4 sequences is too large; lower --kv-budget");
}

TEST(KvPolicyParams, ProtectedTailAndStep) {
  KvPolicyParams p{.policy = KvPolicy::keytoken, .budget = 64, .sinks = 4};
  EXPECT_EQ(p.protected_tail(), 48);  // 3/4 of the budget
  EXPECT_EQ(p.step(), 8);             // budget / 8
  p.window = 10;
  EXPECT_EQ(p.protected_tail(), 10);
  p.window = 0;  // at least the newest cell: llama.cpp appends after it
  EXPECT_EQ(p.protected_tail(), 1);
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::random, .budget = 1}).protected_tail(), 1);  // 3 / 4 = 0
  p.policy = KvPolicy::window;
  EXPECT_EQ(p.protected_tail(), 1);
  p.policy = KvPolicy::random;
  p.window = 16;
  p.evict_step = 100;  // clamped to what one round can free: 64 - 4 - 16
  EXPECT_EQ(p.step(), 44);
  p.evict_step = 3;
  EXPECT_EQ(p.step(), 3);
  p.evict_step = 0;  // not > 0: the default
  EXPECT_EQ(p.step(), 8);
  // At least 1, even where budget / 8 is 0 or nothing is left to free.
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::random, .budget = 7, .sinks = 0, .window = 0}).step(), 1);
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::random, .budget = 8, .sinks = 4, .window = 4}).step(), 1);
  EXPECT_EQ(KvPolicyParams({.policy = KvPolicy::window, .budget = 6, .sinks = 4, .evict_step = 50}).step(), 1);
}

TEST(KvPolicyParams, PolicyAndImportanceNames) {
  for (KvPolicy p : {KvPolicy::full, KvPolicy::window, KvPolicy::keytoken, KvPolicy::chunk, KvPolicy::random}) {
    EXPECT_EQ(parse_kv_policy(kv_policy_name(p)), p);
  }
  EXPECT_EQ(parse_kv_policy("Window"), std::nullopt);
  EXPECT_EQ(parse_kv_policy(""), std::nullopt);
  EXPECT_EQ(kv_policy_names(), "full, window, keytoken, chunk or random");
  EXPECT_EQ(parse_kv_importance("entropy"), KvImportance::entropy);
  EXPECT_EQ(parse_kv_importance("surprisal"), KvImportance::surprisal);
  EXPECT_EQ(parse_kv_importance("attention"), std::nullopt);
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::chunk}).scores());
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::keytoken}).scores());
  EXPECT_FALSE(KvPolicyParams({.policy = KvPolicy::random}).scores());
  EXPECT_FALSE(KvPolicyParams({.policy = KvPolicy::full}).evicts());
  EXPECT_TRUE(KvPolicyParams({.policy = KvPolicy::window}).evicts());
}

// ---- budgets ---------------------------------------------------------------------------------

TEST(KvBudget, ParsesCellsAndFractions) {
  const KvBudget cells = parse_kv_budget("4096").value();
  EXPECT_FALSE(cells.is_fraction());
  EXPECT_EQ(cells.cells, 4096);
  EXPECT_EQ(cells.to_string(), "4096");
  EXPECT_EQ(parse_kv_budget("1").value().cells, 1);
  EXPECT_FALSE(parse_kv_budget("1").value().is_fraction());

  const KvBudget pct = parse_kv_budget("25%").value();
  EXPECT_TRUE(pct.is_fraction());
  EXPECT_DOUBLE_EQ(pct.fraction, 0.25);
  EXPECT_EQ(pct.to_string(), "25%");
  const KvBudget dec = parse_kv_budget("0.25").value();
  EXPECT_TRUE(dec.is_fraction());
  EXPECT_DOUBLE_EQ(dec.fraction, 0.25);
  EXPECT_EQ(dec.to_string(), "25%");
  EXPECT_DOUBLE_EQ(parse_kv_budget("100%").value().fraction, 1.0);
  EXPECT_DOUBLE_EQ(parse_kv_budget("1.0").value().fraction, 1.0);
  EXPECT_EQ(parse_kv_budget("12.5%").value().to_string(), "12.5%");
}

TEST(KvBudget, RejectsAnythingElseSayingWhatIsAccepted) {
  for (const char* bad : {"0", "-3", "150%", "abc", "25%x", "1.5", "", "%", "0%", "0.0", "-25%", "25 %", " 25",
                          "4096x", "1e3", "+5", "nan", "inf%", "99999999999"}) {
    const auto r = parse_kv_budget(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "' parsed";
    EXPECT_EQ(r.status().code(), StatusCode::invalid_argument) << bad;
    EXPECT_EQ(r.status().message(), std::string("invalid KV budget '") + bad +
                                        "': give cells (e.g. 4096) or a fraction of the text (e.g. 25% or 0.25)");
  }
}

TEST(KvBudget, ResolvesFractionsUpward) {
  EXPECT_EQ(parse_kv_budget("64").value().resolve(10), 64);       // cells: the text does not matter
  EXPECT_EQ(parse_kv_budget("64").value().resolve(100000), 64);
  EXPECT_EQ(parse_kv_budget("25%").value().resolve(100), 25);
  EXPECT_EQ(parse_kv_budget("25%").value().resolve(101), 26);     // ceil(25.25)
  EXPECT_EQ(parse_kv_budget("25%").value().resolve(3), 1);        // ceil(0.75)
  EXPECT_EQ(parse_kv_budget("0.1").value().resolve(30), 3);       // 0.1 * 30 = 3.0000000000000004: still 3
  EXPECT_EQ(parse_kv_budget("0.7").value().resolve(10), 7);       // 0.7 * 10 = 7.000000000000001
  EXPECT_EQ(parse_kv_budget("100%").value().resolve(777), 777);
  EXPECT_EQ(parse_kv_budget("1%").value().resolve(0), 1);         // at least 1
  EXPECT_EQ(parse_kv_budget("1%").value().resolve(1), 1);
}

}  // namespace
}  // namespace keytok
