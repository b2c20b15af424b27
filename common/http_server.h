// HttpServer: a tiny HTTP/1.1 server for /metrics, /healthz and small JSON
// status pages, plus a blocking http_get() client for tools and tests.
//
// The server runs on its own thread with its own io_context, so that a daemon
// can serve metrics without sharing its executors, and so that no Asio or
// Beast header leaks out of this file. It is not a general web server: GET and
// HEAD only, exact-path routes, small bounded requests.
//
//   HttpServer http("127.0.0.1:0");
//   http.route("/metrics", [&] { return HttpResponse{.body = metrics.render()}; });
//   http.route("/healthz", [&] { return HttpResponse{healthy ? 200 : 503, "text/plain", "ok\n"};
//   }); CAIRN_RETURN_IF_ERROR(http.start());
//   ... http.address() is "127.0.0.1:PORT" ...
//   http.stop();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace cairn {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; version=0.0.4";  // Prometheus text format
  std::string body;
};

class HttpServer {
 public:
  // bind_addr: "HOST:PORT" with an IP literal host ("127.0.0.1:0", "0.0.0.0:9100",
  // "[::1]:0"); port 0 picks a free port.
  explicit HttpServer(std::string bind_addr);
  ~HttpServer();  // stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves handler() for GET/HEAD of exactly path (query string ignored).
  // Handlers run on the server thread, one at a time; they must be thread-safe
  // with respect to the rest of the program and should be quick.
  // REQUIRES: called before start().
  void route(std::string path, std::function<HttpResponse()> handler);

  // Binds and listens, then spawns the server thread. Fails (InvalidArgument,
  // IoError) if the address is malformed or cannot be bound.
  Status start();

  // Closes the listener and all connections and joins the thread. Idempotent.
  void stop();

  // "HOST:PORT" with the actual port. REQUIRES: start() succeeded.
  std::string address() const;

  // Limits (fixed, documented for clients): a request's header block may be at
  // most kMaxHeaderBytes and its body kMaxBodyBytes; each request must arrive
  // within kReadTimeoutMs (this is also the keep-alive idle timeout); at most
  // kMaxConnections are served at once, further ones are closed on accept.
  static constexpr size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr size_t kMaxBodyBytes = 64 * 1024;
  static constexpr int kReadTimeoutMs = 10'000;
  static constexpr int kMaxConnections = 128;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GET http://addr/path with a total deadline of timeout_ms. addr is "HOST:PORT"
// (IP literal or name). Any HTTP status is a successful Result; errors are
// Unavailable (connection refused/reset), TimedOut, InvalidArgument (bad addr)
// or Corruption (unparseable response). Bodies over 64 MiB are refused.
Result<HttpResponse> http_get(const std::string& addr, const std::string& path, int timeout_ms);

// "HOST:PORT" -> host and port; accepts "[v6]:port". Exposed for tools.
Status split_host_port(const std::string& addr, std::string* host, uint16_t* port);

}  // namespace cairn
