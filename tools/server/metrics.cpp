// Prometheus text exposition of the server's counters and the engine's gauges.
#include "metrics.hpp"

#include <fmt/format.h>

#include "engine.hpp"

namespace keytok::server {

std::string metrics_text(const Metrics& m, const EngineStats& e, bool loading) {
  std::string out;
  const auto metric = [&out](const char* name, const char* type, const char* help, auto value,
                             const std::string& labels = "") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name, labels, value);
  };
  out += "# HELP keytok_requests_total Requests answered, by outcome.\n# TYPE keytok_requests_total counter\n";
  out += fmt::format("keytok_requests_total{{outcome=\"ok\"}} {}\n", m.requests_ok.load());
  out += fmt::format("keytok_requests_total{{outcome=\"client_error\"}} {}\n", m.requests_client_error.load());
  out += fmt::format("keytok_requests_total{{outcome=\"server_error\"}} {}\n", m.requests_server_error.load());
  out += fmt::format("keytok_requests_total{{outcome=\"cancelled\"}} {}\n", m.requests_cancelled.load());
  metric("keytok_prompt_tokens_total", "counter", "Prompt tokens prefilled.", m.prompt_tokens.load());
  metric("keytok_generated_tokens_total", "counter", "Tokens generated over all paths.", m.generated_tokens.load());
  metric("keytok_requests_running", "gauge", "Requests admitted and decoding.", e.running);
  metric("keytok_queue_depth", "gauge", "Requests waiting for a slot.", e.queued);
  metric("keytok_kv_sequences_in_use", "gauge", "KV sequences holding cells.", e.sequences_open);
  metric("keytok_kv_positions_held", "gauge",
         "Positions held by open KV sequences (a prefix shared by forks counts once per sequence).",
         e.positions_held);
  metric("keytok_kv_cells", "gauge", "KV cells in the shared pool (n_ctx).", e.n_ctx);
  metric("keytok_kv_cells_in_use", "gauge", "KV cells holding a token (a cell shared by forks counts once).",
         e.cells_in_use);
  metric("keytok_kv_cells_evicted_total", "counter", "KV cells removed by the --kv-policy.", e.cells_evicted);
  metric("keytok_decode_calls_total", "counter", "Batched llama_decode calls.", e.decode_calls);
  metric("keytok_decoded_tokens_total", "counter", "Tokens over all decode calls (prefill included).",
         e.tokens_decoded);
  metric("keytok_loading", "gauge", "1 while the model loads.", loading ? 1 : 0);
  return out;
}

}  // namespace keytok::server
