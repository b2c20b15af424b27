#include "common/net/connection.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace cairn::net {

using namespace boost::asio::experimental::awaitable_operators;
namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr char kHelloMagic[8] = {'C', 'A', 'I', 'R', 'N', 'H', 'S', '1'};
constexpr size_t kNonceSize = 32;
constexpr size_t kProofSize = 32;

std::array<unsigned char, kProofSize> auth_proof(const std::string& key, char role,
                                                 const unsigned char* their_nonce,
                                                 const unsigned char* my_nonce) {
  std::string msg = "cairn-auth-v1";
  msg.push_back(role);
  msg.append(reinterpret_cast<const char*>(their_nonce), kNonceSize);
  msg.append(reinterpret_cast<const char*>(my_nonce), kNonceSize);
  std::array<unsigned char, kProofSize> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out.data(), &len);
  return out;
}

std::string endpoint_string(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Runs op with a deadline: on expiry the socket is closed, which aborts op.
template <typename Op>
awaitable<boost::system::error_code> with_deadline(tcp::socket& socket, Millis timeout, Op op) {
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(timeout);
  auto result = co_await (op() || timer.async_wait(kNoThrow));
  if (result.index() == 1) {
    boost::system::error_code ignored;
    socket.close(ignored);
    co_return asio::error::timed_out;
  }
  co_return std::get<0>(result);
}

}  // namespace

