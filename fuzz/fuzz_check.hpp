// FUZZ_CHECK: an invariant of a fuzz target. On failure it prints what was expected and aborts,
// so that libFuzzer saves the input as a crash (docs/fuzzing.md).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, what)                                                             \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                             \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

namespace keytok::fuzz {

// Every error keytok reports says something, and names the input it was about.
inline bool names_source(const std::string& message, const std::string& source) {
  return !message.empty() && message.find(source) != std::string::npos;
}

// Whether a Result failed; a failure must name `source` in its message.
template <class R>
bool failed(const R& result, const std::string& source) {
  if (result.ok()) return false;
  FUZZ_CHECK(names_source(result.status().message(), source), result.status().message());
  return true;
}

}  // namespace keytok::fuzz
