// Numbers from JSON that keytok did not write itself (results files, calibrations), read into
// C++ types without undefined behaviour. nlohmann's get<int>() casts a float straight to the
// type, which is undefined when the value is out of range (1e300 into an int; found by the fuzz
// targets, docs/fuzzing.md), and wraps an integer that does not fit.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

namespace keytok::detail {

/// Whether `value` (a JSON number) converts to T without leaving T's range; a float is
/// truncated toward zero, as static_cast does.
template <class T, class V>
bool json_number_fits(V value) {
  if constexpr (std::is_floating_point_v<V>) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::abs(value) <= static_cast<V>(std::numeric_limits<T>::max());
    } else {
      constexpr int bits = std::numeric_limits<T>::digits;  // value bits, sign excluded
      const V limit = std::ldexp(V{1}, bits);               // 2^bits, exact in a double
      return std::is_signed_v<T> ? value > -limit - 1 && value < limit
                                 : value > -1 && value < limit;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    return true;
  } else {
    return std::in_range<T>(value);
  }
}

/// j.get<T>(), except that for an arithmetic T other than bool, a number that does not fit T
/// throws nlohmann's out_of_range (406) instead of being cast. Anything else (a string where a
/// number belongs, a non-arithmetic T) behaves exactly as get<T>().
template <class T, class Json>
T json_get(const Json& j) {
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    const bool fits = j.is_number_unsigned()  ? json_number_fits<T>(j.template get<std::uint64_t>())
                      : j.is_number_integer() ? json_number_fits<T>(j.template get<std::int64_t>())
                      : j.is_number_float()   ? json_number_fits<T>(j.template get<double>())
                                              : true;
    if (!fits) {
      throw Json::out_of_range::create(406, "number " + j.dump() + " is out of range here", &j);
    }
  }
  return j.template get<T>();
}

/// j.value(key, fallback) for an object `j`, converting through json_get.
template <class T, class Json>
T json_value(const Json& j, const char* key, T fallback) {
  const auto it = j.find(key);
  return it == j.end() ? fallback : json_get<T>(*it);
}

}  // namespace keytok::detail
