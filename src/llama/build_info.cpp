// build_info(): the versions and CPU features of this build, as llama.cpp reports them.
#include "keytok/build_info.hpp"

#include <sstream>

#include "llama/handles.hpp"

namespace keytok {

namespace {

// llama_print_system_info() reads "CPU : SSE3 = 1 | AVX2 = 1 | ... | <next backend> : ...".
// Keep the names whose value is 1 in the CPU backend's section.
std::vector<std::string> cpu_features_of(const std::string& info) {
  std::vector<std::string> out;
  const auto cpu = info.find("CPU : ");
  if (cpu == std::string::npos) return out;
  std::istringstream in(info.substr(cpu + 6));
  std::string item;
  while (std::getline(in, item, '|')) {
    const auto eq = item.find(" = ");
    if (eq == std::string::npos) break;  // the next backend's "NAME : " section
    std::string name = item.substr(0, eq);
    name.erase(0, name.find_first_not_of(' '));
    if (item.substr(eq + 3).find('1') == 0) out.push_back(name);
  }
  return out;
}

}  // namespace

BuildInfo build_info() {
  detail::ensure_backend(false);
  BuildInfo b;
  b.keytok_version = KEYTOK_VERSION;
  b.llama_version = llama_version();
  b.llama_source = KEYTOK_LLAMA_PIN;
  b.cpu_build = KEYTOK_CPU_BUILD;
  b.system_info = llama_print_system_info();
  b.cpu_features = cpu_features_of(b.system_info);
  return b;
}

}  // namespace keytok