Result<tcp::endpoint> parse_endpoint(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("address '" + addr + "' has no port");
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(addr.substr(0, colon), ec);
  if (ec) return Status::InvalidArgument("bad IP address in '" + addr + "'");
  int port = 0;
  try {
    port = std::stoi(addr.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status::InvalidArgument("bad port in '" + addr + "'");
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

// ---- Connection -------------------------------------------------------------

Connection::Connection(tcp::socket socket)
    : socket_(std::move(socket)),
      peer_(endpoint_string(socket_)),
      inflight_wakeup_(socket_.get_executor()) {
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  // Behind a partition that drops packets silently, TCP would keep this
  // connection open for many minutes, retransmitting with exponential
  // backoff: an idle subscription would never notice its monitor vanished,
  // and after the network heals, traffic would wait for the next
  // retransmission (tens of seconds after a long partition). Keepalive
  // probes an idle connection, and TCP_USER_TIMEOUT closes one whose data or
  // probes stay unacknowledged for kDeadPeerTimeout; its owner reconnects.
  socket_.set_option(asio::socket_base::keep_alive(true), ignored);
  int fd = socket_.native_handle();
  int idle_s = 5, interval_s = 1;
  unsigned user_timeout_ms = static_cast<unsigned>(kDeadPeerTimeout.count());
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

Connection::~Connection() = default;

awaitable<Result<ConnectionPtr>> Connection::handshake(tcp::socket socket, std::string key,
                                                       bool is_server, Millis timeout) {
  std::string peer = endpoint_string(socket);
  std::array<unsigned char, sizeof(kHelloMagic) + kNonceSize> hello{}, their_hello{};
  std::memcpy(hello.data(), kHelloMagic, sizeof(kHelloMagic));
  unsigned char* my_nonce = hello.data() + sizeof(kHelloMagic);
  RAND_bytes(my_nonce, kNonceSize);

  auto ec = co_await with_deadline(socket, timeout, [&]() -> awaitable<boost::system::error_code> {
    auto [e1, n1] = co_await asio::async_write(socket, asio::buffer(hello), kNoThrow);
    if (e1) co_return e1;
    auto [e2, n2] = co_await asio::async_read(socket, asio::buffer(their_hello), kNoThrow);
    co_return e2;
  });
  if (ec) co_return Status::Unavailable("handshake with " + peer + " failed: " + ec.message());
  if (std::memcmp(their_hello.data(), kHelloMagic, sizeof(kHelloMagic)) != 0) {
    co_return Status::PermissionDenied("peer " + peer + " is not a cairn endpoint");
  }
  const unsigned char* their_nonce = their_hello.data() + sizeof(kHelloMagic);
  char my_role = is_server ? 'S' : 'C', their_role = is_server ? 'C' : 'S';
  auto my_proof = auth_proof(key, my_role, their_nonce, my_nonce);
  auto expected = auth_proof(key, their_role, my_nonce, their_nonce);
  std::array<unsigned char, kProofSize> their_proof{};

  ec = co_await with_deadline(socket, timeout, [&]() -> awaitable<boost::system::error_code> {
    auto [e1, n1] = co_await asio::async_write(socket, asio::buffer(my_proof), kNoThrow);
    if (e1) co_return e1;
    auto [e2, n2] = co_await asio::async_read(socket, asio::buffer(their_proof), kNoThrow);
    co_return e2;
  });
  if (ec) co_return Status::PermissionDenied("authentication with " + peer + " failed: " + ec.message());
  if (CRYPTO_memcmp(their_proof.data(), expected.data(), kProofSize) != 0) {
    co_return Status::PermissionDenied("peer " + peer + " does not hold the cluster key");
  }
  co_return std::make_shared<Connection>(std::move(socket));
}

awaitable<Result<ConnectionPtr>> Connection::connect(std::string addr, std::string key,
                                                     Millis timeout) {
  auto ep = parse_endpoint(addr);
  if (!ep.ok()) co_return ep.status();
  auto ex = co_await asio::this_coro::executor;
  tcp::socket socket(ex);
  auto ec = co_await with_deadline(socket, timeout, [&]() -> awaitable<boost::system::error_code> {
    auto [e] = co_await socket.async_connect(*ep, kNoThrow);
    co_return e;
  });
  if (ec) co_return Status::Unavailable("cannot connect to " + addr + ": " + ec.message());
  co_return co_await handshake(std::move(socket), std::move(key), false, timeout);
}

void Connection::start(RequestHandler handler) {
  asio::co_spawn(socket_.get_executor(), read_loop(std::move(handler)), asio::detached);
}

awaitable<void> Connection::read_loop(RequestHandler handler) {
  auto self = shared_from_this();
  while (open_) {
    HeaderBytes hb;
    auto [e1, n1] = co_await asio::async_read(socket_, asio::buffer(hb), kNoThrow);
    if (e1) break;
    auto header = decode_header(hb);
    if (!header.ok()) {
      spdlog::warn("dropping connection from {}: {}", peer_, header.status().to_string());
      break;
    }
    Frame frame;
    frame.header = *header;
    frame.payload.resize(header->length);
    uint32_t crc = 0;
    std::array<asio::mutable_buffer, 2> bufs{asio::buffer(frame.payload), asio::buffer(&crc, 4)};
    auto [e2, n2] = co_await asio::async_read(socket_, bufs, kNoThrow);
    if (e2) break;
    if (crc != frame_crc(hb, frame.payload)) {
      spdlog::warn("dropping connection from {}: frame checksum mismatch", peer_);
      break;
    }
    if (frame.header.is_response()) {
      auto it = pending_.find(frame.header.req_id);
      if (it != pending_.end()) {
        it->second->result.emplace(std::move(frame));
        it->second->timer.cancel();
      }
      continue;
    }
    if (!handler) continue;
    while (inflight_ >= kMaxInflightPerConnection && open_) {
      inflight_wakeup_.expires_after(std::chrono::seconds(1));
      co_await inflight_wakeup_.async_wait(kNoThrow);
    }
    ++inflight_;
    asio::co_spawn(socket_.get_executor(), run_handler(handler, std::move(frame)), asio::detached);
  }
  close();
}

awaitable<void> Connection::run_handler(RequestHandler handler, Frame frame) {
  auto self = shared_from_this();
  try {
    co_await handler(self, std::move(frame));
  } catch (const std::exception& e) {
    // Handlers return errors as values; an exception here is a bug in one
    // request, not a reason to take the daemon down.
    spdlog::error("request handler for {} threw: {}", peer_, e.what());
  }
  if (inflight_-- == kMaxInflightPerConnection) inflight_wakeup_.cancel();
}

void Connection::enqueue(uint16_t type, uint16_t flags, uint64_t req_id, std::string payload) {
  if (!open_) return;
  FrameHeader h{type, flags, req_id, static_cast<uint32_t>(payload.size())};
  OutFrame f{encode_header(h), std::move(payload), 0};
  f.crc = frame_crc(f.header, f.payload);
  out_.push_back(std::move(f));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(socket_.get_executor(), write_loop(), asio::detached);
  }
}

awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  // Gather every queued frame into one write: under load many small frames
  // leave in one syscall.
  std::vector<OutFrame> batch;
  std::vector<asio::const_buffer> bufs;
  while (open_ && !out_.empty()) {
    batch.clear();
    bufs.clear();
    size_t bytes = 0;
    while (!out_.empty() && batch.size() < 64 && bytes < (8u << 20)) {
      bytes += out_.front().payload.size();
      batch.push_back(std::move(out_.front()));
      out_.pop_front();
    }
    for (auto& f : batch) {
      bufs.emplace_back(asio::buffer(f.header));
      if (!f.payload.empty()) bufs.emplace_back(asio::buffer(f.payload));
      bufs.emplace_back(asio::buffer(&f.crc, 4));
    }
    auto [ec, n] = co_await asio::async_write(socket_, bufs, kNoThrow);
    if (ec) {
      close();
      break;
    }
  }
  writing_ = false;
}

awaitable<Result<Frame>> Connection::call(uint16_t type, std::string payload, Millis timeout) {
  auto self = shared_from_this();
  if (!open_) co_return Status::Unavailable("connection to " + peer_ + " is closed");
  uint64_t id = next_req_id_++;
  auto pending = std::make_shared<PendingCall>(socket_.get_executor());
  pending->timer.expires_after(timeout);
  pending_[id] = pending;
  enqueue(type, 0, id, std::move(payload));
  co_await pending->timer.async_wait(kNoThrow);
  pending_.erase(id);
  if (pending->result) co_return std::move(*pending->result);
  co_return Status::TimedOut("no reply from " + peer_ + " within " +
                             std::to_string(timeout.count()) + " ms");
}

void Connection::send(uint16_t type, std::string payload) { enqueue(type, 0, 0, std::move(payload)); }

void Connection::reply(uint64_t req_id, uint16_t type, std::string payload) {
  enqueue(type, kFlagResponse, req_id, std::move(payload));
}

void Connection::close() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  for (auto& [id, p] : pending_) {
    if (!p->result) p->result.emplace(Status::Unavailable("connection to " + peer_ + " closed"));
    p->timer.cancel();
  }
  inflight_wakeup_.cancel();
  out_.clear();
  if (on_close_) {
    auto fn = std::move(on_close_);
    on_close_ = nullptr;
    fn();
  }
}

// ---- Server -----------------------------------------------------------------

Server::Server(asio::any_io_executor ex, std::string key, RequestHandler handler)
    : ex_(ex), key_(std::move(key)), handler_(std::move(handler)), acceptor_(ex) {}

Server::~Server() { stop(); }

Result<std::string> Server::listen(const std::string& addr) {
  auto ep = parse_endpoint(addr);
  if (!ep.ok()) return ep.status();
  boost::system::error_code ec;
  acceptor_.open(ep->protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError("cannot listen on " + addr + ": " + ec.message());
  auto local = acceptor_.local_endpoint(ec);
  asio::co_spawn(ex_, accept_loop(), asio::detached);
  return local.address().to_string() + ":" + std::to_string(local.port());
}

awaitable<void> Server::accept_loop() {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) break;
      // EMFILE and friends: back off instead of spinning.
      asio::steady_timer t(ex_);
      t.expires_after(Millis(100));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    asio::co_spawn(ex_, serve(std::move(socket)), asio::detached);
  }
}

