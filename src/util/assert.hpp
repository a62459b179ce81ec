// KEYTOK_ASSERT: invariant checks for programmer errors (never user input). Logs file:line and
// the formatted message, then aborts. KEYTOK_DASSERT compiles away in release builds.
#pragma once

#include <fmt/format.h>

namespace keytok::detail {
[[noreturn]] void assert_fail(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace keytok::detail

#define KEYTOK_ASSERT(cond, ...)                                                         \
  do {                                                                                   \
    if (!(cond)) ::keytok::detail::assert_fail(__FILE__, __LINE__, #cond,                \
                                               ::fmt::format(__VA_ARGS__));              \
  } while (0)

#ifdef NDEBUG
#define KEYTOK_DASSERT(cond, ...) ((void)0)
#else
#define KEYTOK_DASSERT(cond, ...) KEYTOK_ASSERT(cond, __VA_ARGS__)
#endif
