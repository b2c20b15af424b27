// The messenger: authenticated, checksummed, pipelined request/response over
// TCP on Boost.Asio C++20 coroutines. Used for client<->OSD, OSD<->OSD and
// everything<->monitor traffic.
//
// Threading: a Connection, Server or ConnectionPool belongs to the executor it
// was created on and must only be touched from it (one io_context thread per
// daemon). Nothing here locks.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/net/frame.h"
#include "common/status.h"

namespace cairn::net {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
using Millis = std::chrono::milliseconds;

class Connection;
using ConnectionPtr = std::shared_ptr<Connection>;

// Handles one request or one-way message. Runs as its own coroutine on the
// connection's executor; answer a request with conn->reply(...).
using RequestHandler = std::function<awaitable<void>(ConnectionPtr, Frame)>;

inline constexpr Millis kHandshakeTimeout{5000};
// A connection whose peer acknowledges nothing (data or keepalive probes) for
// this long is closed: the peer is gone or partitioned away.
inline constexpr Millis kDeadPeerTimeout{10000};
// Requests one connection may have in its handlers at once: past this the
// connection stops reading, which pushes back on the sender through TCP.
inline constexpr size_t kMaxInflightPerConnection = 1024;

// Parses "1.2.3.4:port". Only numeric addresses: daemons listen on IPs.
Result<tcp::endpoint> parse_endpoint(const std::string& addr);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Authenticates a connected socket with the cluster key (mutual HMAC-SHA256
  // over fresh nonces). A peer that fails is dropped.
  static awaitable<Result<ConnectionPtr>> handshake(tcp::socket socket, std::string key,
                                                    bool is_server, Millis timeout);
  static awaitable<Result<ConnectionPtr>> connect(std::string addr, std::string key,
                                                  Millis timeout);

  explicit Connection(tcp::socket socket);
  ~Connection();

  // Starts the read loop. Requests go to handler; responses complete calls.
  void start(RequestHandler handler);

  // Sends a request and waits for its response. Errors: Unavailable when the
  // connection closes first, TimedOut past the deadline.
  awaitable<Result<Frame>> call(uint16_t type, std::string payload, Millis timeout);
  // One-way message (req_id 0, no response expected).
  void send(uint16_t type, std::string payload);
  void reply(uint64_t req_id, uint16_t type, std::string payload);

  void close();
  bool is_open() const { return open_; }
  const std::string& peer() const { return peer_; }
  // Called once when the connection closes (for either side's reason).
  void on_close(std::function<void()> fn) { on_close_ = std::move(fn); }

  // Slot for the owner to remember what this connection is (e.g. a subscriber).
  uint64_t tag = 0;

 private:
  struct OutFrame {
    HeaderBytes header;
    std::string payload;
    uint32_t crc;
  };
  struct PendingCall {
    explicit PendingCall(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::optional<Result<Frame>> result;
  };

  void enqueue(uint16_t type, uint16_t flags, uint64_t req_id, std::string payload);
  awaitable<void> read_loop(RequestHandler handler);
  awaitable<void> write_loop();
  awaitable<void> run_handler(RequestHandler handler, Frame frame);

  tcp::socket socket_;
  std::string peer_;
  bool open_ = true;
  bool writing_ = false;
  uint64_t next_req_id_ = 1;
  size_t inflight_ = 0;
  asio::steady_timer inflight_wakeup_;
  std::deque<OutFrame> out_;
  std::unordered_map<uint64_t, std::shared_ptr<PendingCall>> pending_;
  std::function<void()> on_close_;
};

// Accepts connections, authenticates them and hands their requests to handler.
class Server {
 public:
  Server(asio::any_io_executor ex, std::string key, RequestHandler handler);
  ~Server();
  // Binds addr ("127.0.0.1:0" for any free port); returns the bound address.
  Result<std::string> listen(const std::string& addr);
  void stop();
  size_t connection_count() const { return conns_.size(); }

 private:
  awaitable<void> accept_loop();
  awaitable<void> serve(tcp::socket socket);

  asio::any_io_executor ex_;
  std::string key_;
  RequestHandler handler_;
  tcp::acceptor acceptor_;
  std::map<Connection*, std::weak_ptr<Connection>> conns_;
  bool stopped_ = false;
};

// Outgoing connections by address, reused and re-established on demand with
// backoff. Concurrent get() calls for one address share one connect.
class ConnectionPool {
 public:
  ConnectionPool(asio::any_io_executor ex, std::string key, RequestHandler handler = nullptr);
  // An open connection to addr, connecting if needed. Fails fast (Unavailable)
  // while the address is in its reconnect backoff after a failed connect.
  awaitable<Result<ConnectionPtr>> get(std::string addr, Millis timeout);
  // Convenience: get() then call().
  awaitable<Result<Frame>> call(std::string addr, uint16_t type, std::string payload,
                                Millis timeout);
  void close(const std::string& addr);
  // For shutdown: closes every connection, and get() fails from now on (a
  // connect still running is closed when it finishes, so that nothing keeps
  // the executor busy).
  void close_all();

 private:
  struct Entry {
    ConnectionPtr conn;
    bool connecting = false;
    std::shared_ptr<asio::steady_timer> connected;  // fires when a connect ends
    std::chrono::steady_clock::time_point retry_after{};
    Millis backoff{0};
  };
  asio::any_io_executor ex_;
  std::string key_;
  RequestHandler handler_;
  std::map<std::string, Entry> entries_;
  bool closed_ = false;
};

}  // namespace cairn::net
