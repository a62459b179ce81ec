// Counters for GET /metrics (Prometheus text format).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace keytok::server {

struct EngineStats;

struct Metrics {
  std::atomic<std::int64_t> requests_ok{0};
  std::atomic<std::int64_t> requests_client_error{0};  // 4xx
  std::atomic<std::int64_t> requests_server_error{0};  // 5xx
  std::atomic<std::int64_t> requests_cancelled{0};     // the client went away
  std::atomic<std::int64_t> prompt_tokens{0};
  std::atomic<std::int64_t> generated_tokens{0};

  void count_status(int status) {
    if (status < 400) {
      ++requests_ok;
    } else if (status < 500) {
      ++requests_client_error;
    } else {
      ++requests_server_error;
    }
  }
};

/// The exposition text: these counters and the engine's gauges.
std::string metrics_text(const Metrics& m, const EngineStats& engine, bool loading);

}  // namespace keytok::server
