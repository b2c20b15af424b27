// cairn-mds: the Cairn filesystem metadata server.
//   cairn-mds --id 0 --addr 127.0.0.1:6800 --http 127.0.0.1:9120 --conf DIR/cairn.conf --fs cairnfs
// Several may run per filesystem: one becomes active, the rest stand by.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "client/client.h"
#include "client/pools.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/net/daemon.h"
#include "fs/mds/mds.h"
#include "client/async.h"

using namespace cairn;

int main(int argc, char** argv) {
  CLI::App app{"cairn-mds: the Cairn filesystem metadata server", "cairn-mds"};
  int id = 0;
  fs::MdsOptions mo;
  std::string http_addr = "127.0.0.1:0";
  std::string conf;
  app.add_option("--id", id, "MDS id (names it mds.ID)");
  app.add_option("--addr", mo.addr, "Client listen address IP:PORT (default: any free port)");
  app.add_option("--http", http_addr, "Metrics/health address IP:PORT");
  app.add_option("--conf", conf, "Cluster config (default $CAIRN_CONF)")->envname("CAIRN_CONF");
  app.add_option("--fs", mo.fs_name, "Filesystem name (pools NAME.meta, NAME.data)");
  app.add_option("--lease-ms", mo.lease_ms, "Active MDS lease in ms (default 10000)")
      ->check(CLI::Range(uint64_t{500}, uint64_t{600000}));
  app.add_option("--session-timeout-ms", mo.session_timeout_ms,
                 "Keep a disconnected client's opens and locks this long (default 30000)")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{3600000}));
  app.add_option("--reconnect-timeout-ms", mo.reconnect_timeout_ms,
                 "After a takeover, wait this long for the previous MDS's clients to resend "
                 "their unsafe requests (default 10000)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{600000}));
  app.add_option("--journal-batch-ms", mo.journal_batch_ms,
                 "Let a change answered early wait this long for others to share its journal "
                 "append, unless somebody waits for it (default 5; 0: append at once)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{100}));
  CLI11_PARSE(app, argc, argv);
  mo.name = "mds." + std::to_string(id);
  net::setup_logging(mo.name);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto opts = client::load_config(conf);
  if (!opts.ok()) {
    spdlog::critical("{}", opts.status().to_string());
    return 1;
  }
  mo.key = opts->key;

  Metrics metrics;
  register_process_metrics(metrics);
  std::atomic<fs::Mds*> mds_ptr{nullptr};
  HttpServer http(http_addr);
  http.route("/metrics", [&] { return HttpResponse{.body = metrics.render()}; });
  http.route("/healthz", [&] {
    return mds_ptr.load() != nullptr ? HttpResponse{200, "text/plain", "ok\n"}
                                     : HttpResponse{503, "text/plain", "starting\n"};
  });
  if (Status st = http.start(); !st.ok()) {
    spdlog::critical("http: {}", st.to_string());
    return 1;
  }

  std::unique_ptr<client::Client> client;
  for (;;) {
    auto c = client::Client::connect(*opts);
    if (c.ok()) {
      client = std::move(*c);
      break;
    }
    spdlog::warn("connect to monitors: {}; retrying", c.status().to_string());
    timespec one{1, 0};
    siginfo_t info;
    if (sigtimedwait(&sigs, &info, &one) > 0) return 0;
  }

  // The first MDS of a filesystem creates its pools (as `cairnctl fs new`).
  for (;;) {
    Status st = client::ensure_pool(*client, fs::meta_pool_name(mo.fs_name), 16);
    if (st.ok()) st = client::ensure_pool(*client, fs::data_pool_name(mo.fs_name), 64);
    if (st.ok()) break;
    spdlog::warn("{}; retrying", st.to_string());
    timespec two{2, 0};
    siginfo_t info;
    if (sigtimedwait(&sigs, &info, &two) > 0) return 0;
  }
  fs::Mds mds(*client, mo, &metrics);
  mds_ptr = &mds;
  auto done = boost::asio::co_spawn(client->executor(), mds.run(), boost::asio::use_future);
  int code = 0;
  for (;;) {
    timespec tick{0, 200 * 1000 * 1000};
    siginfo_t info;
    if (sigtimedwait(&sigs, &info, &tick) > 0) {
      spdlog::info("signal {}: stopping", info.si_signo);
      break;
    }
    if (done.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
  }
  client::block_on(*client, [](fs::Mds* m) -> boost::asio::awaitable<bool> {
    co_await m->stop();
    co_return true;
  }(&mds));
  Status st = done.get();
  if (!st.ok() && !st.is(Code::kShutdown)) {
    spdlog::error("{}", st.to_string());
    code = 1;
  }
  mds_ptr = nullptr;
  http.stop();
  return code;
}
