// Eviction choices for each policy (keytok/kv_policy.hpp says what each keeps and why).
#include "kv/eviction.hpp"

#include <algorithm>
#include <numeric>

#include "util/assert.hpp"

namespace keytok::detail {

namespace {

struct Unit {
  std::size_t begin = 0, end = 0;  // [begin, end) in cells
  double mean = 0.0;
};

// Units of cells[lo, hi): each runs to a unit_end cell or max_unit cells.
std::vector<Unit> units_of(std::span<const KvCell> cells, std::size_t lo, std::size_t hi, int max_unit) {
  std::vector<Unit> units;
  std::size_t begin = lo;
  double sum = 0.0;
  for (std::size_t i = lo; i < hi; ++i) {
    sum += static_cast<double>(cells[i].importance);
    const std::size_t len = i + 1 - begin;
    if (cells[i].unit_end || len >= static_cast<std::size_t>(max_unit) || i + 1 == hi) {
      units.push_back({begin, i + 1, sum / static_cast<double>(len)});
      begin = i + 1;
      sum = 0.0;
    }
  }
  return units;
}

}  // namespace

bool ends_unit(std::string_view piece) {
  if (piece.find('\n') != std::string_view::npos) return true;
  const auto last = piece.find_last_not_of(" \t\r\f\v");
  if (last == std::string_view::npos) return false;
  const char c = piece[last];
  return c == '.' || c == '!' || c == '?' || c == ';' || c == ':';
}

std::vector<std::size_t> choose_evictions(std::span<const KvCell> cells, std::size_t need,
                                          const KvPolicyParams& params, std::mt19937_64& rng) {
  const std::size_t n = cells.size();
  const std::size_t lo = std::min(n, static_cast<std::size_t>(std::max(0, params.sinks)));
  const std::size_t tail = static_cast<std::size_t>(std::max(0, params.protected_tail()));
  const std::size_t hi = n > lo + tail ? n - tail : lo;
  KEYTOK_ASSERT(need <= hi - lo, "asked to evict {} of {} evictable cells", need, hi - lo);
  std::vector<std::size_t> out;
  if (need == 0) return out;
  std::vector<std::size_t> idx(hi - lo);
  std::iota(idx.begin(), idx.end(), lo);
  switch (params.policy) {
    case KvPolicy::full:
      return out;
    case KvPolicy::window:
      idx.resize(need);
      return idx;
    case KvPolicy::keytoken: {
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        return cells[a].importance < cells[b].importance;
      });
      idx.resize(need);
      std::sort(idx.begin(), idx.end());
      return idx;
    }
    case KvPolicy::random: {
      // A partial Fisher-Yates shuffle: the first `need` entries are a uniform sample.
      for (std::size_t i = 0; i < need; ++i) {
        std::uniform_int_distribution<std::size_t> pick(i, idx.size() - 1);
        std::swap(idx[i], idx[pick(rng)]);
      }
      idx.resize(need);
      std::sort(idx.begin(), idx.end());
      return idx;
    }
    case KvPolicy::chunk: {
      std::vector<Unit> units = units_of(cells, lo, hi, params.max_unit);
      std::stable_sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) { return a.mean < b.mean; });
      for (const Unit& u : units) {
        if (out.size() >= need) break;
        for (std::size_t i = u.begin; i < u.end; ++i) out.push_back(i);
      }
      std::sort(out.begin(), out.end());
      return out;
    }
  }
  return out;
}

}  // namespace keytok::detail
