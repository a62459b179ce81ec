// compute_token_stats: one max pass, one exp pass, one small top-k selection.
#include "keytok/token_stats.hpp"

#include <algorithm>
#include <cmath>

#include "util/assert.hpp"

namespace keytok {

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
  // Float exp and float partial sums per block (SIMD-friendly), blocks added in double.
  constexpr std::size_t kBlock = 1024;
  double sum = 0.0, sum_x = 0.0, sum_x2 = 0.0;
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
    sum += s0;
    sum_x += s1;
    sum_x2 += s2;
  }
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
