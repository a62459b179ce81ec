// Stable hashes for seeds: the same value on every platform and standard library, which
// std::hash does not promise. Seeds derived from task ids must not change between builds, or a
// --resume would draw another plan or other samples.
#pragma once

#include <cstdint>
#include <string_view>

namespace keytok::detail {

/// FNV-1a, 64 bits, over the bytes of `s`.
constexpr std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

/// splitmix64's finaliser: spreads every input bit over the output (Steele et al. 2014), so
/// nearby seeds give unrelated streams.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace keytok::detail
