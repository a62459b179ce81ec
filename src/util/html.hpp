// HTML text for keytok's self-contained report pages (fit report, forks page).
#pragma once

#include <string>
#include <string_view>

namespace keytok::detail {

/// `s` safe as HTML text and inside a double- or single-quoted attribute: & < > " ' escaped.
std::string html_escape(std::string_view s);

}  // namespace keytok::detail
