#include "ops/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace fathom {
namespace {

TEST(MetricsTest, CounterRendersWithEscapedLabelsAndHelp) {
  MetricsRegistry registry;
  registry.GetCounter("fathom_requests_total", "Requests\\served\nso far", {{"model", "a\"b\\c\nd"}}).Increment(3);
  registry.GetCounter("fathom_requests_total", "Requests\\served\nso far", {{"model", "plain"}}).Increment();
  EXPECT_EQ(registry.RenderText(),
            "# HELP fathom_requests_total Requests\\\\served\\nso far\n"
            "# TYPE fathom_requests_total counter\n"
            "fathom_requests_total{model=\"a\\\"b\\\\c\\nd\"} 3\n"
            "fathom_requests_total{model=\"plain\"} 1\n");
}

TEST(MetricsTest, SameLabelsReturnTheSameMetric) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("x_total", "x", {{"k", "v"}});
  Counter& b = registry.GetCounter("x_total", "x", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &registry.GetCounter("x_total", "x", {{"k", "w"}}));
}

TEST(MetricsTest, GaugeRendersSpecialValues) {
  MetricsRegistry registry;
  registry.GetGauge("fathom_a", "a").Set(-2.5);
  registry.GetGauge("fathom_b", "b", {{"kind", "inf"}}).Set(std::numeric_limits<double>::infinity());
  registry.GetGauge("fathom_b", "b", {{"kind", "minus_inf"}}).Set(-std::numeric_limits<double>::infinity());
  registry.GetGauge("fathom_b", "b", {{"kind", "nan"}}).Set(std::nan(""));
  Gauge& c = registry.GetGauge("fathom_c", "c", {{"x", "1"}, {"y", "2"}});
  c.Set(0.1);
  c.Add(1e20);
  EXPECT_EQ(registry.RenderText(),
            "# HELP fathom_a a\n"
            "# TYPE fathom_a gauge\n"
            "fathom_a -2.5\n"
            "# HELP fathom_b b\n"
            "# TYPE fathom_b gauge\n"
            "fathom_b{kind=\"inf\"} +Inf\n"
            "fathom_b{kind=\"minus_inf\"} -Inf\n"
            "fathom_b{kind=\"nan\"} NaN\n"
            "# HELP fathom_c c\n"
            "# TYPE fathom_c gauge\n"
            "fathom_c{x=\"1\",y=\"2\"} 1e+20\n");
}

TEST(MetricsTest, HistogramRendersCumulativeBuckets) {
  MetricsRegistry registry;
  Histogram& h = registry.GetHistogram("fathom_latency_seconds", "Latency.", {0.1, 1}, {{"phase", "prefill"}});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.cumulative_counts(), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(registry.RenderText(),
            "# HELP fathom_latency_seconds Latency.\n"
            "# TYPE fathom_latency_seconds histogram\n"
            "fathom_latency_seconds_bucket{phase=\"prefill\",le=\"0.1\"} 2\n"
            "fathom_latency_seconds_bucket{phase=\"prefill\",le=\"1\"} 3\n"
            "fathom_latency_seconds_bucket{phase=\"prefill\",le=\"+Inf\"} 4\n"
            "fathom_latency_seconds_sum{phase=\"prefill\"} 7.65\n"
            "fathom_latency_seconds_count{phase=\"prefill\"} 4\n");
}

TEST(MetricsTest, UnlabelledHistogramHasOnlyLe) {
  MetricsRegistry registry;
  registry.GetHistogram("h_seconds", "h", {1}).Observe(2);
  EXPECT_EQ(registry.RenderText(),
            "# HELP h_seconds h\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"1\"} 0\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 2\n"
            "h_seconds_count 1\n");
}

TEST(MetricsTest, FamiliesRenderInNameOrder) {
  MetricsRegistry registry;
  registry.GetGauge("b_gauge", "b");
  registry.GetCounter("a_total", "a");
  const std::string text = registry.RenderText();
  EXPECT_LT(text.find("a_total"), text.find("b_gauge"));
}

TEST(MetricsTest, LatencyBucketsSpanMillisecondToTenMinutes) {
  const std::vector<double> bounds = LatencyBucketsSeconds();
  ASSERT_FALSE(bounds.empty());
  EXPECT_EQ(bounds.front(), 0.001);
  EXPECT_EQ(bounds.back(), 600);
  for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
  Histogram h(bounds);  // accepted: strictly increasing and finite
}

