#include "rgw/service/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>
#include <vector>

#include "common/http_server.h"
#include "rgw/service/exchange.h"
#include "rgw/service/gateway.h"

namespace cairn::rgw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
using asio::use_awaitable;
constexpr auto kNoThrow = asio::as_tuple(use_awaitable);

namespace {

class BeastExchange final : public Exchange {
 public:
  BeastExchange(beast::tcp_stream& stream, beast::flat_buffer& buf,
                http::request_parser<http::buffer_body>& parser, const ServerOptions& opts)
      : stream_(stream), buf_(buf), parser_(parser), opts_(opts) {
    const auto& h = parser_.get();
    req_.method = std::string(h.method_string());
    req_.target = std::string(h.target());
    std::string_view t = req_.target;
    size_t q = t.find('?');
    if (!uri_decode(t.substr(0, q), &req_.path)) bad_target_ = true;
    if (q != std::string_view::npos && !parse_query(t.substr(q + 1), &req_.query)) bad_target_ = true;
    for (const auto& f : h) {
      req_.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
    }
    if (auto cl = parser_.content_length()) req_.content_length = *cl;
    req_.chunked = parser_.chunked();
    const std::string* expect = req_.header("expect");
    expect_continue_ = expect && lower(*expect) == "100-continue";
    keep_alive_ = h.keep_alive();
    if (parser_.is_done()) body_done_ = true;
  }

  bool bad_target() const { return bad_target_; }
  bool keep_alive() const { return keep_alive_ && !close_ && body_done_; }
  const HttpRequest& request() const override { return req_; }
  bool body_done() const override { return body_done_; }
  bool awaiting_continue() const override { return expect_continue_ && !continue_sent_; }
  bool response_started() const override { return started_; }
  void close_after() override { close_ = true; }

  awaitable<Result<std::string>> read_body(size_t max) override {
    if (body_done_ || max == 0) co_return std::string();
    if (expect_continue_ && !continue_sent_) {
      continue_sent_ = true;
      stream_.expires_after(std::chrono::milliseconds(opts_.io_timeout_ms));
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), kNoThrow);
      if (ec) co_return Status::IoError("write 100-continue: " + ec.message());
    }
    // Beast reads at most 64 KiB per read_some and we return after the first
    // bytes, so a bigger buffer would only be zero-filled and thrown away.
    max = std::min<size_t>(max, 64 * 1024);
    std::string out;
    out.resize(max);
    size_t have = 0;
    while (have < max && !parser_.is_done()) {
      parser_.get().body().data = out.data() + have;
      parser_.get().body().size = max - have;
      stream_.expires_after(std::chrono::milliseconds(opts_.io_timeout_ms));
      auto [ec, n] = co_await http::async_read_some(stream_, buf_, parser_, kNoThrow);
      size_t got = (max - have) - parser_.get().body().size;
      have += got;
      if (ec == http::error::need_buffer) {
        ec = {};
        if (got > 0) break;
        continue;
      }
      if (ec) {
        close_ = true;
        if (ec == beast::error::timeout) co_return Status::TimedOut("request body timed out");
        co_return Status::IoError("read body: " + ec.message());
      }
      if (got > 0) break;  // hand back what arrived; the caller asks again
    }
    out.resize(have);
    if (parser_.is_done()) body_done_ = true;
    co_return out;
  }

  awaitable<Status> send(HttpResponse r) override {
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    for (auto& [k, v] : r.headers) res.insert(k, v);
    res.set(http::field::server, "cairn-s3");
    const bool head = req_.method == "HEAD";
    if (!keep_alive()) res.keep_alive(false);
    if (head) {
      if (res.find(http::field::content_length) == res.end()) res.content_length(r.body.size());
      started_ = true;
      http::response<http::empty_body> hr{res.result(), 11};
      for (const auto& f : res) hr.insert(f.name_string(), f.value());
      http::response_serializer<http::empty_body> sr(hr);
      stream_.expires_after(std::chrono::milliseconds(opts_.io_timeout_ms));
      auto [ec, n] = co_await http::async_write_header(stream_, sr, kNoThrow);
      if (ec) co_return Status::IoError(ec.message());
      co_return Status::Ok();
    }
    res.body() = std::move(r.body);
    if (r.status == 304 || r.status == 204) {
      res.erase(http::field::content_length);
    } else {
      res.prepare_payload();
    }
    started_ = true;
    stream_.expires_after(std::chrono::milliseconds(opts_.io_timeout_ms));
    auto [ec, n] = co_await http::async_write(stream_, res, kNoThrow);
    if (ec) co_return Status::IoError(ec.message());
    co_return Status::Ok();
  }

  awaitable<Status> send_head(HttpResponse r, uint64_t content_length) override {
    http::response<http::empty_body> res{static_cast<http::status>(r.status), 11};
    for (auto& [k, v] : r.headers) res.insert(k, v);
    res.set(http::field::server, "cairn-s3");
    res.content_length(content_length);
    if (!keep_alive()) res.keep_alive(false);
    started_ = true;
    http::response_serializer<http::empty_body> sr(res);
    stream_.expires_after(std::chrono::milliseconds(opts_.io_timeout_ms));
    auto [ec, n] = co_await http::async_write_header(stream_, sr, kNoThrow);
    if (ec) {
      close_ = true;
      co_return Status::IoError(ec.message());
    }
    co_return Status::Ok();
  }

  awaitable<Status> send_data(std::string data) override {
    stream_.expires_after(std::chrono::milliseconds(opts_.io_timeout_ms));
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(data), kNoThrow);
    if (ec) {
      close_ = true;
      co_return Status::IoError(ec.message());
    }
    co_return Status::Ok();
  }

 private:
  beast::tcp_stream& stream_;
  beast::flat_buffer& buf_;
  http::request_parser<http::buffer_body>& parser_;
  const ServerOptions& opts_;
  HttpRequest req_;
  bool bad_target_ = false;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  bool keep_alive_ = true;
  bool body_done_ = false;
  bool started_ = false;
  bool close_ = false;
};

