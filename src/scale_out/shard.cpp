// Shard specs and the round-robin task split (keytok/shard.hpp).
#include "keytok/shard.hpp"

#include <fmt/format.h>

#include <charconv>

namespace keytok {

namespace {

// The whole of `s` as a base-10 int; false on anything else (signs, spaces, overflow).
bool parse_int(std::string_view s, int& out) {
  if (s.empty() || s.front() == '+' || s.front() == '-') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string Shard::spec() const { return fmt::format("{}/{}", index, count); }

Result<Shard> parse_shard(std::string_view spec) {
  const std::size_t slash = spec.find('/');
  Shard shard;
  if (slash == std::string_view::npos || !parse_int(spec.substr(0, slash), shard.index) ||
      !parse_int(spec.substr(slash + 1), shard.count)) {
    return Status::invalid_argument(fmt::format(
        "--shard: expected I/N, shard I of N counted from 1 (e.g. 2/4), got '{}'", spec));
  }
  if (shard.count < 1 || shard.count > Shard::kMaxShards) {
    return Status::invalid_argument(fmt::format(
        "--shard {}: N must be between 1 and {}", spec, Shard::kMaxShards));
  }
  if (shard.index < 1 || shard.index > shard.count) {
    return Status::invalid_argument(fmt::format(
        "--shard {}: I must be between 1 and N={} (shards count from 1)", spec, shard.count));
  }
  return shard;
}

std::vector<Task> take_shard(std::vector<Task> tasks, const Shard& shard) {
  if (shard.whole()) return tasks;
  std::vector<Task> out;
  out.reserve(tasks.size() / static_cast<std::size_t>(shard.count) + 1);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (shard.holds(i)) out.push_back(std::move(tasks[i]));
  }
  return out;
}

}  // namespace keytok
