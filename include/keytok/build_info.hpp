// keytok/build_info.hpp: what this build of keytok is and which CPU code it runs.
//
// `keytok --version` prints it. The CPU features come from llama.cpp's own report
// (llama_print_system_info) of the CPU backend actually in use: with a native build the
// features it was compiled for; with a portable build (KEYTOK_PORTABLE) those of the variant
// picked for this CPU at run time. The default build never lists AMX (docs/build.md).
#pragma once

#include <string>
#include <vector>

namespace keytok {

/// A description of this build. Plain data.
struct BuildInfo {
  std::string keytok_version;  // "0.1.0"
  std::string llama_version;   // llama.cpp's version string (llama_version())
  std::string llama_source;    // where llama.cpp came from: "llama-cpp-python 0.3.36 sdist", ...
  std::string cpu_build;       // "native, AMX off", "portable (...), AMX off", ...
  std::vector<std::string> cpu_features;  // enabled features of the CPU backend in use,
                                          // e.g. "AVX2", "AVX512"; empty when none is loaded
  std::string system_info;     // llama_print_system_info(), verbatim
};

/// Describes this build. Initialises llama.cpp's backends on first use (loads the CPU backend
/// module in a portable build). Thread-safe; about a millisecond.
BuildInfo build_info();

}  // namespace keytok
