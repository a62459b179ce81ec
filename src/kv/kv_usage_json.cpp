// KvUsage as JSON.
#include "kv/kv_usage_json.hpp"

namespace keytok::detail {

nlohmann::ordered_json kv_usage_to_json(const KvUsage& u) {
  return {{"policy", kv_policy_name(u.policy)},
          {"budget", u.budget},
          {"n_ctx", u.n_ctx},
          {"peak_cells", u.peak_cells},
          {"kv_mib_allocated", u.kv_mib_allocated},
          {"kv_mib_peak", u.kv_mib_peak},
          {"evictions", u.evictions},
          {"cells_evicted", u.cells_evicted},
          {"decode_seconds", u.decode_seconds},
          {"policy_seconds", u.policy_seconds},
          {"policy_cost_fraction", u.policy_cost_fraction()}};
}

}  // namespace keytok::detail
