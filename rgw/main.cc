// cairn-s3: the S3 gateway. Stateless: run several against one cluster.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/client.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/net/daemon.h"
#include "rgw/service/gateway.h"
#include "rgw/service/server.h"
#include "rgw/store/store.h"
#include "rgw/store/users.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn-s3: the Cairn S3 gateway"};
  int id = 0;
  std::string conf, http_addr, admin_file;
  cairn::rgw::ServerOptions sopts;
  cairn::rgw::GatewayOptions gopts;
  cairn::rgw::PoolNames pools;
  app.add_option("--id", id, "gateway id (names it s3.ID)");
  app.add_option("--addr", sopts.addr, "S3 endpoint IP:PORT (default 127.0.0.1:7480)");
  app.add_option("--http", http_addr, "metrics/health address IP:PORT")->required();
  app.add_option("--conf", conf, "cluster config (default $CAIRN_CONF)");
  app.add_option("--threads", sopts.threads, "HTTP io threads (default 2)");
  app.add_option("--region", gopts.region, "region this gateway reports (default us-east-1)");
  app.add_option("--domain", gopts.domain, "base domain for virtual-hosted-style bucket names");
  app.add_option("--meta-pool", pools.meta, "pool for buckets, index, users (default s3-meta)");
  app.add_option("--data-pool", pools.data, "pool for object data (default s3-data)");
  app.add_option("--admin-file", admin_file,
                 "JSON {user, access_key, secret_key}: make sure this user and key exist at start");
  app.add_option("--min-part-size", gopts.min_part_size, "smallest non-final multipart part (5 MiB)");
  app.add_option("--index-shards", gopts.index_shards,
                 "index shards of new buckets (default 8): more shards, more parallel small writes")
      ->check(CLI::Range(1, 1024));
  app.add_option("--header-timeout-ms", sopts.header_timeout_ms,
                 "a request's headers must arrive within this; also the keep-alive idle time (30000)")
      ->check(CLI::Range(100, 3'600'000));
  app.add_option("--io-timeout-ms", sopts.io_timeout_ms,
                 "each body read / response write must progress within this (60000)")
      ->check(CLI::Range(100, 3'600'000));
  CLI11_PARSE(app, argc, argv);

  cairn::net::setup_logging("s3." + std::to_string(id));
  std::atomic<bool> ready{false};
  cairn::Metrics metrics;
  cairn::register_process_metrics(metrics);
  cairn::HttpServer http(http_addr);
  http.route("/metrics", [&metrics] {
    return cairn::HttpResponse{200, "text/plain; version=0.0.4", metrics.render()};
  });
  http.route("/healthz", [&ready] {
    bool ok = ready.load();
    return cairn::HttpResponse{ok ? 200 : 503, "text/plain", ok ? "ok\n" : "starting\n"};
  });
  if (cairn::Status st = http.start(); !st.ok()) {
    spdlog::critical("cannot serve metrics on {}: {}", http_addr, st.to_string());
    return 1;
  }

  auto copts = cairn::client::load_config(conf);
  if (!copts.ok()) {
    spdlog::critical("{}", copts.status().to_string());
    return 1;
  }
  auto client = cairn::client::Client::connect(*copts);
  if (!client.ok()) {
    spdlog::critical("cannot connect to the cluster: {}", client.status().to_string());
    return 1;
  }
  cairn::rgw::Store store(client->get(), pools);
  if (cairn::Status st = store.init(); !st.ok()) {
    spdlog::critical("cannot set up the S3 pools: {}", st.to_string());
    return 1;
  }
  if (!admin_file.empty()) {
    std::ifstream in(admin_file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!in || j.is_discarded() || !j.contains("user") || !j.contains("access_key") ||
        !j.contains("secret_key")) {
      spdlog::critical("--admin-file {} is not a JSON object with user, access_key, secret_key",
                       admin_file);
      return 1;
    }
    cairn::Status st = cairn::rgw::ensure_user_key(
        **client, pools, j["user"].get<std::string>(),
        {j["access_key"].get<std::string>(), j["secret_key"].get<std::string>()});
    if (!st.ok()) {
      spdlog::critical("cannot create the admin user: {}", st.to_string());
      return 1;
    }
  }
  cairn::rgw::Gateway gateway(&store, gopts, &metrics);
  cairn::rgw::S3Server server(sopts, &gateway);
  if (cairn::Status st = server.start(); !st.ok()) {
    spdlog::critical("cannot serve S3 on {}: {}", sopts.addr, st.to_string());
    return 1;
  }
  spdlog::info("S3 gateway {} serving http://{}", id, server.address());
  ready = true;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  cairn::net::run_until_signal(io, [&] { guard.reset(); });
  ready = false;
  server.stop();
  http.stop();
  spdlog::info("S3 gateway {} stopped", id);
  return 0;
}
