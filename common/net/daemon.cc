#include "common/net/daemon.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace cairn::net {

void setup_logging(const std::string& daemon_name) {
  auto logger = spdlog::stderr_logger_mt(daemon_name);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %n %L %v");
  spdlog::flush_on(spdlog::level::info);
  if (const char* lvl = std::getenv("CAIRN_LOG_LEVEL")) {
    spdlog::set_level(spdlog::level::from_str(lvl));
  }
}

Result<std::string> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read key file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == ' ' || key.back() == '\r')) key.pop_back();
  if (key.size() < 16) return Status::InvalidArgument("key file " + path + " holds no usable key");
  return key;
}

void run_until_signal(boost::asio::io_context& io, std::function<void()> on_stop) {
  // After the signal, work still queued (ops waiting for a PG, retry and
  // scrub timers) may finish for a few seconds; then the daemon exits anyway,
  // so that a stop is bounded (clients resend what was cut short).
  constexpr auto kStopGrace = std::chrono::seconds(5);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::atomic<bool> forced{false};
  std::thread watchdog;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("received signal {}, shutting down", sig);
    on_stop();
    watchdog = std::thread([&] {
      std::unique_lock l(mu);
      if (!cv.wait_for(l, kStopGrace, [&] { return finished; })) {
        spdlog::warn("work still in flight {} s after the stop signal: exiting anyway",
                     kStopGrace.count());
        forced = true;
        io.stop();
      }
    });
  });
  io.run();
  {
    std::lock_guard l(mu);
    finished = true;
  }
  cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
  // The abandoned coroutines still reference the services: leave without
  // destroying anything (every acked write is already durable).
  if (forced) {
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
}

uint64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace cairn::net
