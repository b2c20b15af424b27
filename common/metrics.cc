#include "common/metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/status.h"

namespace cairn {

namespace {

bool valid_metric_name(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(const std::string& n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Renders {a="x",b="y"} (empty string for no labels), plus an optional extra
// label appended last (histogram "le").
std::string render_labels(const Labels& labels, const char* extra_name = nullptr,
                          const std::string& extra_value = {}) {
  if (labels.empty() && extra_name == nullptr) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (extra_name != nullptr) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Exact integers (counts, bytes) print without exponent or fraction up to 2^53.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    return fmt::format("{}", static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);  // shortest round-trip representation
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    CAIRN_CHECK(std::isfinite(bounds_[i]));
    CAIRN_CHECK(i == 0 || bounds_[i - 1] < bounds_[i]);
  }
}

void Histogram::observe(double v) {
  // First bound >= v; NaN compares false everywhere and lands in +Inf.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponential_bounds(double start, double factor, int count) {
  CAIRN_CHECK(start > 0 && factor > 1 && count >= 1);
  std::vector<double> out;
  out.reserve(count);
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) out.push_back(b);
  return out;
}

const std::vector<double> kLatencyBoundsSeconds = exponential_bounds(50e-6, 2, 20);

Metrics::Series& Metrics::series(std::string name, std::string help, Type type, Labels labels,
                                 const std::vector<double>* bounds) {
  if (!valid_metric_name(name)) {
    std::fprintf(stderr, "CHECK failed: invalid metric name '%s'\n", name.c_str());
    std::abort();
  }
  std::sort(labels.begin(), labels.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& ln = labels[i].first;
    bool reserved = type == Type::kHistogram && ln == "le";
    if (!valid_label_name(ln) || reserved || (i > 0 && labels[i - 1].first == ln)) {
      std::fprintf(stderr, "CHECK failed: invalid or duplicate label '%s' on metric '%s'\n",
                   ln.c_str(), name.c_str());
      std::abort();
    }
  }
  std::string key = render_labels(labels);

  // Caller holds mu_.
  auto [fit, inserted] = families_.try_emplace(name);
  Family& fam = fit->second;
  if (inserted) {
    fam.help = std::move(help);
    fam.type = type;
    if (bounds != nullptr) fam.bounds = *bounds;
  } else if (fam.type != type || (bounds != nullptr && fam.bounds != *bounds)) {
    std::fprintf(stderr, "CHECK failed: metric '%s' re-registered with a different type/bounds\n",
                 name.c_str());
    std::abort();
  }
  auto [sit, sinserted] = fam.series.try_emplace(std::move(key));
  if (sinserted) sit->second.labels = std::move(labels);
  return sit->second;
}

Counter& Metrics::counter(std::string name, std::string help, Labels labels) {
  std::lock_guard lock(mu_);
  Series& s = series(std::move(name), std::move(help), Type::kCounter, std::move(labels), nullptr);
  CAIRN_CHECK(!s.fn);  // a callback series cannot also be a plain counter
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Metrics::gauge(std::string name, std::string help, Labels labels) {
  std::lock_guard lock(mu_);
  Series& s = series(std::move(name), std::move(help), Type::kGauge, std::move(labels), nullptr);
  CAIRN_CHECK(!s.fn);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Metrics::histogram(std::string name, std::string help, std::vector<double> bounds,
                              Labels labels) {
  std::lock_guard lock(mu_);
  Series& s =
      series(std::move(name), std::move(help), Type::kHistogram, std::move(labels), &bounds);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *s.histogram;
}

void Metrics::gauge_fn(std::string name, std::string help, std::function<double()> fn,
                       Labels labels) {
  CAIRN_CHECK(fn != nullptr);
  std::lock_guard lock(mu_);
  Series& s = series(std::move(name), std::move(help), Type::kGauge, std::move(labels), nullptr);
  CAIRN_CHECK(!s.gauge);
  s.fn = std::move(fn);
}

void Metrics::counter_fn(std::string name, std::string help, std::function<double()> fn,
                         Labels labels) {
  CAIRN_CHECK(fn != nullptr);
  std::lock_guard lock(mu_);
  Series& s = series(std::move(name), std::move(help), Type::kCounter, std::move(labels), nullptr);
  CAIRN_CHECK(!s.counter);
  s.fn = std::move(fn);
}

std::string Metrics::render() const {
  // Copy what is needed under the lock, then read values and run callbacks
  // outside it: a callback may be slow or take locks of its own. Series
  // objects are never removed, so the raw pointers stay valid.
  struct SeriesView {
    const Labels* labels;
    const Counter* counter;
    const Gauge* gauge;
    const Histogram* histogram;
    std::function<double()> fn;
  };
  struct FamilyView {
    const std::string* name;
    const std::string* help;
    Type type;
    std::vector<SeriesView> series;
  };
  std::vector<FamilyView> views;
  {
    std::lock_guard lock(mu_);
    views.reserve(families_.size());
    for (const auto& [name, fam] : families_) {
      FamilyView fv{&name, &fam.help, fam.type, {}};
      for (const auto& [key, s] : fam.series) {
        fv.series.push_back({&s.labels, s.counter.get(), s.gauge.get(), s.histogram.get(), s.fn});
      }
      views.push_back(std::move(fv));
    }
  }

  std::string out;
  for (const FamilyView& fv : views) {
    const std::string& name = *fv.name;
    const char* type = fv.type == Type::kCounter ? "counter"
                       : fv.type == Type::kGauge ? "gauge"
                                                 : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(*fv.help), name, type);
    for (const SeriesView& s : fv.series) {
      if (s.histogram != nullptr) {
        Histogram::Snapshot snap = s.histogram->snapshot();
        for (size_t i = 0; i <= snap.bounds.size(); ++i) {
          std::string le = i < snap.bounds.size() ? format_metric_value(snap.bounds[i]) : "+Inf";
          out += fmt::format("{}_bucket{} {}\n", name, render_labels(*s.labels, "le", le),
                             snap.cumulative[i]);
        }
        std::string labels = render_labels(*s.labels);
        out += fmt::format("{}_sum{} {}\n", name, labels, format_metric_value(snap.sum));
        out += fmt::format("{}_count{} {}\n", name, labels, snap.count);
        continue;
      }
      double v = 0;
      if (s.fn) {
        v = s.fn();
      } else if (s.counter != nullptr) {
        out += fmt::format("{}{} {}\n", name, render_labels(*s.labels), s.counter->value());
        continue;
      } else if (s.gauge != nullptr) {
        v = s.gauge->value();
      }
      out += fmt::format("{}{} {}\n", name, render_labels(*s.labels), format_metric_value(v));
    }
  }
  return out;
}

namespace {

// Fields of /proc/self/stat after the ")" that ends the command name;
// index 0 is field 3 (state).
std::vector<std::string> proc_self_stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields;
  size_t p = line.rfind(')');
  if (p == std::string::npos) return fields;
  std::istringstream rest(line.substr(p + 1));
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;
}

double field_or_nan(const std::vector<std::string>& fields, size_t stat_field) {
  size_t i = stat_field - 3;
  if (i >= fields.size()) return NAN;
  return std::strtod(fields[i].c_str(), nullptr);
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = NAN;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      break;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return value;
}

}  // namespace

void register_process_metrics(Metrics& metrics) {
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  metrics.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.",
                   [page_size] { return field_or_nan(proc_self_stat_fields(), 24) * page_size; });
  metrics.gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                   [] { return field_or_nan(proc_self_stat_fields(), 23); });
  metrics.counter_fn("process_cpu_seconds_total", "Total user and system CPU time in seconds.",
                     [ticks] {
                       auto f = proc_self_stat_fields();
                       return (field_or_nan(f, 14) + field_or_nan(f, 15)) / ticks;
                     });
  metrics.gauge_fn("process_open_fds", "Number of open file descriptors.", [] {
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return static_cast<double>(NAN);
    int n = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    return static_cast<double>(n - 1);  // minus the fd opendir itself holds
  });
  metrics.gauge_fn("process_max_fds", "Maximum number of open file descriptors.", [] {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return static_cast<double>(NAN);
    return rl.rlim_cur == RLIM_INFINITY ? static_cast<double>(INFINITY)
                                        : static_cast<double>(rl.rlim_cur);
  });
  // Start time is fixed: compute once.
  double start = boot_time_seconds() + field_or_nan(proc_self_stat_fields(), 22) / ticks;
  metrics.gauge_fn("process_start_time_seconds",
                   "Start time of the process since unix epoch in seconds.",
                   [start] { return start; });
}

}  // namespace cairn
