#include "server/server_metrics.h"

#include <algorithm>

namespace fathom {
namespace {

std::vector<double> InterTokenBucketsSeconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,  0.3,
          0.4,   0.5,    0.75,  1.0,  2.5,   5.0,  7.5,   10.0, 20.0, 40.0, 80.0};
}

double SecondsBetween(EngineClock::time_point from, EngineClock::time_point to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

// Advances a counter that mirrors an engine counter; counters never go back.
void AdvanceTo(Counter& counter, double target) {
  const double delta = target - counter.value();
  if (delta > 0) counter.Increment(delta);
}

}  // namespace

ServerMetrics::ServerMetrics(MetricsRegistry* registry)
    : registry_(registry),
      ttft_(registry->GetHistogram("fathom_time_to_first_token_seconds",
                                   "Seconds from a request's arrival to its first generated token.",
                                   LatencyBucketsSeconds())),
      itl_(registry->GetHistogram("fathom_inter_token_latency_seconds",
                                  "Seconds between consecutive generated tokens of one choice.",
                                  InterTokenBucketsSeconds())),
      e2e_(registry->GetHistogram("fathom_e2e_request_latency_seconds",
                                  "Seconds from a request's arrival to its last output.", LatencyBucketsSeconds())) {}

void ServerMetrics::CountRequest(const std::string& route, int http_status) {
  registry_
      ->GetCounter("fathom_requests_total", "HTTP requests answered, by route and status code.",
                   {{"route", route}, {"status", std::to_string(http_status)}})
      .Increment();
}

void ServerMetrics::RequestTimer::Observe(const RequestOutput& output) {
  for (const ChoiceDelta& delta : output.deltas) {
    const size_t i = static_cast<size_t>(std::max(delta.index, 0));
    if (i >= last_token_time_.size()) {
      last_token_time_.resize(i + 1);
      has_token_.resize(i + 1, false);
    }
    for (EngineClock::time_point t : delta.token_times) {
      if (!has_first_token_) {
        metrics_->ttft_.Observe(SecondsBetween(arrival_, t));
        has_first_token_ = true;
      }
      if (has_token_[i]) metrics_->itl_.Observe(SecondsBetween(last_token_time_[i], t));
      last_token_time_[i] = t;
      has_token_[i] = true;
    }
    if (delta.finish_reason) {
      metrics_->registry_
          ->GetCounter("fathom_request_success_total", "Choices finished, by finish reason.",
                       {{"finished_reason", FinishReasonName(*delta.finish_reason)}})
          .Increment();
    }
  }
  if (output.is_finished) metrics_->e2e_.Observe(SecondsBetween(arrival_, EngineClock::now()));
}

std::string ServerMetrics::Render(const EngineStats& stats) {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  MetricsRegistry& r = *registry_;
  r.GetGauge("fathom_num_requests_running", "Sequences running in the engine.")
      .Set(static_cast<double>(stats.num_running));
  r.GetGauge("fathom_num_requests_waiting", "Sequences waiting for admission, preempted ones included.")
      .Set(static_cast<double>(stats.num_waiting));
  r.GetGauge("fathom_kv_cache_blocks_used", "KV cache blocks referenced by some sequence.")
      .Set(static_cast<double>(stats.num_kv_blocks_used));
  r.GetGauge("fathom_kv_cache_num_blocks", "KV cache blocks in the pool.")
      .Set(static_cast<double>(stats.num_kv_blocks_total));
  r.GetGauge("fathom_kv_cache_usage_ratio", "Fraction of KV cache blocks in use, in [0, 1].")
      .Set(stats.num_kv_blocks_total > 0
               ? static_cast<double>(stats.num_kv_blocks_used) / static_cast<double>(stats.num_kv_blocks_total)
               : 0.0);
  AdvanceTo(r.GetCounter("fathom_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache."),
            static_cast<double>(stats.prefix_cache_queries_total));
  AdvanceTo(r.GetCounter("fathom_prefix_cache_hits_total", "Prompt tokens served from the prefix cache."),
            static_cast<double>(stats.prefix_cache_hits_total));
  AdvanceTo(r.GetCounter("fathom_num_preemptions_total", "Sequences preempted to free KV blocks."),
            static_cast<double>(stats.num_preemptions_total));
  AdvanceTo(r.GetCounter("fathom_prompt_tokens_total", "Prompt tokens computed (prefix-cache hits excluded)."),
            static_cast<double>(stats.prompt_tokens_total));
  AdvanceTo(r.GetCounter("fathom_generation_tokens_total", "Tokens generated."),
            static_cast<double>(stats.generation_tokens_total));
  return r.RenderText();
}

}  // namespace fathom
