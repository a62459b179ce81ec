// keytok/shard.hpp: splitting a task list across machines (`--shard I/N` on sweep and bench).
//
// Shard I of N holds the tasks at 0-based positions p with p mod N == I - 1, after --limit:
// round-robin rather than contiguous blocks, so that a task file sorted by length (as
// `keytok tasks` writes it) gives every shard the same mix of short and long tasks and the shards
// finish at about the same time. The split depends only on the task list, so N machines given the
// same file and flags cover every task exactly once; `keytok merge` joins their results files
// (keytok/results_file.hpp, merge_results_files). docs/scale-out.md shows the commands.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/status.hpp"
#include "keytok/tasks.hpp"

namespace keytok {

/// One part of a split, 1-based as the flag spells it: {1, 1} is the whole list.
struct Shard {
  int index = 1;  // I, 1..count
  int count = 1;  // N, 1..kMaxShards

  static constexpr int kMaxShards = 10000;

  bool whole() const { return count == 1; }
  /// Whether the task at 0-based `position` of the list belongs to this shard.
  bool holds(std::size_t position) const {
    return static_cast<int>(position % static_cast<std::size_t>(count)) == index - 1;
  }
  /// "I/N", as parse_shard reads it.
  std::string spec() const;
};

/// Parses "I/N" (1 <= I <= N <= 10000). invalid_argument saying what was wrong and the form
/// expected otherwise.
Result<Shard> parse_shard(std::string_view spec);

/// The tasks of `shard`, in their order in `tasks`.
std::vector<Task> take_shard(std::vector<Task> tasks, const Shard& shard);

}  // namespace keytok
