// The server's Prometheus metrics (docs/metrics.md lists them with their vLLM
// counterparts): request counts by route and status, latency histograms from the
// engine's per-token times, and the engine's own gauges and counters.
//
// The non-obvious rule: the engine's counters (EngineStats) are the truth, so at
// every scrape the registry's counters are advanced to them (never back); a
// counter that only the engine counts is never incremented anywhere else.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"
#include "ops/metrics.h"

namespace fathom {

// Thread-safe. Holds a pointer to the registry, which must outlive it.
class ServerMetrics {
 public:
  explicit ServerMetrics(MetricsRegistry* registry);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // One HTTP response: `route` is the matched path ("other" for unknown routes).
  void CountRequest(const std::string& route, int http_status);

  // One request's latencies as its outputs arrive. Not thread-safe: one per request.
  class RequestTimer {
   public:
    RequestTimer(ServerMetrics* metrics, EngineClock::time_point arrival) : metrics_(metrics), arrival_(arrival) {}
    // Observes time to first token, inter-token gaps, and at a choice's end its
    // finish reason; at the request's end the end-to-end latency.
    void Observe(const RequestOutput& output);

   private:
    ServerMetrics* metrics_;
    EngineClock::time_point arrival_;
    bool has_first_token_ = false;
    std::vector<EngineClock::time_point> last_token_time_;  // per choice
    std::vector<bool> has_token_;                           // per choice
  };

  // Advances the engine gauges and counters to `stats` and returns the registry's text.
  std::string Render(const EngineStats& stats);

 private:
  MetricsRegistry* registry_;
  std::mutex scrape_mu_;  // one scrape advances the engine counters at a time
  Histogram& ttft_;
  Histogram& itl_;
  Histogram& e2e_;
};

}  // namespace fathom
