// cairn-osd: one object storage daemon per disk.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <sstream>

#include "common/http_server.h"
#include "common/net/daemon.h"
#include "osd/service/osd_service.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn-osd: a Cairn object storage daemon"};
  cairn::osd::OsdOptions opts;
  std::string key_file, mons;
  app.add_option("--id", opts.id, "OSD id")->required();
  app.add_option("--data", opts.data_dir, "data directory (RocksDB)")->required();
  app.add_option("--addr", opts.addr, "messenger address IP:PORT")->required();
  app.add_option("--http", opts.http_addr, "metrics/health address IP:PORT")->required();
  app.add_option("--host", opts.host, "failure-domain host name")->required();
  app.add_option("--key", key_file, "cluster key file")->required();
  app.add_option("--mon", mons, "monitor addresses IP:PORT,IP:PORT,...")->required();
  app.add_option("--store-threads", opts.store_threads, "object store calls in flight");
  // Recovery throttles can also come from the environment, so that daemons
  // started by `cairn up` / `cairn start` (and tests) can be tuned.
  app.add_option("--recovery-max-active", opts.recovery_max_active,
                 "recovery batches in flight across all PGs (default 2)")
      ->envname("CAIRN_OSD_RECOVERY_MAX_ACTIVE");
  app.add_option("--recovery-sleep-ms", opts.recovery_sleep_ms,
                 "pause between recovery batches while clients are active (default 20)")
      ->envname("CAIRN_OSD_RECOVERY_SLEEP_MS");
  app.add_option("--recovery-sleep-idle-ms", opts.recovery_sleep_idle_ms,
                 "pause between recovery batches when no client is active (default 0)")
      ->envname("CAIRN_OSD_RECOVERY_SLEEP_IDLE_MS");
  uint64_t full_reserve_mb = opts.full_reserve_bytes >> 20;
  app.add_option("--full-reserve-mb", full_reserve_mb,
                 "refuse writes (ENOSPC) when the data filesystem has less free (default 192)")
      ->envname("CAIRN_OSD_FULL_RESERVE_MB");
  app.add_option("--full-ratio", opts.full_ratio,
                 "refuse writes (ENOSPC) when the data filesystem is fuller than this (default 0.95)")
      ->envname("CAIRN_OSD_FULL_RATIO")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--scrub-interval-s", opts.scrub_interval_s,
                 "scrub each PG this often, plus up to --scrub-randomize-ratio more (default "
                 "86400; 0 = never)")
      ->envname("CAIRN_OSD_SCRUB_INTERVAL_S");
  app.add_option("--deep-scrub-interval-s", opts.deep_scrub_interval_s,
                 "deep-scrub each PG this often (default 604800; 0 = never)")
      ->envname("CAIRN_OSD_DEEP_SCRUB_INTERVAL_S");
  app.add_option("--scrub-randomize-ratio", opts.scrub_randomize_ratio,
                 "spread scheduled scrubs over this fraction of the interval (default 0.5)")
      ->envname("CAIRN_OSD_SCRUB_RANDOMIZE_RATIO")
      ->check(CLI::Range(0.0, 10.0));
  CLI11_PARSE(app, argc, argv);
  opts.full_reserve_bytes = full_reserve_mb << 20;

  cairn::net::setup_logging("osd." + std::to_string(opts.id));
  auto key = cairn::net::read_key_file(key_file);
  if (!key.ok()) {
    spdlog::critical("{}", key.status().to_string());
    return 1;
  }
  opts.key = *key;
  std::stringstream ss(mons);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) opts.mon_addrs.push_back(item);
  }
  if (opts.mon_addrs.empty()) {
    spdlog::critical("--mon lists no monitor");
    return 2;
  }

  boost::asio::io_context io;
  cairn::Metrics metrics;
  cairn::register_process_metrics(metrics);
  cairn::osd::OsdService service(io, opts, &metrics);
  cairn::Status st = service.start();
  if (!st.ok()) {
    spdlog::critical("cannot start osd.{}: {}", opts.id, st.to_string());
    return 1;
  }
  cairn::HttpServer http(opts.http_addr);
  http.route("/metrics", [&metrics] { return cairn::HttpResponse{200, "text/plain; version=0.0.4", metrics.render()}; });
  http.route("/healthz", [&service] {
    bool ok = service.healthy();
    return cairn::HttpResponse{ok ? 200 : 503, "text/plain", ok ? "ok\n" : "not booted\n"};
  });
  st = http.start();
  if (!st.ok()) {
    spdlog::critical("cannot serve metrics on {}: {}", opts.http_addr, st.to_string());
    return 1;
  }
  cairn::net::run_until_signal(io, [&] {
    boost::asio::co_spawn(io, service.shutdown(), boost::asio::detached);
  });
  http.stop();
  spdlog::info("osd.{} stopped", opts.id);
  return 0;
}
