// The header line of a sweep results file (docs/tasks.md), checked in one place for every reader
// (`keytok fit`'s load_trials and the sweep's load_sweep_results).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "keytok/status.hpp"

namespace keytok::detail {

/// format_error naming `source:line` unless `obj` is {"format":"keytok-sweep","version":1,...}.
Status check_sweep_header(const nlohmann::json& obj, const std::string& source, int line);

}  // namespace keytok::detail