awaitable<void> Server::serve(tcp::socket socket) {
  std::string peer = endpoint_string(socket);
  auto conn = co_await Connection::handshake(std::move(socket), key_, true, kHandshakeTimeout);
  if (!conn.ok()) {
    spdlog::warn("rejected connection from {}: {}", peer, conn.status().to_string());
    co_return;
  }
  if (stopped_) co_return;
  ConnectionPtr c = *conn;
  Connection* raw = c.get();
  conns_[raw] = c;
  c->on_close([this, raw] { conns_.erase(raw); });
  c->start(handler_);
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  auto conns = std::move(conns_);
  conns_.clear();
  for (auto& [raw, weak] : conns) {
    if (auto c = weak.lock()) {
      c->on_close(nullptr);
      c->close();
    }
  }
}

// ---- ConnectionPool ---------------------------------------------------------

ConnectionPool::ConnectionPool(asio::any_io_executor ex, std::string key, RequestHandler handler)
    : ex_(ex), key_(std::move(key)), handler_(std::move(handler)) {}

awaitable<Result<ConnectionPtr>> ConnectionPool::get(std::string addr, Millis timeout) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (closed_) co_return Status::Shutdown("connections are closed (shutting down)");
    Entry& e = entries_[addr];
    if (e.conn && e.conn->is_open()) co_return e.conn;
    if (e.connecting) {
      auto signal = e.connected;
      co_await signal->async_wait(kNoThrow);
      continue;  // look again: the connect that was running has finished
    }
    auto now = std::chrono::steady_clock::now();
    if (now < e.retry_after) {
      co_return Status::Unavailable("cannot reach " + addr + " (retrying in " +
                                    std::to_string(std::chrono::duration_cast<Millis>(
                                                       e.retry_after - now)
                                                       .count()) +
                                    " ms)");
    }
    e.connecting = true;
    e.connected = std::make_shared<asio::steady_timer>(ex_, asio::steady_timer::time_point::max());
    auto result = co_await Connection::connect(addr, key_, timeout);
    Entry& e2 = entries_[addr];  // the map may have been rehashed? std::map: stable
    e2.connecting = false;
    e2.connected->cancel();
    if (closed_) {
      if (result.ok()) (*result)->close();
      co_return Status::Shutdown("connections are closed (shutting down)");
    }
    if (!result.ok()) {
      e2.backoff = std::min(Millis(2000), std::max(Millis(50), e2.backoff * 2));
      e2.retry_after = std::chrono::steady_clock::now() + e2.backoff;
      co_return result.status();
    }
    e2.backoff = Millis(0);
    e2.conn = *result;
    e2.conn->start(handler_);
    co_return e2.conn;
  }
  co_return Status::Unavailable("cannot reach " + addr);
}

awaitable<Result<Frame>> ConnectionPool::call(std::string addr, uint16_t type, std::string payload,
                                              Millis timeout) {
  auto conn = co_await get(addr, timeout);
  if (!conn.ok()) co_return conn.status();
  co_return co_await (*conn)->call(type, std::move(payload), timeout);
}

void ConnectionPool::close(const std::string& addr) {
  auto it = entries_.find(addr);
  if (it != entries_.end() && it->second.conn) it->second.conn->close();
}

void ConnectionPool::close_all() {
  closed_ = true;
  for (auto& [addr, e] : entries_) {
    if (e.conn) e.conn->close();
  }
}

}  // namespace cairn::net
