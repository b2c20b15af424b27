#include "common/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <thread>

namespace cairn {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Errors come back as values (never exceptions) from every awaited operation.
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Large enough for a /metrics page of a big daemon; bounded so that a
// misbehaving peer cannot make a tool allocate without limit.
constexpr uint64_t kMaxClientBodyBytes = 64ull << 20;

std::string format_endpoint(const tcp::endpoint& ep) {
  const auto a = ep.address();
  std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

Status split_host_port(const std::string& addr, std::string* host, uint16_t* port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size()) {
    return Status::InvalidArgument("address '" + addr + "' is not HOST:PORT");
  }
  std::string h = addr.substr(0, colon);
  if (h.front() == '[') {
    if (h.back() != ']') return Status::InvalidArgument("address '" + addr + "': unbalanced [");
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return Status::InvalidArgument("address '" + addr + "': IPv6 hosts need [brackets]");
  }
  const std::string p = addr.substr(colon + 1);
  unsigned long v = 0;
  for (char c : p) {
    if (c < '0' || c > '9' || v > 65535) {
      return Status::InvalidArgument("address '" + addr + "': bad port");
    }
    v = v * 10 + (c - '0');
  }
  if (v > 65535) return Status::InvalidArgument("address '" + addr + "': bad port");
  *host = std::move(h);
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

struct HttpServer::Impl {
  std::string bind_addr;
  std::map<std::string, std::function<HttpResponse()>> routes;
  std::string address;
  bool started = false;
  bool stopped = false;

  // Declared before ioc: pending coroutine frames (which unregister their
  // streams here) are destroyed together with the io_context.
  std::set<beast::tcp_stream*> connections;  // server thread only (or after join)
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  struct ConnectionGuard {
    Impl* impl;
    beast::tcp_stream* stream;
    ~ConnectionGuard() { impl->connections.erase(stream); }
  };

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::server, "cairn");
    const bool head = req.method() == http::verb::head;
    if (req.method() != http::verb::get && !head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain");
      res.body() = "method not allowed\n";
    } else {
      std::string_view target = req.target();
      target = target.substr(0, target.find('?'));
      auto it = routes.find(std::string(target));
      if (it == routes.end()) {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain");
        res.body() = "not found\n";
      } else {
        HttpResponse r;
        try {
          r = it->second();
        } catch (const std::exception& e) {
          // A handler bug must not take the daemon's metrics endpoint down.
          r = HttpResponse{500, "text/plain", std::string("handler failed: ") + e.what() + "\n"};
        }
        if (r.status < 100 || r.status > 599) {
          r = HttpResponse{500, "text/plain", "handler returned a bad status\n"};
        }
        res.result(static_cast<unsigned>(r.status));
        res.set(http::field::content_type, r.content_type);
        res.body() = std::move(r.body);
      }
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    if (head) res.body().clear();  // keeps the Content-Length of the GET body
    return res;
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    connections.insert(&stream);
    ConnectionGuard guard{this, &stream};
    // The buffer bound caps what one connection can make us hold.
    beast::flat_buffer buffer(kMaxHeaderBytes + kMaxBodyBytes + 4096);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(kMaxBodyBytes);
      stream.expires_after(std::chrono::milliseconds(kReadTimeoutMs));
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      if (rec) break;  // EOF, timeout, oversized or garbage: just close
      http::response<http::string_body> res = handle(parser.get());
      const bool keep_alive = res.keep_alive();
      stream.expires_after(std::chrono::milliseconds(kReadTimeoutMs));
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        // EMFILE and friends: back off instead of spinning.
        spdlog::warn("http {}: accept failed: {}", address, ec.message());
        asio::steady_timer t(ioc, std::chrono::milliseconds(100));
        co_await t.async_wait(kNoThrow);
        continue;
      }
      if (connections.size() >= static_cast<size_t>(kMaxConnections)) {
        beast::error_code ignored;
        socket.close(ignored);
        continue;
      }
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }
};

