// cairn-nbd's server: serves images as NBD exports ("pool/image",
// read-only "pool/image@snap") on Boost.Asio coroutines.
//
// Threading: everything runs on client.executor() (the client library's io
// thread), so connections, open images and the object ops they issue share
// one owner and nothing locks. Connections to the same image share one open
// Image (one lock holder per gateway), which makes multi-conn safe: every
// acked write is already durable in the cluster, and FLUSH waits for the
// image's writes in flight.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client/client.h"
#include "common/metrics.h"
#include "rbd/image.h"
#include "rbd/nbd/proto.h"

namespace cairn::nbd {

namespace asio = boost::asio;
using asio::awaitable;

struct ServerOptions {
  std::string name = "nbd.0";  // lock owner prefix
  uint64_t lease_ms = kDefaultLeaseMs;
  // Requests one connection may have in flight, and their payload bytes.
  size_t max_inflight = 64;
  uint64_t max_inflight_bytes = 256ull << 20;
  uint64_t handshake_timeout_ms = 10000;
};

class Server {
 public:
  Server(client::Client& c, ServerOptions opts, Metrics* metrics);
  ~Server();
  // Binds addr ("127.0.0.1:0" for any port) and starts accepting. Returns
  // the bound address. Call from any thread before the first connection.
  Result<std::string> listen(const std::string& addr);
  // Stops accepting, closes connections and images (releasing locks).
  awaitable<void> stop();

  struct Conn;

 private:
  friend struct Conn;
  awaitable<void> accept_loop();
  awaitable<void> serve(std::shared_ptr<Conn> conn);
  awaitable<void> transmission(std::shared_ptr<Conn> conn);
  awaitable<void> handle(std::shared_ptr<Conn> conn, Request r, std::string payload);
  void reply_error(Conn& conn, const Request& r, uint32_t err, const std::string& msg);
  awaitable<Result<std::shared_ptr<rbd::Image>>> acquire_image(rbd::ImageSpec spec);
  awaitable<void> release_image(std::string key);
  awaitable<Result<std::vector<std::string>>> list_exports();

  struct OpenImage {
    std::shared_ptr<rbd::Image> img;
    int refs = 0;
    bool busy = false;  // opening or closing
    std::unique_ptr<asio::steady_timer> changed;
  };

  client::Client& c_;
  ServerOptions opts_;
  std::string lock_owner_;
  asio::ip::tcp::acceptor acceptor_;
  bool stopped_ = false;
  std::map<std::string, std::shared_ptr<OpenImage>> images_;
  std::set<std::shared_ptr<Conn>> conns_;

  Metrics* metrics_;
  Gauge* connections_;
  Counter* handshake_failures_;
  Counter* ops_read_;
  Counter* ops_write_;
  Counter* ops_other_;
  Counter* bytes_read_;
  Counter* bytes_written_;
  Counter* errors_;
  Histogram* latency_;
};

}  // namespace cairn::nbd
