// Internal: the built-in task families and the portable random numbers they draw from.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "keytok/tasks.hpp"

namespace keytok::detail {

/// Random integers that are identical on every platform: std::mt19937_64 is fully specified
/// by the standard, std::uniform_int_distribution is not, so the mapping to a range is ours.
class TaskRng {
 public:
  explicit TaskRng(std::uint64_t seed) : gen_(seed) {}
  /// Uniform in [0, bound), bound >= 1; unbiased (rejects the short top interval).
  std::uint64_t below(std::uint64_t bound);
  /// Uniform in [lo, hi], lo <= hi.
  int between(int lo, int hi) {
    return lo + static_cast<int>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

 private:
  std::mt19937_64 gen_;
};

/// The stream seed of one (family, n) pair: splitmix64 mixing of seed, FNV-1a of the family
/// name, and n.
std::uint64_t family_stream_seed(std::uint64_t seed, std::string_view family, int n);

/// The prompt and the one correct output of a task (also its answer), and how an output is
/// compared with it.
struct TaskText {
  std::string prompt;
  std::string reference;
  MatchMode match = MatchMode::exact;
};

/// Builds task number `index` (0-based, within its (family, n) stream) of `family` (a name from
/// all_task_families()) with size n. Only `needle` uses the index (it sets the needle's depth).
TaskText make_family_task(std::string_view family, int n, int index, TaskRng& rng);

}  // namespace keytok::detail
