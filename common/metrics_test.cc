#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace cairn {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Metrics, CounterAndGaugeRender) {
  Metrics m;
  Counter& c = m.counter("cairn_ops_total", "Ops served.", {{"op", "write"}});
  c.inc();
  c.inc(41);
  Gauge& g = m.gauge("cairn_queue_depth", "Queued ops.");
  g.set(3);
  g.add(0.5);
  std::string out = m.render();
  EXPECT_TRUE(contains(out, "# HELP cairn_ops_total Ops served.\n# TYPE cairn_ops_total counter\n"))
      << out;
  EXPECT_TRUE(contains(out, "cairn_ops_total{op=\"write\"} 42\n")) << out;
  EXPECT_TRUE(contains(out, "# TYPE cairn_queue_depth gauge\ncairn_queue_depth 3.5\n")) << out;
  // Families are sorted by name.
  EXPECT_LT(out.find("cairn_ops_total"), out.find("cairn_queue_depth"));
}

TEST(Metrics, SameNameAndLabelsReturnSameObject) {
  Metrics m;
  Counter& a = m.counter("x_total", "X.", {{"a", "1"}, {"b", "2"}});
  Counter& b = m.counter("x_total", "ignored", {{"b", "2"}, {"a", "1"}});
  Counter& c = m.counter("x_total", "X.", {{"a", "2"}, {"b", "2"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.inc();
  c.inc(2);
  std::string out = m.render();
  EXPECT_EQ(1u, std::count(out.begin(), out.end(), '#') / 2) << out;  // one HELP + one TYPE
  EXPECT_TRUE(contains(out, "x_total{a=\"1\",b=\"2\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "x_total{a=\"2\",b=\"2\"} 2\n")) << out;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics m;
  Histogram& h = m.histogram("lat_seconds", "Latency.", {0.1, 1, 10}, {{"op", "read"}});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.5);
  h.observe(100);
  std::string out = m.render();
  EXPECT_TRUE(contains(out, "# TYPE lat_seconds histogram\n")) << out;
  EXPECT_TRUE(contains(out, "lat_seconds_bucket{op=\"read\",le=\"0.1\"} 2\n")) << out;
  EXPECT_TRUE(contains(out, "lat_seconds_bucket{op=\"read\",le=\"1\"} 3\n")) << out;
  EXPECT_TRUE(contains(out, "lat_seconds_bucket{op=\"read\",le=\"10\"} 3\n")) << out;
  EXPECT_TRUE(contains(out, "lat_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n")) << out;
  EXPECT_TRUE(contains(out, "lat_seconds_sum{op=\"read\"} 100.65\n")) << out;
  EXPECT_TRUE(contains(out, "lat_seconds_count{op=\"read\"} 4\n")) << out;
}

TEST(Metrics, HistogramWithoutLabels) {
  Metrics m;
  m.histogram("h", "H.", {1}).observe(2);
  std::string out = m.render();
  EXPECT_TRUE(contains(out, "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n"))
      << out;
}

TEST(Metrics, Escaping) {
  Metrics m;
  m.counter("esc_total", "Line one\nback\\slash \"quoted\"", {{"path", "a\"b\\c\nd"}}).inc();
  std::string out = m.render();
  EXPECT_TRUE(contains(out, "# HELP esc_total Line one\\nback\\\\slash \"quoted\"\n")) << out;
  EXPECT_TRUE(contains(out, "esc_total{path=\"a\\\"b\\\\c\\nd\"} 1\n")) << out;
}

TEST(Metrics, ValueFormatting) {
  EXPECT_EQ("0", format_metric_value(0));
  EXPECT_EQ("42", format_metric_value(42));
  EXPECT_EQ("-3", format_metric_value(-3));
  EXPECT_EQ("0.25", format_metric_value(0.25));
  EXPECT_EQ("+Inf", format_metric_value(INFINITY));
  EXPECT_EQ("-Inf", format_metric_value(-INFINITY));
  EXPECT_EQ("NaN", format_metric_value(NAN));
  EXPECT_EQ("1e+300", format_metric_value(1e300));
}

TEST(Metrics, CallbackGauge) {
  Metrics m;
  double v = 1;
  m.gauge_fn("cb", "Callback.", [&v] { return v; });
  EXPECT_TRUE(contains(m.render(), "cb 1\n"));
  v = 7.5;
  EXPECT_TRUE(contains(m.render(), "cb 7.5\n"));
  // Re-registering replaces the callback.
  m.gauge_fn("cb", "Callback.", [] { return 9.0; });
  EXPECT_TRUE(contains(m.render(), "cb 9\n"));
}

TEST(Metrics, CallbackMayUseTheRegistry) {
  Metrics m;
  Counter& c = m.counter("c_total", "C.");
  // render() runs callbacks without the registry lock: this must not deadlock.
  m.gauge_fn("reentrant", "R.", [&m, &c] {
    m.counter("c_total", "C.").inc();
    return static_cast<double>(c.value());
  });
  EXPECT_TRUE(contains(m.render(), "reentrant 1\n"));
}

TEST(Metrics, ConcurrentUpdates) {
  Metrics m;
  Counter& c = m.counter("n_total", "N.");
  Histogram& h = m.histogram("h", "H.", {0.5});
  Gauge& g = m.gauge("g", "G.");
  constexpr int kThreads = 4, kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        c.inc();
        h.observe(i % 2 == 0 ? 0.25 : 1.0);
        g.add(1);
        // Registration from other threads concurrently with updates and render.
        if (i % 1000 == 0) {
          m.counter("n_total", "N.", {{"t", std::to_string(t)}}).inc();
          (void)m.render();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(uint64_t{kThreads * kIters}, c.value());
  EXPECT_EQ(double{kThreads * kIters}, g.value());
  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(uint64_t{kThreads * kIters}, s.count);
  EXPECT_EQ(uint64_t{kThreads * kIters / 2}, s.cumulative[0]);
  EXPECT_DOUBLE_EQ(kThreads * kIters / 2 * 1.25, s.sum);
}

TEST(Metrics, ProcessMetrics) {
  Metrics m;
  register_process_metrics(m);
  std::string out = m.render();
  for (const char* name :
       {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
        "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"}) {
    EXPECT_TRUE(contains(out, std::string("\n") + name + " ")) << name << "\n" << out;
  }
  EXPECT_TRUE(contains(out, "# TYPE process_cpu_seconds_total counter\n")) << out;
  EXPECT_FALSE(contains(out, "NaN")) << out;
  // Resident memory is at least a page and the test has stdin/out/err open.
  size_t p = out.find("\nprocess_resident_memory_bytes ");
  EXPECT_GT(std::stod(out.substr(p + 31)), 4096.0);
  p = out.find("\nprocess_open_fds ");
  EXPECT_GE(std::stod(out.substr(p + 18)), 3.0);
}

TEST(Metrics, ExponentialBounds) {
  EXPECT_EQ((std::vector<double>{1, 2, 4, 8}), exponential_bounds(1, 2, 4));
  EXPECT_EQ(20u, kLatencyBoundsSeconds.size());
}

TEST(MetricsDeathTest, TypeMismatchAborts) {
  Metrics m;
  m.counter("dup", "D.");
  EXPECT_DEATH(m.gauge("dup", "D."), "different type");
  EXPECT_DEATH(m.counter("bad-name", "B."), "invalid metric name");
  EXPECT_DEATH(m.histogram("hh", "H.", {1}, {{"le", "x"}}), "invalid or duplicate label");
}

}  // namespace
}  // namespace cairn
