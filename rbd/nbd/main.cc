// cairn-nbd: serves Cairn block images over NBD.
//   cairn-nbd --id 0 --addr 127.0.0.1:10809 --http 127.0.0.1:9110 --conf DIR/cairn.conf
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <thread>

#include "client/client.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/net/daemon.h"
#include "client/async.h"
#include "rbd/nbd/server.h"

using namespace cairn;

int main(int argc, char** argv) {
  CLI::App app{"cairn-nbd: the Cairn NBD gateway for block images", "cairn-nbd"};
  int id = 0;
  std::string addr = "127.0.0.1:10809";
  std::string http_addr = "127.0.0.1:0";
  std::string conf;
  uint64_t lease_ms = kDefaultLeaseMs;
  app.add_option("--id", id, "Gateway id (names the lock owner: nbd.ID)");
  app.add_option("--addr", addr, "NBD listen address IP:PORT (default 127.0.0.1:10809)");
  app.add_option("--http", http_addr, "Metrics/health address IP:PORT");
  app.add_option("--conf", conf, "Cluster config (default $CAIRN_CONF)")->envname("CAIRN_CONF");
  app.add_option("--lease-ms", lease_ms, "Exclusive lock lease in ms (default 15000)")
      ->check(CLI::Range(uint64_t{100}, uint64_t{3600000}));
  CLI11_PARSE(app, argc, argv);

  std::string name = "nbd." + std::to_string(id);
  net::setup_logging(name);

  // Signals go to sigwait below, not to the io threads created later.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Metrics metrics;
  register_process_metrics(metrics);
  std::atomic<bool> healthy{false};
  HttpServer http(http_addr);
  http.route("/metrics", [&] { return HttpResponse{.body = metrics.render()}; });
  http.route("/healthz", [&] {
    return healthy ? HttpResponse{200, "text/plain", "ok\n"}
                   : HttpResponse{503, "text/plain", "not connected to the cluster\n"};
  });
  if (Status st = http.start(); !st.ok()) {
    spdlog::critical("http: {}", st.to_string());
    return 1;
  }

  auto opts = client::load_config(conf);
  if (!opts.ok()) {
    spdlog::critical("{}", opts.status().to_string());
    return 1;
  }
  // Keep trying to reach the monitors: a gateway may start before them.
  std::unique_ptr<client::Client> client;
  for (;;) {
    auto c = client::Client::connect(*opts);
    if (c.ok()) {
      client = std::move(*c);
      break;
    }
    spdlog::warn("connect to monitors: {}; retrying", c.status().to_string());
    timespec zero{1, 0};  // wait a second between attempts
    siginfo_t info;
    if (sigtimedwait(&sigs, &info, &zero) > 0) return 0;
  }

  nbd::ServerOptions so;
  so.name = name;
  so.lease_ms = lease_ms;
  nbd::Server server(*client, so, &metrics);
  auto bound = server.listen(addr);
  if (!bound.ok()) {
    spdlog::critical("{}", bound.status().to_string());
    return 1;
  }
  healthy = true;
  spdlog::info("serving NBD on {} (metrics on {})", *bound, http.address());

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("signal {}: stopping", sig);
  healthy = false;
  client::block_on(*client, [](nbd::Server* s) -> boost::asio::awaitable<bool> {
    co_await s->stop();
    co_return true;
  }(&server));
  http.stop();
  return 0;
}