// A bare error for requests that never reach the gateway (unparseable).
awaitable<void> send_raw_error(beast::tcp_stream& stream, int status, std::string code,
                               std::string message) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/xml");
  res.set(http::field::server, "cairn-s3");
  res.keep_alive(false);
  res.body() = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
               "</Code><Message>" + message + "</Message></Error>";
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(5));
  (void)co_await http::async_write(stream, res, kNoThrow);
}

}  // namespace

struct S3Server::Impl {
  ServerOptions opts;
  Gateway* gateway;
  asio::io_context io;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<int> connections{0};
  std::string address;
  bool started = false;

  awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;  // the parser's header limit bounds it
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.header_limit(static_cast<uint32_t>(opts.max_header_bytes));
      parser.body_limit(boost::none);  // the gateway enforces object size limits
      stream.expires_after(std::chrono::milliseconds(opts.header_timeout_ms));
      auto [ec, n] = co_await http::async_read_header(stream, buf, parser, kNoThrow);
      if (ec) {
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
          co_await send_raw_error(stream, 400, "RequestHeaderSectionTooLarge",
                                  "Your request header section exceeds the maximum allowed size.");
        } else if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                   ec != asio::error::eof && ec != asio::error::connection_reset &&
                   ec != asio::error::operation_aborted) {
          co_await send_raw_error(stream, 400, "BadRequest", "Malformed HTTP request.");
        }
        break;
      }
      BeastExchange ex(stream, buf, parser, opts);
      if (ex.bad_target()) {
        co_await send_raw_error(stream, 400, "InvalidURI", "Couldn't parse the specified URI.");
        break;
      }
      co_await gateway->handle(ex);
      if (!ex.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
    --connections;
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor->async_accept(kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        continue;
      }
      if (connections.load() >= opts.max_connections) {
        beast::error_code ignored;
        sock.close(ignored);
        continue;
      }
      ++connections;
      sock.set_option(tcp::no_delay(true));
      // Each connection on its own strand-less executor: one coroutine per
      // connection is sequential by construction.
      asio::co_spawn(io, session(std::move(sock)), asio::detached);
    }
  }
};

S3Server::S3Server(ServerOptions opts, Gateway* gateway) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->gateway = gateway;
}

S3Server::~S3Server() { stop(); }

Status S3Server::start() {
  std::string host;
  uint16_t port = 0;
  CAIRN_RETURN_IF_ERROR(split_host_port(impl_->opts.addr, &host, &port));
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("bad listen address " + impl_->opts.addr);
  tcp::endpoint ep(ip, port);
  impl_->acceptor.emplace(impl_->io);
  impl_->acceptor->open(ep.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(ep, ec);
  if (!ec) impl_->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError("listen on " + impl_->opts.addr + ": " + ec.message());
  auto local = impl_->acceptor->local_endpoint();
  impl_->address = local.address().to_string() + ":" + std::to_string(local.port());
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  for (int i = 0; i < std::max(1, impl_->opts.threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
  impl_->started = true;
  return Status::Ok();
}

void S3Server::stop() {
  if (!impl_ || !impl_->started) return;
  impl_->started = false;
  asio::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor->close(ec);
  });
  // In-flight requests get a short grace period, then the loop stops.
  for (int i = 0; i < 50 && impl_->connections.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

std::string S3Server::address() const { return impl_->address; }

}  // namespace cairn::rgw
