// keytok/status.hpp: the library's one error policy.
//
// Fallible calls return Status or Result<T>; no exception crosses the public API. A Status is
// a code plus a human message that says what was wrong and, where there is one, what to do
// ("model file not found: x.gguf; pass -m PATH or run scripts/fetch_models.sh"). The ok path
// costs one enum compare and no allocation (leveldb's Status).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace keytok {

/// What went wrong. Values are stable; never renumber (they can be persisted and returned
/// as exit-status hints).
enum class StatusCode {
  ok = 0,
  invalid_argument = 1,  ///< the caller passed a bad value (user input, flags, files' content)
  not_found = 2,         ///< a file or named thing does not exist
  io_error = 3,          ///< reading or writing a file failed
  load_failed = 4,       ///< llama.cpp could not load a model or create a context
  kv_full = 5,           ///< no KV slot for the batch (llama_decode returned 1)
  aborted = 6,           ///< decoding was aborted by a callback (llama_decode returned 2)
  context_overflow = 7,  ///< the tokens do not fit the context window
  internal = 8,          ///< a bug or an unexpected llama.cpp failure
  format_error = 9,      ///< a file has the wrong magic, version or shape
  busy = 10,             ///< no capacity now (a server's queue is full); retry later
};

/// Returns the code's name, e.g. "invalid_argument".
const char* status_code_name(StatusCode code);

/// The outcome of a fallible call. Cheap to copy on the ok path. Not thread-safe to mutate;
/// immutable once made.
class [[nodiscard]] Status {
 public:
  Status() = default;  ///< ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  static Status invalid_argument(std::string m) { return {StatusCode::invalid_argument, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::not_found, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::io_error, std::move(m)}; }
  static Status load_failed(std::string m) { return {StatusCode::load_failed, std::move(m)}; }
  static Status kv_full(std::string m) { return {StatusCode::kv_full, std::move(m)}; }
  static Status aborted(std::string m) { return {StatusCode::aborted, std::move(m)}; }
  static Status context_overflow(std::string m) { return {StatusCode::context_overflow, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::internal, std::move(m)}; }
  static Status format_error(std::string m) { return {StatusCode::format_error, std::move(m)}; }
  static Status busy(std::string m) { return {StatusCode::busy, std::move(m)}; }

  bool ok() const noexcept { return code_ == StatusCode::ok; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  /// "ok", or "<code name>: <message>".
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

/// A value or the Status that explains its absence. Accessing value() of a failed Result is a
/// programmer error and aborts (KEYTOK_ASSERT), so check ok() first.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                 // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { check_not_ok(); }  // NOLINT

  bool ok() const noexcept { return value_.has_value(); }
  const Status& status() const noexcept { return status_; }

  T& value() & { check_ok(); return *value_; }
  const T& value() const& { check_ok(); return *value_; }
  T value() && { check_ok(); return std::move(*value_); }  // by value: safe in range-for
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check_ok() const;
  void check_not_ok() const;
  Status status_;
  std::optional<T> value_;
};

namespace detail {
[[noreturn]] void result_misuse(const char* what);
}  // namespace detail

template <class T>
void Result<T>::check_ok() const {
  if (!value_) detail::result_misuse(status_.to_string().c_str());
}
template <class T>
void Result<T>::check_not_ok() const {
  if (status_.ok()) detail::result_misuse("Result built from an ok Status without a value");
}

}  // namespace keytok

/// Returns early from a function returning Status or Result<T> when `expr` fails.
#define KEYTOK_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::keytok::Status keytok_status_ = (expr);   \
    if (!keytok_status_.ok()) return keytok_status_; \
  } while (0)
