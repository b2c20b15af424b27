// Metrics: a small thread-safe Prometheus registry.
//
// A daemon owns one Metrics, registers its counters, gauges and histograms at
// start-up, keeps the returned references, and updates them on the hot path
// with relaxed atomics (no locks, no allocation). render() produces the text
// exposition format 0.0.4 served at GET /metrics.
//
//   Metrics metrics;
//   Counter& ops = metrics.counter("cairn_osd_ops_total", "Ops served.", {{"op", "write"}});
//   Histogram& lat = metrics.histogram("cairn_osd_op_seconds", "Op latency.",
//                                      kLatencyBoundsSeconds);
//   ops.inc();
//   lat.observe(0.0012);
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cairn {

// Label name/value pairs. Order does not matter: {a,b} and {b,a} name the same
// series (they are sorted by name on registration).
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count (ops, bytes, errors).
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (queue depth, bytes used).
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void sub(double delta) { add(-delta); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with fixed upper bounds (Prometheus "le":
// a value v lands in the first bucket with v <= bound, or in +Inf).
class Histogram {
 public:
  // REQUIRES: bounds strictly increasing and finite (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);

  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; last is +Inf == count
    double sum = 0;
    uint64_t count = 0;
  };
  // Not an atomic cut across buckets, but count always equals the +Inf bucket.
  Snapshot snapshot() const;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

// start, start*factor, ... (count bounds). REQUIRES: start > 0, factor > 1, count >= 1.
std::vector<double> exponential_bounds(double start, double factor, int count);

// 50 us .. ~26 s in x2 steps: wide enough for both RAM-speed and disk-speed ops.
extern const std::vector<double> kLatencyBoundsSeconds;

class Metrics {
 public:
  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Returns the series name{labels}, creating it on first use. The reference
  // stays valid for the lifetime of this Metrics. help is taken from the first
  // registration of name. Registering one name with two different types (or a
  // histogram with different bounds) is a bug and aborts, as do invalid metric
  // or label names.
  Counter& counter(std::string name, std::string help, Labels labels = {});
  Gauge& gauge(std::string name, std::string help, Labels labels = {});
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds,
                       Labels labels = {});

  // A series whose value is computed by fn at render() time (e.g. a queue
  // length read from elsewhere). fn runs on the rendering thread, without the
  // registry lock held, so it may take its own locks but must be thread-safe.
  // Registering the same name+labels again replaces fn.
  void gauge_fn(std::string name, std::string help, std::function<double()> fn, Labels labels = {});
  void counter_fn(std::string name, std::string help, std::function<double()> fn,
                  Labels labels = {});

  // Prometheus text exposition format 0.0.4; families sorted by name.
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> fn;  // callback series (counter_fn / gauge_fn)
  };
  struct Family {
    std::string help;
    Type type;
    std::vector<double> bounds;            // histograms only
    std::map<std::string, Series> series;  // key: canonical rendering of the labels
  };

  Series& series(std::string name, std::string help, Type type, Labels labels,
                 const std::vector<double>* bounds);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Adds process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_open_fds, process_max_fds and
// process_start_time_seconds, read from /proc/self at render time.
void register_process_metrics(Metrics& metrics);

// Prometheus escaping, exposed for tests: label values escape \ " and newline;
// HELP text escapes \ and newline.
std::string escape_label_value(const std::string& v);
std::string escape_help(const std::string& v);
// A sample value as Prometheus prints it: integers without a fraction, +Inf, -Inf, NaN.
std::string format_metric_value(double v);

}  // namespace cairn
