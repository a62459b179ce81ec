// Internal to src/forks: the summary's figures as text cells, so that the text table
// (fork_summary_text) and the HTML page (forks_html) print the same numbers the same way.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "keytok/forks.hpp"

namespace keytok::detail {

/// "0.123", or "-" when not finite.
std::string fork_number(double x, int decimals = 3);
/// "0.123 [0.101, 0.150]"; the bracket left out when the bounds are not finite.
std::string fork_interval(const Interval& v, int decimals = 3);

/// The overview: (label, value) pairs, the noise floor included when it was measured.
std::vector<std::pair<std::string, std::string>> fork_overview(const ForkSummary& s);

/// The per-signal table: the header row, then one row per signal.
std::vector<std::vector<std::string>> fork_signal_table(const ForkSummary& s);

}  // namespace keytok::detail
