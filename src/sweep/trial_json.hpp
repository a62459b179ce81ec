// A trial line of a sweep results file as a JSON object, for the two readers of that format:
// the sweep's own (load_sweep_results, for --resume and reports) and `keytok fit`'s.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "keytok/sweep.hpp"

namespace keytok::detail {

/// The trial in `obj`; format_error starting with `where` ("file:line") for a missing or
/// ill-typed field, a negative count, or n_key above n_output_tokens.
Result<TrialRecord> trial_from_json(const nlohmann::json& obj, std::string_view where);

}  // namespace keytok::detail