TEST(MetricsTest, ConcurrentUpdatesSumExactly) {
  MetricsRegistry registry;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry] {
      // Looked up from every thread, so lookups race with updates too.
      Counter& c = registry.GetCounter("c_total", "c", {{"k", "v"}});
      Gauge& g = registry.GetGauge("g", "g");
      Histogram& h = registry.GetHistogram("h_seconds", "h", {0.5});
      for (int i = 0; i < kPerThread; ++i) {
        c.Increment(0.5);  // exact in binary, so the sum is exact in any order
        g.Add(-1);
        h.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(registry.GetCounter("c_total", "c", {{"k", "v"}}).value(), kThreads * kPerThread * 0.5);
  EXPECT_EQ(registry.GetGauge("g", "g").value(), -kThreads * kPerThread);
  Histogram& h = registry.GetHistogram("h_seconds", "h", {0.5});
  EXPECT_EQ(h.count(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(h.cumulative_counts(), std::vector<uint64_t>{kThreads * kPerThread / 2});
  EXPECT_EQ(h.sum(), kThreads * (kPerThread / 2) * 1.25);
}

TEST(MetricsTest, GlobalIsOneRegistry) { EXPECT_EQ(&MetricsRegistry::Global(), &MetricsRegistry::Global()); }

TEST(MetricsDeathTest, MisuseIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry registry;
  registry.GetCounter("dup_total", "help", {{"a", "1"}});
  EXPECT_DEATH(registry.GetGauge("dup_total", "help", {{"a", "1"}}), "another type");
  EXPECT_DEATH(registry.GetCounter("dup_total", "other help", {{"a", "1"}}), "another help");
  EXPECT_DEATH(registry.GetCounter("dup_total", "help", {{"b", "1"}}), "other label names");
  EXPECT_DEATH(registry.GetCounter("1bad", "help"), "bad metric name");
  EXPECT_DEATH(registry.GetCounter("ok_total", "help", {{"bad-label", "1"}}), "bad label name");
  EXPECT_DEATH(registry.GetCounter("ok_total", "help", {{"__reserved", "1"}}), "bad label name");
  EXPECT_DEATH(registry.GetHistogram("h_seconds", "help", {1}, {{"le", "1"}}), "reserved");
  EXPECT_DEATH(registry.GetHistogram("h_seconds", "help", {2, 1}), "strictly increase");
  EXPECT_DEATH(registry.GetCounter("ok_total", "help").Increment(-1), "only grows");
}

// promtool parses the text as Prometheus would and lints the names.
TEST(MetricsTest, PromtoolAcceptsTheText) {
  const char* promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) != 0) GTEST_SKIP() << "no " << promtool;
  MetricsRegistry registry;
  registry.GetCounter("fathom_requests_total", "Finished requests.", {{"finish_reason", "stop"}}).Increment(2);
  registry.GetCounter("fathom_requests_total", "Finished requests.", {{"finish_reason", "quote\"back\\slash\nnl"}});
  registry.GetGauge("fathom_running_requests", "Requests being decoded.\nSecond line.").Set(3);
  registry.GetGauge("fathom_kv_cache_usage_ratio", "Used fraction of KV blocks.", {{"pool", "gpu"}}).Set(0.25);
  Histogram& ttft = registry.GetHistogram("fathom_time_to_first_token_seconds", "Time to first token.",
                                          LatencyBucketsSeconds(), {{"model", "m"}});
  ttft.Observe(0.0004);
  ttft.Observe(0.3);
  ttft.Observe(1000);

  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  const std::string stem = (dir / ("fathom_metrics_" + std::to_string(getpid()))).string();
  const std::string input = stem + ".prom", output = stem + ".out";
  std::ofstream(input) << registry.RenderText();
  const std::string command = std::string(promtool) + " check metrics < " + input + " > " + output + " 2>&1";
  const int rc = std::system(command.c_str());
  std::ifstream in(output);
  const std::string printed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(input);
  std::filesystem::remove(output);
  EXPECT_EQ(rc, 0) << printed;
  EXPECT_EQ(printed, "") << registry.RenderText();
}

}  // namespace
}  // namespace fathom
