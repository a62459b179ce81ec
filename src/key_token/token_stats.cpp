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

struct ExpSums {
  double sum = 0.0, sum_x = 0.0, sum_x2 = 0.0;  // sum e^x, sum e^x x, sum e^x x^2
};

// With x = l - max: float exp and float partial sums per block (SIMD-friendly), blocks added in
// double. logits: (n).
KEYTOK_ISA_CLONES ExpSums exp_sums(const float* l, std::size_t n, float max) {
  constexpr std::size_t kBlock = 1024;
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
  return static_cast<token_id>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TokenStats compute_token_stats(std::span<const float> logits, token_id token, int top_k) {
  KEYTOK_ASSERT(!logits.empty(), "empty logits");
  KEYTOK_ASSERT(token >= 0 && static_cast<std::size_t>(token) < logits.size(),
                "token {} outside the vocabulary of {}", token, logits.size());
  const std::size_t n = logits.size();
  const float* l = logits.data();
  const float lt = l[token];

  // Pass 1 (scalar, branch rarely taken): the k best (logit, id) pairs in a small sorted buffer,
  // and the token's rank (tokens strictly more likely, plus equally likely ones with a lower id:
  // argmax order).
  const std::size_t k = std::min(n, std::max<std::size_t>(2, static_cast<std::size_t>(std::max(top_k, 0))));
  auto better = [](const std::pair<float, token_id>& a, const std::pair<float, token_id>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<std::pair<float, token_id>> best_k;  // sorted desc by logit, then asc by id
  best_k.reserve(k + 1);
  for (std::size_t i = 0; i < k; ++i) best_k.emplace_back(l[i], static_cast<token_id>(i));
  std::sort(best_k.begin(), best_k.end(), better);
  float kth = best_k.back().first;
  int rank = 0;
  for (std::size_t i = 0; i < n; ++i) {
    rank += (l[i] > lt) | ((l[i] == lt) & (static_cast<token_id>(i) < token));
    if (i >= k && l[i] > kth) {
      const std::pair<float, token_id> item{l[i], static_cast<token_id>(i)};
      best_k.insert(std::upper_bound(best_k.begin(), best_k.end(), item, better), item);
      best_k.pop_back();
      kth = best_k.back().first;
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
