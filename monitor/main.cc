// cairn-mon: one member of the monitor quorum.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/http_server.h"
#include "common/net/daemon.h"
#include "monitor/service/mon_service.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn-mon: a Cairn monitor (Raft quorum member holding the cluster map)"};
  cairn::mon::MonOptions opts;
  std::string key_file, peers;
  uint64_t down_grace_ms = 6000, out_interval_ms = 600000;
  app.add_option("--id", opts.id, "monitor id")->required();
  app.add_option("--data", opts.data_dir, "data directory")->required();
  app.add_option("--addr", opts.addr, "messenger address IP:PORT")->required();
  app.add_option("--http", opts.http_addr, "metrics/health address IP:PORT")->required();
  app.add_option("--key", key_file, "cluster key file")->required();
  app.add_option("--fsid", opts.fsid, "cluster id (used when bootstrapping a new map)");
  app.add_option("--peers", peers, "founding members: 0=IP:PORT,1=IP:PORT,...")->required();
  app.add_flag("--join", opts.join,
               "join an existing quorum (after `cairnctl mon add`) instead of founding one");
  app.add_option("--osd-down-grace-ms", down_grace_ms, "mark an OSD down after this silence");
  app.add_option("--osd-out-interval-ms", out_interval_ms, "mark a down OSD out after this long");
  app.add_option("--tick-ms", opts.tick_ms, "raft tick length");
  CLI11_PARSE(app, argc, argv);
  opts.failure.down_grace_ms = down_grace_ms;
  opts.failure.out_interval_ms = out_interval_ms;

  cairn::net::setup_logging("mon." + std::to_string(opts.id));
  auto key = cairn::net::read_key_file(key_file);
  if (!key.ok()) {
    spdlog::critical("{}", key.status().to_string());
    return 1;
  }
  opts.key = *key;
  std::stringstream ss(peers);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) {
      spdlog::critical("bad --peers entry '{}': expected ID=IP:PORT", item);
      return 2;
    }
    opts.peers[std::stoi(item.substr(0, eq))] = item.substr(eq + 1);
  }

  boost::asio::io_context io;
  cairn::Metrics metrics;
  cairn::register_process_metrics(metrics);
  cairn::mon::MonService service(io, opts, &metrics);
  cairn::Status st = service.start();
  if (!st.ok()) {
    spdlog::critical("cannot start monitor {}: {}", opts.id, st.to_string());
    return 1;
  }
  cairn::HttpServer http(opts.http_addr);
  http.route("/metrics", [&metrics] { return cairn::HttpResponse{200, "text/plain; version=0.0.4", metrics.render()}; });
  http.route("/healthz", [&service] {
    bool ok = service.healthy();
    return cairn::HttpResponse{ok ? 200 : 503, "text/plain", ok ? "ok\n" : "no quorum\n"};
  });
  st = http.start();
  if (!st.ok()) {
    spdlog::critical("cannot serve metrics on {}: {}", opts.http_addr, st.to_string());
    return 1;
  }
  cairn::net::run_until_signal(io, [&] { service.stop(); });
  http.stop();
  spdlog::info("monitor {} stopped", opts.id);
  return 0;
}
