// S3Server: the HTTP/1.1 listener of cairn-s3 (Boost.Beast, kept out of
// this header). Connections are coroutines on a small io_context pool; each
// request goes to Gateway::handle. Keep-alive, pipelined requests (read one
// at a time), Expect: 100-continue, chunked bodies, bounded buffers, and
// deadlines on every read (slowloris) and write.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace cairn::rgw {

class Gateway;

struct ServerOptions {
  std::string addr = "127.0.0.1:7480";  // IP:PORT; port 0 picks one
  int threads = 2;                      // io threads serving connections
  // A request's header block must arrive within this (also the keep-alive
  // idle timeout). Default 30 s.
  int header_timeout_ms = 30'000;
  // Each body read / response write must make progress within this. 60 s.
  int io_timeout_ms = 60'000;
  size_t max_header_bytes = 64 * 1024;  // S3 allows 8 KiB of metadata; 64 KiB covers it
  int max_connections = 1024;
};

class S3Server {
 public:
  S3Server(ServerOptions opts, Gateway* gateway);
  ~S3Server();  // stop()s
  Status start();
  void stop();
  std::string address() const;  // "IP:PORT" after start()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::rgw
