// KvUsage as JSON, shared by the analysis summary and the longctx rows (nlohmann stays out of
// public headers).
#pragma once

#include <nlohmann/json.hpp>

#include "keytok/session.hpp"

namespace keytok::detail {

/// {"policy", "budget", "n_ctx", "peak_cells", "kv_mib_allocated", "kv_mib_peak", "evictions",
///  "cells_evicted", "decode_seconds", "policy_seconds", "policy_cost_fraction"}.
nlohmann::ordered_json kv_usage_to_json(const KvUsage& usage);

}  // namespace keytok::detail
