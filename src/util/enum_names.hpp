// One table per enum for the names it is written and read under (files, flags, reports), so the
// name of a value and the parse of a name cannot drift apart, and error messages list exactly the
// names that parse.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace keytok::detail {

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

/// The name of `value` in `table`; `fallback` when the table misses it (a value cast from an int).
template <class E, std::size_t N>
constexpr const char* enum_name(const std::array<EnumName<E>, N>& table, E value,
                                const char* fallback) {
  for (const EnumName<E>& e : table) {
    if (e.value == value) return e.name.data();  // the names are literals, so NUL-terminated
  }
  return fallback;
}

/// The value named `name` in `table`, or nullopt.
template <class E, std::size_t N>
constexpr std::optional<E> enum_from_name(const std::array<EnumName<E>, N>& table,
                                          std::string_view name) {
  for (const EnumName<E>& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

/// "a, b, c or d": the accepted names, for error messages.
template <class E, std::size_t N>
std::string enum_name_list(const std::array<EnumName<E>, N>& table) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += table[i].name;
  }
  return out;
}

}  // namespace keytok::detail
