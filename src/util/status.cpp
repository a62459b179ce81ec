// Status, Result misuse and KEYTOK_ASSERT failure reporting.
#include "keytok/status.hpp"

#include <cstdio>
#include <cstdlib>

#include "util/assert.hpp"

namespace keytok {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::ok: return "ok";
    case StatusCode::invalid_argument: return "invalid_argument";
    case StatusCode::not_found: return "not_found";
    case StatusCode::io_error: return "io_error";
    case StatusCode::load_failed: return "load_failed";
    case StatusCode::kv_full: return "kv_full";
    case StatusCode::aborted: return "aborted";
    case StatusCode::context_overflow: return "context_overflow";
    case StatusCode::internal: return "internal";
    case StatusCode::format_error: return "format_error";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

namespace detail {

void result_misuse(const char* what) {
  std::fprintf(stderr, "keytok: Result::value() on a failed Result (%s)\n", what);
  std::abort();
}

void assert_fail(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "keytok: assertion failed at %s:%d: %s: %s\n", file, line, cond, msg.c_str());
  std::abort();
}

}  // namespace detail
}  // namespace keytok
