// Prometheus metrics: counters, gauges and histograms, grouped in families by
// name and told apart by label values, rendered in the Prometheus text format
// (version 0.0.4) that `promtool check metrics` accepts.
//
// The non-obvious rule: a metric object, once returned, lives as long as its
// registry and never moves, so hot paths look a metric up once and keep the
// reference; updates are lock-free atomics, only lookups and rendering lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace fathom {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;  // (name, value), in this order

// Thread-safe.
class Counter {
 public:
  // REQUIRES: v >= 0 (a counter only grows).
  void Increment(double v = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Thread-safe.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Thread-safe. Cumulative buckets as Prometheus defines them (le = upper bound,
// +Inf implied), plus _sum and _count.
class Histogram {
 public:
  // REQUIRES: upper_bounds strictly increasing and finite.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Observations <= upper_bounds()[i] (cumulative), and the total count and sum.
  std::vector<uint64_t> cumulative_counts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;  // (upper_bounds.size()) not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// Thread-safe. Not copyable.
// Invariants: a family name has one type, one help text and one label-name list;
// names match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*
// (FATHOM_CHECK: a bad name is a bug, never user input).
class MetricsRegistry {
 public:
  // Out of line: Family is complete only in metrics.cpp.
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The process-wide registry the server renders at /metrics.
  static MetricsRegistry& Global();

  // Returns the metric of family `name` with these label values, creating the
  // family and the child on first use. Label values are escaped when rendered.
  Counter& GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help, const std::vector<double>& upper_bounds,
                          const MetricLabels& labels = {});

  // Every family in name order, children in label order: # HELP, # TYPE, samples.
  std::string RenderText() const;

 private:
  struct Family;

  // Returns family `name`, creating it on first use; checks that a later use
  // agrees on type ("counter", "gauge" or "histogram"), help, label names and
  // buckets. REQUIRES: mu_ held.
  Family& FindOrAddFamily(const std::string& name, const char* type, const std::string& help,
                          const MetricLabels& labels, const std::vector<double>& upper_bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;  // guarded by mu_
};

// Bucket bounds for latencies in seconds, from 1 ms to 10 min (vLLM's TTFT-like spread).
std::vector<double> LatencyBucketsSeconds();

}  // namespace fathom
