// Status, Result misuse and KEYTOK_ASSERT failure reporting.
#include "keytok/status.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

#include "util/assert.hpp"
#include "util/enum_names.hpp"

namespace keytok {

const char* status_code_name(StatusCode code) {
  static constexpr std::array<detail::EnumName<StatusCode>, 11> kNames = {{
      {StatusCode::ok, "ok"},
      {StatusCode::invalid_argument, "invalid_argument"},
      {StatusCode::not_found, "not_found"},
      {StatusCode::io_error, "io_error"},
      {StatusCode::load_failed, "load_failed"},
      {StatusCode::kv_full, "kv_full"},
      {StatusCode::aborted, "aborted"},
      {StatusCode::context_overflow, "context_overflow"},
      {StatusCode::internal, "internal"},
      {StatusCode::format_error, "format_error"},
      {StatusCode::busy, "busy"},
  }};
  return detail::enum_name(kNames, code, "unknown");
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
