// compute_token_stats: one max pass, one exp pass, one small top-k selection.
#include "keytok/token_stats.hpp"

#include <algorithm>
#include <cmath>

#include "util/assert.hpp"

namespace keytok {

namespace {

// Pass 2 is most of the per-token cost: an exp over the whole vocabulary. It is compiled once per
// x86-64 level and the best copy is picked when the library loads (GCC function multi-versioning
// through an ifunc), so one binary uses AVX-512 or AVX2 vector expf (glibc's libmvec) where the
// CPU has them and still runs on any x86-64. This replaces -march=native for this file, which
// tied the binary to the build machine (docs/build.md).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define KEYTOK_ISA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KEYTOK_ISA_CLONES
#endif

constexpr std::size_t kBlock = 1024;

// Per-block maxima of l: out has ceil(n / kBlock) entries. A vectorised max per block lets the
// top-k and argmax scans skip every block that cannot hold a better token.
KEYTOK_ISA_CLONES void block_maxima(const float* l, std::size_t n, float* out) {
  for (std::size_t b = 0, j = 0; b < n; b += kBlock, ++j) {
    const std::size_t e = std::min(n, b + kBlock);
    float m = l[b];
    for (std::size_t i = b + 1; i < e; ++i) m = m > l[i] ? m : l[i];
    out[j] = m;
  }
}

std::vector<float> block_maxima(std::span<const float> l) {
  std::vector<float> out((l.size() + kBlock - 1) / kBlock);
  block_maxima(l.data(), l.size(), out.data());
  return out;
}

// The rank of a token with logit lt in argmax order: tokens strictly more likely, plus equally
// likely ones with a lower id. Two counting loops the compiler vectorises.
KEYTOK_ISA_CLONES int rank_of(const float* l, std::size_t n, float lt, std::size_t token) {
  int above = 0;
  for (std::size_t i = 0; i < n; ++i) above += l[i] > lt ? 1 : 0;
  int ties = 0;
  for (std::size_t i = 0; i < token; ++i) ties += l[i] == lt ? 1 : 0;
  return above + ties;
}

struct ExpSums {
  double sum = 0.0, sum_x = 0.0, sum_x2 = 0.0;  // sum e^x, sum e^x x, sum e^x x^2
};

// With x = l - max: float exp and float partial sums per block (SIMD-friendly), blocks added in
// double. logits: (n).
KEYTOK_ISA_CLONES ExpSums exp_sums(const float* l, std::size_t n, float max) {
  ExpSums r;
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t e_end = std::min(n, b + kBlock);
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
    for (std::size_t i = b; i < e_end; ++i) {
      const float x = l[i] - max;
      const float e = std::exp(x);
      s0 += e;
      s1 += e * x;
      s2 += e * x * x;
    }
    r.sum += s0;
    r.sum_x += s1;
    r.sum_x2 += s2;
  }
  return r;
}

}  // namespace

token_id argmax(std::span<const float> logits) {
  KEYTOK_ASSERT(!logits.empty(), "argmax of empty logits");
  // The first block holding the maximum, then the first index in it: the lowest id among ties.
  const std::vector<float> bmax = block_maxima(logits);
  const std::size_t j = static_cast<std::size_t>(std::max_element(bmax.begin(), bmax.end()) - bmax.begin());
  const std::size_t b = j * kBlock, e = std::min(logits.size(), b + kBlock);
  for (std::size_t i = b; i < e; ++i) {
    if (logits[i] == bmax[j]) return static_cast<token_id>(i);
  }
  return static_cast<token_id>(b);  // unreachable: the block's maximum is one of its elements
}

TokenStats compute_token_stats(std::span<const float> logits, token_id token, int top_k) {
  KEYTOK_ASSERT(!logits.empty(), "empty logits");
  KEYTOK_ASSERT(token >= 0 && static_cast<std::size_t>(token) < logits.size(),
                "token {} outside the vocabulary of {}", token, logits.size());
  const std::size_t n = logits.size();
  const float* l = logits.data();
  const float lt = l[token];

  // Pass 1: the token's rank (vectorised counts), and the k best (logit, id) pairs in a small
  // sorted buffer. Blocks whose maximum cannot beat the current k-th best are skipped: a token in
  // a later block has a higher id, so an equal logit never wins there.
  const int rank = rank_of(l, n, lt, static_cast<std::size_t>(token));
  const std::size_t k = std::min(n, std::max<std::size_t>(2, static_cast<std::size_t>(std::max(top_k, 0))));
  auto better = [](const std::pair<float, token_id>& a, const std::pair<float, token_id>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<std::pair<float, token_id>> best_k;  // sorted desc by logit, then asc by id
  best_k.reserve(k + 1);
  for (std::size_t i = 0; i < k; ++i) best_k.emplace_back(l[i], static_cast<token_id>(i));
  std::sort(best_k.begin(), best_k.end(), better);
  float kth = best_k.back().first;
  const std::vector<float> bmax = block_maxima(logits);
  for (std::size_t j = 0; j < bmax.size(); ++j) {
    if (bmax[j] <= kth) continue;
    const std::size_t e = std::min(n, (j + 1) * kBlock);
    for (std::size_t i = std::max(k, j * kBlock); i < e; ++i) {
      if (l[i] > kth) {
        const std::pair<float, token_id> item{l[i], static_cast<token_id>(i)};
        best_k.insert(std::upper_bound(best_k.begin(), best_k.end(), item, better), item);
        best_k.pop_back();
        kth = best_k.back().first;
      }
    }
  }
  const float max = best_k[0].first;

  // Pass 2 (vectorised). With x = l - max and S = sum e^x:
  //   log p = x - log S,  H = log S - E[x],  V = Var[x].
  const ExpSums es = exp_sums(l, n, max);
  const double sum = es.sum, sum_x = es.sum_x, sum_x2 = es.sum_x2;
  const double log_sum = std::log(sum);
  const double mean_x = sum_x / sum;
  TokenStats st;
  st.entropy = static_cast<float>(std::max(0.0, log_sum - mean_x));
  st.varentropy = static_cast<float>(std::max(0.0, sum_x2 / sum - mean_x * mean_x));
  st.top1 = best_k[0].second;
  st.top1_prob = static_cast<float>(1.0 / sum);  // e^(max - max) / S
  st.top2_prob = best_k.size() > 1 ? static_cast<float>(std::exp(best_k[1].first - max) / sum) : 0.0f;
  st.margin = st.top1_prob - st.top2_prob;
  const std::size_t keep = std::min(best_k.size(), static_cast<std::size_t>(std::max(top_k, 0)));
  st.top.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) {
    st.top.push_back({best_k[i].second, static_cast<float>(std::exp(best_k[i].first - max) / sum)});
  }
  st.token = token;
  st.rank = rank;
  st.logprob = static_cast<float>(static_cast<double>(lt - max) - log_sum);
  return st;
}

}  // namespace keytok
