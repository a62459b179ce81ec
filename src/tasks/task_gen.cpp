// generate_tasks: the deterministic driver over the built-in families. Each (family, n) pair
// gets its own random stream so that files stay stable when families or lengths are added.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "keytok/tasks.hpp"
#include "tasks/task_families.hpp"
#include "util/hash.hpp"

namespace keytok {
namespace detail {

std::uint64_t TaskRng::below(std::uint64_t bound) {
  // Values below 2^64 mod bound would make the low residues more likely; reject them.
  const std::uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t x = gen_();
    if (x >= threshold) return x % bound;
  }
}

std::uint64_t family_stream_seed(std::uint64_t seed, std::string_view family, int n) {
  return splitmix64(splitmix64(seed) ^ splitmix64(fnv1a(family) + static_cast<std::uint64_t>(n)));
}

}  // namespace detail

const std::vector<std::string>& builtin_task_families() {
  static const std::vector<std::string> kFamilies = {"copy",     "reverse", "count",
                                                     "sequence", "spell",   "add"};
  return kFamilies;
}

const std::vector<std::string>& all_task_families() {
  static const std::vector<std::string> kFamilies = [] {
    std::vector<std::string> all = builtin_task_families();
    all.emplace_back("needle");  // opt-in: generated only when named
    return all;
  }();
  return kFamilies;
}

int needle_position(int n, int index) {
  if (n < 0 || index < 0) return 0;
  // round(n * (index mod 5) / 4), halves up, in integers (n <= kMaxTaskLength: no overflow).
  return static_cast<int>((static_cast<long long>(index % 5) * n + 2) / 4);
}

Status TaskGenParams::validate() const {
  const std::vector<std::string>& known = all_task_families();
  for (const std::string& family : families) {
    if (std::find(known.begin(), known.end(), family) == known.end()) {
      return Status::invalid_argument(fmt::format(
          "unknown task family \"{}\"; built-in families: {}", family, fmt::join(known, ", ")));
    }
  }
  if (std::set<std::string>(families.begin(), families.end()).size() != families.size()) {
    return Status::invalid_argument("a task family is listed twice; list each family once");
  }
  if (std::set<int>(lengths.begin(), lengths.end()).size() != lengths.size()) {
    return Status::invalid_argument("a task length is listed twice; list each length once");
  }
  if (lengths.empty()) return Status::invalid_argument("no task lengths given; pass e.g. 4,8,16");
  for (const int n : lengths) {
    if (n < 1 || n > kMaxTaskLength) {
      return Status::invalid_argument(fmt::format(
          "task length {} is out of range; lengths must be in [1, {}]", n, kMaxTaskLength));
    }
  }
  if (per_length < 1 || per_length > 100'000) {
    return Status::invalid_argument(
        fmt::format("per_length {} is out of range; it must be in [1, 100000]", per_length));
  }
  return Status::ok_status();
}

Result<std::vector<Task>> generate_tasks(const TaskGenParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  const std::vector<std::string>& families =
      params.families.empty() ? builtin_task_families() : params.families;
  std::vector<Task> tasks;
  for (const std::string& family : families) {
    for (const int n : params.lengths) {
      detail::TaskRng rng(detail::family_stream_seed(params.seed, family, n));
      for (int i = 0; i < params.per_length; ++i) {
        detail::TaskText text = detail::make_family_task(family, n, i, rng);
        Task task;
        task.id = fmt::format("{}-{}-{:03d}", family, n, i);
        task.prompt = std::move(text.prompt);
        task.answer = text.reference;
        task.reference = std::move(text.reference);
        task.match = text.match;
        task.family = family;
        task.length = n;
        tasks.push_back(std::move(task));
      }
    }
  }
  return tasks;
}

}  // namespace keytok