HttpServer::HttpServer(std::string bind_addr) : impl_(std::make_unique<Impl>()) {
  impl_->bind_addr = std::move(bind_addr);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(std::string path, std::function<HttpResponse()> handler) {
  CAIRN_CHECK(!impl_->started);
  CAIRN_CHECK(handler != nullptr);
  impl_->routes[std::move(path)] = std::move(handler);
}

Status HttpServer::start() {
  Impl& m = *impl_;
  CAIRN_CHECK(!m.started);
  std::string host;
  uint16_t port = 0;
  CAIRN_RETURN_IF_ERROR(split_host_port(m.bind_addr, &host, &port));
  boost::system::error_code ec;
  asio::ip::address ip = asio::ip::make_address(host, ec);
  if (ec)
    return Status::InvalidArgument("http bind address '" + m.bind_addr + "': " + ec.message());
  tcp::endpoint ep(ip, port);
  auto fail = [&](const char* what) {
    boost::system::error_code ignored;
    m.acceptor.close(ignored);
    return Status::IoError(std::string("http ") + what + " " + m.bind_addr + ": " + ec.message());
  };
  if (m.acceptor.open(ep.protocol(), ec)) return fail("open");
  if (m.acceptor.set_option(tcp::acceptor::reuse_address(true), ec)) return fail("setsockopt");
  if (m.acceptor.bind(ep, ec)) return fail("bind");
  if (m.acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  m.address = format_endpoint(m.acceptor.local_endpoint(ec));
  if (ec) return fail("getsockname");
  m.started = true;
  asio::co_spawn(m.ioc, m.accept_loop(), asio::detached);
  m.thread = std::thread([&m] {
    for (;;) {
      try {
        m.ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("http {}: unexpected exception: {}", m.address, e.what());
      }
    }
  });
  return Status::Ok();
}

void HttpServer::stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.ioc.stop();
  m.thread.join();
  // The server thread is gone, so touching its objects from here is safe.
  // Close sockets now so peers see the close without waiting for ~HttpServer.
  boost::system::error_code ignored;
  m.acceptor.close(ignored);
  for (beast::tcp_stream* s : m.connections) s->socket().close(ignored);
}

std::string HttpServer::address() const {
  CAIRN_CHECK(impl_->started);
  return impl_->address;
}

namespace {

struct GetState {
  std::string host;
  uint16_t port = 0;
  std::string path;
  std::chrono::steady_clock::time_point deadline;
  Result<HttpResponse> result = Status::TimedOut("not started");
};

Status map_error(const beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return Status::TimedOut(what + ": timed out");
  if (ec.category() == http::make_error_code(http::error::bad_version).category() &&
      ec != http::error::end_of_stream) {
    return Status::Corruption(what + ": bad HTTP response: " + ec.message());
  }
  return Status::Unavailable(what + ": " + ec.message());
}

asio::awaitable<void> do_get(std::shared_ptr<GetState> st, tcp::resolver::results_type eps) {
  const std::string what = "GET http://" + st->host + ":" + std::to_string(st->port) + st->path;
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_at(st->deadline);
  auto [cec, cep] = co_await stream.async_connect(eps, kNoThrow);
  if (cec) {
    st->result = map_error(cec, what);
    co_return;
  }
  http::request<http::empty_body> req(http::verb::get, st->path, 11);
  req.set(http::field::host, st->host + ":" + std::to_string(st->port));
  req.set(http::field::user_agent, "cairn");
  req.keep_alive(false);
  stream.expires_at(st->deadline);
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  if (wec) {
    st->result = map_error(wec, what);
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxClientBodyBytes);
  stream.expires_at(st->deadline);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rec) {
    st->result = map_error(rec, what);
    co_return;
  }
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  st->result = std::move(out);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

Result<HttpResponse> http_get(const std::string& addr, const std::string& path, int timeout_ms) {
  auto st = std::make_shared<GetState>();
  CAIRN_RETURN_IF_ERROR(split_host_port(addr, &st->host, &st->port));
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("http_get: path '" + path + "' must start with /");
  }
  st->path = path;
  st->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);

  asio::io_context ioc{1};
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  // Numeric hosts resolve without a lookup; names ("localhost") use the system resolver.
  auto eps = resolver.resolve(st->host, std::to_string(st->port), ec);
  if (ec)
    return Status::InvalidArgument("http_get: cannot resolve '" + addr + "': " + ec.message());
  asio::co_spawn(ioc, do_get(st, std::move(eps)), asio::detached);
  try {
    ioc.run();
  } catch (const std::exception& e) {
    return Status::IoError(std::string("http_get: ") + e.what());
  }
  return std::move(st->result);
}

}  // namespace cairn
