// `keytok --version`: the keytok and llama.cpp versions and the CPU code this build runs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "keytok/build_info.hpp"

namespace keytok::cli {

std::string version_text() {
  const BuildInfo b = build_info();
  return fmt::format(
      "keytok {}\nllama.cpp {} ({})\nCPU build: {}\nCPU features: {}",
      b.keytok_version, b.llama_version, b.llama_source, b.cpu_build,
      b.cpu_features.empty() ? std::string("none reported") : fmt::format("{}", fmt::join(b.cpu_features, " ")));
}

}  // namespace keytok::cli
