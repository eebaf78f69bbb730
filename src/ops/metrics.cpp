// MetricsRegistry: families of counters, gauges and histograms and their text
// rendering in Prometheus exposition format 0.0.4.
//
// The non-obvious rule: children live behind unique_ptr in maps that only grow,
// so a reference handed out stays valid while other threads add children.
#include "ops/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include "core/status.h"

namespace fathom {
namespace {

constexpr const char* kCounterType = "counter";
constexpr const char* kGaugeType = "gauge";
constexpr const char* kHistogramType = "histogram";

// A compare-exchange loop rather than fetch_add, which some standard libraries lack for double.
void AtomicAdd(std::atomic<double>& target, double v) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Names starting "__" are reserved by Prometheus.
bool IsLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Shortest text that reads back as the same double, in spellings Prometheus parses.
std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  FATHOM_CHECK(ec == std::errc());
  return std::string(buf, end);
}

// HELP text escapes backslash and newline; label values also the double quote.
std::string Escape(std::string_view text, bool escape_quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}`, with `le` appended for histogram buckets; empty when there are no labels.
std::string RenderLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                         const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + Escape(values[i], true) + "\"";
  }
  if (le != nullptr) {
    if (!names.empty()) out += ',';
    out += "le=\"" + *le + "\"";
  }
  return out + "}";
}

}  // namespace

void Counter::Increment(double v) {
  FATHOM_CHECK_MSG(v >= 0, "a counter only grows");
  AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      bucket_counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size())) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    FATHOM_CHECK_MSG(std::isfinite(upper_bounds_[i]), "histogram bounds are finite; +Inf is implied");
    FATHOM_CHECK_MSG(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i], "histogram bounds strictly increase");
  }
}

void Histogram::Observe(double v) {
  // NaN is counted only in +Inf, as the Prometheus clients do.
  if (!std::isnan(v)) {
    const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v);
    if (it != upper_bounds_.end()) bucket_counts_[it - upper_bounds_.begin()].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::cumulative_counts() const {
  std::vector<uint64_t> counts(upper_bounds_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    running += bucket_counts_[i].load(std::memory_order_relaxed);
    counts[i] = running;
  }
  return counts;
}

struct MetricsRegistry::Family {
  std::string type;  // as # TYPE spells it
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;  // histograms only
  // Keyed by label values in label_names order; exactly one map is used, per type.
  std::map<std::vector<std::string>, std::unique_ptr<Counter>> counters;
  std::map<std::vector<std::string>, std::unique_ptr<Gauge>> gauges;
  std::map<std::vector<std::string>, std::unique_ptr<Histogram>> histograms;
};

namespace {

std::vector<std::string> LabelNames(const MetricLabels& labels) {
  std::vector<std::string> names;
  for (const auto& [name, value] : labels) names.push_back(name);
  return names;
}

std::vector<std::string> LabelValues(const MetricLabels& labels) {
  std::vector<std::string> values;
  for (const auto& [name, value] : labels) values.push_back(value);
  return values;
}

// Returns the child with these label values, built from `args` on first use.
template <typename T, typename... Args>
T& FindOrAddChild(std::map<std::vector<std::string>, std::unique_ptr<T>>& children, const MetricLabels& labels,
                  const Args&... args) {
  std::unique_ptr<T>& child = children[LabelValues(labels)];
  if (!child) child = std::make_unique<T>(args...);
  return *child;
}

}  // namespace

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry& MetricsRegistry::Global() {
  // Never destroyed, so threads still updating metrics at exit stay safe.
  static MetricsRegistry& registry = *new MetricsRegistry();
  return registry;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FindOrAddFamily(name, kCounterType, help, labels, {});
  return FindOrAddChild(family.counters, labels);
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FindOrAddFamily(name, kGaugeType, help, labels, {});
  return FindOrAddChild(family.gauges, labels);
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& upper_bounds, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FindOrAddFamily(name, kHistogramType, help, labels, upper_bounds);
  return FindOrAddChild(family.histograms, labels, upper_bounds);
}

MetricsRegistry::Family& MetricsRegistry::FindOrAddFamily(const std::string& name, const char* type,
                                                          const std::string& help, const MetricLabels& labels,
                                                          const std::vector<double>& upper_bounds) {
  std::vector<std::string> label_names = LabelNames(labels);
  auto it = families_.find(name);
  if (it != families_.end()) {
    const Family& f = *it->second;
    FATHOM_CHECK_MSG(f.type == type, "metric " + name + " re-registered with another type");
    FATHOM_CHECK_MSG(f.help == help, "metric " + name + " re-registered with another help text");
    FATHOM_CHECK_MSG(f.label_names == label_names, "metric " + name + " re-registered with other label names");
    FATHOM_CHECK_MSG(f.upper_bounds == upper_bounds, "histogram " + name + " re-registered with other buckets");
    return *it->second;
  }
  FATHOM_CHECK_MSG(IsMetricName(name), "bad metric name '" + name + "'");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    FATHOM_CHECK_MSG(IsLabelName(label), "metric " + name + ": bad label name '" + label + "'");
    FATHOM_CHECK_MSG(type != kHistogramType || label != "le", "histogram " + name + ": 'le' is reserved");
    FATHOM_CHECK_MSG(std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i), label) ==
                         label_names.begin() + static_cast<std::ptrdiff_t>(i),
                     "metric " + name + ": label '" + label + "' repeated");
  }
  auto family = std::make_unique<Family>();
  family->type = type;
  family->help = help;
  family->label_names = std::move(label_names);
  family->upper_bounds = upper_bounds;
  return *families_.emplace(name, std::move(family)).first->second;
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + " " + Escape(family->help, false) + "\n";
    out += "# TYPE " + name + " " + family->type + "\n";
    const std::vector<std::string>& names = family->label_names;
    for (const auto& [values, counter] : family->counters) {
      out += name + RenderLabels(names, values) + " " + FormatNumber(counter->value()) + "\n";
    }
    for (const auto& [values, gauge] : family->gauges) {
      out += name + RenderLabels(names, values) + " " + FormatNumber(gauge->value()) + "\n";
    }
    for (const auto& [values, histogram] : family->histograms) {
      const std::vector<uint64_t> counts = histogram->cumulative_counts();
      const std::vector<double>& bounds = histogram->upper_bounds();
      for (size_t i = 0; i < bounds.size(); ++i) {
        const std::string le = FormatNumber(bounds[i]);
        out += name + "_bucket" + RenderLabels(names, values, &le) + " " + std::to_string(counts[i]) + "\n";
      }
      // Read after the buckets and clamped, so a concurrent Observe cannot make +Inf smaller than a bucket.
      const uint64_t count = std::max(histogram->count(), counts.empty() ? uint64_t{0} : counts.back());
      const std::string inf = "+Inf";
      out += name + "_bucket" + RenderLabels(names, values, &inf) + " " + std::to_string(count) + "\n";
      out += name + "_sum" + RenderLabels(names, values) + " " + FormatNumber(histogram->sum()) + "\n";
      out += name + "_count" + RenderLabels(names, values) + " " + std::to_string(count) + "\n";
    }
  }
  return out;
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 600};
}

}  // namespace fathom
