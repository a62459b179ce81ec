// physical_core_count(): llama.cpp's default of 4 threads is many times slower on 2 cores.
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "keytok/types.hpp"

namespace keytok {

int physical_core_count() {
  // Count distinct (physical id, core id) pairs; hyper-threads share a core id.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  int physical = 0;
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = line.substr(colon + 1);
    try {
      if (key == "physical id") physical = std::stoi(value);
      if (key == "core id") cores.emplace(physical, std::stoi(value));
    } catch (...) {
      // A malformed line only loses one entry; the fallback below covers an empty set.
    }
  }
  if (!cores.empty()) return static_cast<int>(cores.size());
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

}  // namespace keytok
