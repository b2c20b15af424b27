#include "rbd/nbd/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "common/net/connection.h"
#include "common/net/daemon.h"
#include "rbd/nbd/proto.h"

namespace cairn::nbd {

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
using tcp = asio::ip::tcp;

// One reply: owned header strings and an optional shared body, written as
// one gather write so chunks of different replies never interleave.
struct OutMsg {
  std::deque<std::string> parts;  // deque: stable addresses
  std::shared_ptr<const std::string> body;
  std::vector<asio::const_buffer> bufs;
  void add(std::string s) {
    parts.push_back(std::move(s));
    bufs.push_back(asio::buffer(parts.back()));
  }
  void add_body(size_t off, size_t len) { bufs.push_back(asio::buffer(body->data() + off, len)); }
};
}  // namespace

struct Server::Conn : std::enable_shared_from_this<Conn> {
  Conn(Server* s, tcp::socket sock)
      : server(s), socket(std::move(sock)), timer(socket.get_executor()),
        wakeup(socket.get_executor()) {
    wakeup.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    peer = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket.set_option(tcp::no_delay(true), ec);
  }

  Server* server;
  tcp::socket socket;
  asio::steady_timer timer;   // handshake deadline
  asio::steady_timer wakeup;  // cancelled when in-flight work or the out queue changes
  std::string peer;
  bool no_zeroes = false;
  bool structured = false;
  bool meta_context = false;
  bool open = true;
  std::string export_key;
  std::shared_ptr<rbd::Image> image;
  ExportInfo info;
  size_t inflight = 0;
  uint64_t inflight_bytes = 0;
  std::deque<OutMsg> out;
  bool writing = false;

  void close() {
    if (!open) return;
    open = false;
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    wakeup.cancel();
  }

  awaitable<bool> read_exact(void* p, size_t n) {
    auto [ec, got] = co_await asio::async_read(socket, asio::buffer(p, n), kNoThrow);
    co_return !ec && got == n;
  }
  awaitable<bool> write_now(std::string s) {
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(s), kNoThrow);
    co_return !ec;
  }
  awaitable<bool> option_reply(uint32_t opt, uint32_t type, std::string data = {}) {
    co_return co_await write_now(encode_option_reply(opt, type, data));
  }
  awaitable<bool> option_error(uint32_t opt, uint32_t type, std::string msg) {
    co_return co_await write_now(encode_option_reply(opt, type, msg));
  }

  // Queues a reply; one writer coroutine drains the queue.
  void send(OutMsg m) {
    if (!open) return;
    out.push_back(std::move(m));
    if (!writing) {
      writing = true;
      asio::co_spawn(socket.get_executor(), write_loop(shared_from_this()), asio::detached);
    }
  }
  static awaitable<void> write_loop(std::shared_ptr<Conn> self) {
    while (!self->out.empty() && self->open) {
      // Gather up to 16 replies per syscall.
      std::vector<asio::const_buffer> bufs;
      size_t n = std::min<size_t>(self->out.size(), 16);
      for (size_t i = 0; i < n; ++i) {
        for (auto& b : self->out[i].bufs) bufs.push_back(b);
      }
      auto [ec, w] = co_await asio::async_write(self->socket, bufs, kNoThrow);
      for (size_t i = 0; i < n; ++i) self->out.pop_front();
      if (ec) {
        self->close();
        break;
      }
    }
    self->writing = false;
    self->wakeup.cancel();
  }
};

Server::Server(client::Client& c, ServerOptions opts, Metrics* metrics)
    : c_(c), opts_(std::move(opts)), acceptor_(c.executor()), metrics_(metrics) {
  lock_owner_ = rbd::make_lock_owner(opts_.name);
  Metrics& m = *metrics_;
  connections_ = &m.gauge("cairn_nbd_connections", "Open NBD connections.");
  handshake_failures_ = &m.counter("cairn_nbd_handshake_failures_total", "Handshakes that failed.");
  ops_read_ = &m.counter("cairn_nbd_requests_total", "NBD requests served.", {{"cmd", "read"}});
  ops_write_ = &m.counter("cairn_nbd_requests_total", "NBD requests served.", {{"cmd", "write"}});
  ops_other_ = &m.counter("cairn_nbd_requests_total", "NBD requests served.", {{"cmd", "other"}});
  bytes_read_ = &m.counter("cairn_nbd_read_bytes_total", "Bytes returned by READ.");
  bytes_written_ = &m.counter("cairn_nbd_written_bytes_total", "Bytes accepted by WRITE.");
  errors_ = &m.counter("cairn_nbd_request_errors_total", "Requests answered with an error.");
  latency_ = &m.histogram("cairn_nbd_request_seconds", "NBD request latency.", kLatencyBoundsSeconds);
}

Server::~Server() = default;

Result<std::string> Server::listen(const std::string& addr) {
  auto ep = net::parse_endpoint(addr);
  if (!ep.ok()) return ep.status();
  boost::system::error_code ec;
  acceptor_.open(ep->protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*ep, ec);
  if (!ec) acceptor_.listen(128, ec);
  if (ec) return Status::IoError("listen on " + addr + ": " + ec.message());
  auto local = acceptor_.local_endpoint(ec);
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  return fmt::format("{}:{}", local.address().to_string(), local.port());
}

awaitable<void> Server::accept_loop() {
  while (!stopped_) {
    auto [ec, sock] = co_await acceptor_.async_accept(kNoThrow);
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) break;
      continue;
    }
    auto conn = std::make_shared<Conn>(this, std::move(sock));
    conns_.insert(conn);
    connections_->add(1);
    asio::co_spawn(acceptor_.get_executor(), serve(conn), asio::detached);
  }
}

awaitable<void> Server::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (const auto& conn : conns_) conn->close();
  // Connections release their images as they finish.
  for (int i = 0; i < 500 && !conns_.empty(); ++i) {
    asio::steady_timer t(c_.executor());
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(kNoThrow);
  }
  for (auto& [key, e] : images_) {
    if (e->img) (void)co_await e->img->close();
  }
  images_.clear();
}

awaitable<Result<std::shared_ptr<rbd::Image>>> Server::acquire_image(rbd::ImageSpec spec) {
  std::string key = spec.to_string();
  std::shared_ptr<OpenImage> e;
  for (;;) {
    auto& slot = images_[key];
    if (!slot) {
      slot = std::make_shared<OpenImage>();
      slot->changed = std::make_unique<asio::steady_timer>(c_.executor());
      slot->changed->expires_at(asio::steady_timer::time_point::max());
    }
    e = slot;
    if (!e->busy) break;
    // Opening or closing: wait, then look again (a closed entry is replaced).
    co_await e->changed->async_wait(kNoThrow);
  }
  if (e->img) {
    ++e->refs;
    // The image may have grown since it was opened (resize without the lock).
    std::shared_ptr<rbd::Image> img = e->img;
    if (!img->read_only()) {
      Status st = co_await img->refresh();
      if (!st.ok()) spdlog::warn("refresh {}: {}", key, st.to_string());
    }
    co_return img;
  }
  e->busy = true;
  rbd::OpenOptions oo;
  oo.mode = spec.snap.empty() ? rbd::OpenMode::kReadWrite : rbd::OpenMode::kReadOnly;
  oo.lock = rbd::LockOptions{lock_owner_, opts_.lease_ms};
  auto r = co_await rbd::Image::open(c_, spec, oo);
  e->busy = false;
  e->changed->cancel();
  if (!r.ok()) {
    auto it = images_.find(key);
    if (it != images_.end() && it->second == e && e->refs == 0) images_.erase(it);
    co_return r.status();
  }
  e->img = *r;
  e->refs = 1;
  co_return e->img;
}

awaitable<void> Server::release_image(std::string key) {
  auto it = images_.find(key);
  if (it == images_.end()) co_return;
  std::shared_ptr<OpenImage> e = it->second;
  CAIRN_CHECK(e->refs > 0 && e->img);
  if (--e->refs > 0) co_return;
  e->busy = true;
  Status st = co_await e->img->close();
  if (!st.ok()) spdlog::warn("close {}: {}", key, st.to_string());
  e->img.reset();
  e->busy = false;
  e->changed->cancel();
  it = images_.find(key);
  if (it != images_.end() && it->second == e && e->refs == 0) images_.erase(it);
}

awaitable<Result<std::vector<std::string>>> Server::list_exports() {
  std::vector<std::string> out;
  ClusterMap m = c_.map();
  for (const auto& [id, pool] : m.pools) {
    auto names = co_await rbd::list_images(c_, pool.name);
    if (!names.ok()) continue;
    for (const auto& n : *names) out.push_back(pool.name + "/" + n);
  }
  co_return out;
}

namespace {

// The handshake: options until GO / EXPORT_NAME (true) or the end (false).
awaitable<bool> handshake(Server::Conn& conn, Server& server,
                          std::function<awaitable<Result<std::shared_ptr<rbd::Image>>>(rbd::ImageSpec)> acquire,
                          std::function<awaitable<void>(std::string)> release,
                          std::function<awaitable<Result<std::vector<std::string>>>()> list) {
  std::string hello;
  put_be64(hello, kNbdMagic);
  put_be64(hello, kOptMagic);
  put_be16(hello, kFlagFixedNewstyle | kFlagNoZeroes);
  if (!co_await conn.write_now(hello)) co_return false;
  char cf[4];
  if (!co_await conn.read_exact(cf, 4)) co_return false;
  uint32_t client_flags = get_be32(cf);
  if (!(client_flags & kClientFixedNewstyle) || (client_flags & ~3u)) {
    spdlog::info("nbd {}: client flags {:#x} unsupported", conn.peer, client_flags);
    co_return false;
  }
  conn.no_zeroes = client_flags & kClientNoZeroes;
  for (int options = 0; options < 1000; ++options) {
    char hdr[16];
    if (!co_await conn.read_exact(hdr, 16)) co_return false;
    if (get_be64(hdr) != kOptMagic) co_return false;
    uint32_t opt = get_be32(hdr + 8);
    uint32_t len = get_be32(hdr + 12);
    if (len > kMaxOptionLength) {
      spdlog::info("nbd {}: option {} length {} too large", conn.peer, opt, len);
      co_return false;
    }
    std::string data(len, '\0');
    if (len > 0 && !co_await conn.read_exact(data.data(), len)) co_return false;
    switch (opt) {
      case kOptExportName: {
        auto spec = rbd::parse_image_spec(data);
        if (!spec.ok()) co_return false;  // the protocol's only answer is to hang up
        auto img = co_await acquire(*spec);
        if (!img.ok()) {
          spdlog::info("nbd {}: export {}: {}", conn.peer, data, img.status().to_string());
          co_return false;
        }
        conn.image = *img;
        conn.export_key = spec->to_string();
        conn.info = ExportInfo{conn.image->size(), conn.image->read_only()};
        if (!co_await conn.write_now(encode_export_name_reply(conn.info, conn.no_zeroes))) co_return false;
        co_return true;
      }
      case kOptAbort:
        (void)co_await conn.option_reply(opt, kRepAck);
        co_return false;
      case kOptList: {
        if (len != 0) {
          if (!co_await conn.option_error(opt, kRepErrInvalid, "LIST takes no data")) co_return false;
          break;
        }
        auto names = co_await list();
        if (!names.ok()) {
          if (!co_await conn.option_error(opt, kRepErrShutdown, names.status().message())) co_return false;
          break;
        }
        for (const auto& n : *names) {
          if (!co_await conn.option_reply(opt, kRepServer, encode_rep_server(n))) co_return false;
        }
        if (!co_await conn.option_reply(opt, kRepAck)) co_return false;
        break;
      }
      case kOptStartTls:
        if (!co_await conn.option_error(opt, kRepErrPolicy, "TLS is not configured on this server")) co_return false;
        break;
      case kOptStructuredReply:
        if (len != 0) {
          if (!co_await conn.option_error(opt, kRepErrInvalid, "STRUCTURED_REPLY takes no data")) co_return false;
          break;
        }
        conn.structured = true;
        if (!co_await conn.option_reply(opt, kRepAck)) co_return false;
        break;
      case kOptListMetaContext:
      case kOptSetMetaContext: {
        auto req = parse_meta_context_request(data);
        if (!req.ok()) {
          if (!co_await conn.option_error(opt, kRepErrInvalid, req.status().message())) co_return false;
          break;
        }
        if (!conn.structured) {
          if (!co_await conn.option_error(opt, kRepErrInvalid, "negotiate STRUCTURED_REPLY first")) co_return false;
          break;
        }
        bool match = false;
        if (req->queries.empty()) {
          match = opt == kOptListMetaContext;
        }
        for (const auto& q : req->queries) {
          if (q == kBaseAllocation || (opt == kOptListMetaContext && q == "base:")) match = true;
        }
        if (opt == kOptSetMetaContext) conn.meta_context = match;
        if (match) {
          if (!co_await conn.option_reply(opt, kRepMetaContext,
                                          encode_rep_meta_context(kBaseAllocationId, kBaseAllocation))) {
            co_return false;
          }
        }
        if (!co_await conn.option_reply(opt, kRepAck)) co_return false;
        break;
      }
      case kOptInfo:
      case kOptGo: {
        auto req = parse_info_request(data);
        if (!req.ok()) {
          if (!co_await conn.option_error(opt, kRepErrInvalid, req.status().message())) co_return false;
          break;
        }
        auto spec = rbd::parse_image_spec(req->name);
        if (!spec.ok()) {
          if (!co_await conn.option_error(opt, kRepErrUnknown, spec.status().message())) co_return false;
          break;
        }
        auto img = co_await acquire(*spec);
        if (!img.ok()) {
          const Status& s = img.status();
          uint32_t err = s.is(Code::kNotFound)   ? kRepErrUnknown
                         : s.is(Code::kConflict) ? kRepErrPolicy
                                                 : kRepErrShutdown;
          spdlog::info("nbd {}: export {}: {}", conn.peer, req->name, s.to_string());
          if (!co_await conn.option_error(opt, err, s.message())) co_return false;
          break;
        }
        ExportInfo info{(*img)->size(), (*img)->read_only()};
        bool ok = co_await conn.option_reply(opt, kRepInfo, encode_info_export(info));
        for (uint16_t i : req->infos) {
          if (!ok) break;
          if (i == kInfoBlockSize) {
            ok = co_await conn.option_reply(opt, kRepInfo,
                                            encode_info_block_size(kMinBlock, kPreferredBlock, kMaxPayload));
          } else if (i == kInfoName) {
            ok = co_await conn.option_reply(opt, kRepInfo, encode_info_name(spec->to_string()));
          }
        }
        if (ok) ok = co_await conn.option_reply(opt, kRepAck);
        if (opt == kOptInfo || !ok) {
          co_await release(spec->to_string());
          if (!ok) co_return false;
          break;
        }
        conn.image = *img;
        conn.export_key = spec->to_string();
        conn.info = info;
        co_return true;
      }
      default:
        if (!co_await conn.option_error(opt, kRepErrUnsup, "option not supported")) co_return false;
    }
  }
  co_return false;
}

}  // namespace

awaitable<void> Server::serve(std::shared_ptr<Conn> conn) {
  auto ex = co_await asio::this_coro::executor;
  // Handshake deadline: a silent or slow client is dropped.
  conn->timer.expires_after(std::chrono::milliseconds(opts_.handshake_timeout_ms));
  conn->timer.async_wait([c = conn.get()](boost::system::error_code ec) {
    if (!ec) c->close();
  });
  // Built outside the co_await expression: GCC 12 mishandles temporaries there.
  std::function<awaitable<Result<std::shared_ptr<rbd::Image>>>(rbd::ImageSpec)> acquire =
      [this](rbd::ImageSpec s) { return acquire_image(std::move(s)); };
  std::function<awaitable<void>(std::string)> release = [this](std::string k) {
    return release_image(std::move(k));
  };
  std::function<awaitable<Result<std::vector<std::string>>>()> list = [this]() {
    return list_exports();
  };
  bool ready = co_await handshake(*conn, *this, std::move(acquire), std::move(release),
                                  std::move(list));
  conn->timer.cancel();
  if (!ready) {
    if (conn->open) handshake_failures_->inc();
    conn->close();
  } else {
    co_await transmission(conn);
    // Wait for requests still in flight and the replies still queued.
    while (conn->inflight > 0 || conn->writing) co_await conn->wakeup.async_wait(kNoThrow);
    conn->close();
    std::string key = conn->export_key;
    conn->image.reset();
    co_await release_image(key);
  }
  conns_.erase(conn);
  connections_->sub(1);
  (void)ex;
}

awaitable<void> Server::transmission(std::shared_ptr<Conn> conn) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    // Back-pressure: bound requests and payload bytes in flight.
    while (conn->open && (conn->inflight >= opts_.max_inflight ||
                          conn->inflight_bytes >= opts_.max_inflight_bytes)) {
      co_await conn->wakeup.async_wait(kNoThrow);
    }
    if (!conn->open) co_return;
    char hdr[kRequestSize];
    if (!co_await conn->read_exact(hdr, sizeof hdr)) co_return;
    auto req = parse_request(std::string_view(hdr, sizeof hdr));
    if (!req.ok()) {
      spdlog::info("nbd {}: {}; closing", conn->peer, req.status().message());
      co_return;
    }
    if (req->type == Cmd::kDisc) co_return;
    uint32_t err = validate_request(*req, conn->info, conn->structured, conn->meta_context);
    std::string payload;
    if (req->type == Cmd::kWrite) {
      if (req->length <= kMaxPayload) {
        payload.resize(req->length);
        if (!co_await conn->read_exact(payload.data(), req->length)) co_return;
      } else {
        // Too large to accept: drain it to stay in sync, then refuse.
        std::string sink(1 << 20, '\0');
        uint64_t left = req->length;
        while (left > 0) {
          size_t n = std::min<uint64_t>(left, sink.size());
          if (!co_await conn->read_exact(sink.data(), n)) co_return;
          left -= n;
        }
      }
    }
    if (err != 0) {
      errors_->inc();
      reply_error(*conn, *req, err, "invalid request");
      continue;
    }
    ++conn->inflight;
    uint64_t bytes = req->type == Cmd::kRead || req->type == Cmd::kWrite ? req->length : 0;
    conn->inflight_bytes += bytes;
    asio::co_spawn(ex, handle(conn, *req, std::move(payload)), asio::detached);
  }
}

void Server::reply_error(Conn& conn, const Request& r, uint32_t err, const std::string& msg) {
  OutMsg m;
  if (conn.structured && (r.type == Cmd::kRead || r.type == Cmd::kBlockStatus)) {
    m.add(encode_error_chunk(r.cookie, err, msg));
  } else {
    m.add(encode_simple_reply(r.cookie, err));
  }
  conn.send(std::move(m));
}

awaitable<void> Server::handle(std::shared_ptr<Conn> conn, Request r, std::string payload) {
  auto start = std::chrono::steady_clock::now();
  std::shared_ptr<rbd::Image> img = conn->image;
  Status st;
  OutMsg m;
  switch (r.type) {
    case Cmd::kRead: {
      ops_read_->inc();
      auto rr = co_await img->read(r.offset, r.length);
      if (!rr.ok()) {
        st = rr.status();
        break;
      }
      bytes_read_->inc(r.length);
      auto body = std::make_shared<std::string>(std::move(rr->data));
      m.body = body;
      if (!conn->structured) {
        m.add(encode_simple_reply(r.cookie, 0));
        m.add_body(0, body->size());
      } else if ((r.flags & kCmdFlagDf) || (rr->extents.size() <= 1 && rr->extents[0].allocated)) {
        m.add(encode_data_chunk_header(r.cookie, kReplyFlagDone, r.offset,
                                       static_cast<uint32_t>(body->size())));
        m.add_body(0, body->size());
      } else {
        for (size_t i = 0; i < rr->extents.size(); ++i) {
          const auto& x = rr->extents[i];
          uint16_t flags = i + 1 == rr->extents.size() ? kReplyFlagDone : 0;
          if (x.allocated) {
            m.add(encode_data_chunk_header(r.cookie, flags, r.offset + x.offset,
                                           static_cast<uint32_t>(x.length)));
            m.add_body(x.offset, x.length);
          } else {
            m.add(encode_hole_chunk(r.cookie, flags, r.offset + x.offset,
                                    static_cast<uint32_t>(x.length)));
          }
        }
      }
      break;
    }
    case Cmd::kWrite:
      ops_write_->inc();
      bytes_written_->inc(r.length);
      st = co_await img->write(r.offset, std::move(payload));
      break;
    case Cmd::kFlush:
      ops_other_->inc();
      st = co_await img->flush();
      break;
    case Cmd::kTrim:
      ops_other_->inc();
      st = co_await img->discard(r.offset, r.length);
      break;
    case Cmd::kWriteZeroes:
      ops_other_->inc();
      st = co_await img->write_zeroes(r.offset, r.length, !(r.flags & kCmdFlagNoHole));
      break;
    case Cmd::kBlockStatus: {
      ops_other_->inc();
      auto al = co_await img->allocation(r.offset, r.length);
      if (!al.ok()) {
        st = al.status();
        break;
      }
      std::vector<Extent> exts;
      for (const auto& x : *al) {
        exts.push_back(Extent{static_cast<uint32_t>(x.length), x.allocated ? 0u : (kStateHole | kStateZero)});
        if (r.flags & kCmdFlagReqOne) break;
      }
      m.add(encode_block_status_chunk(r.cookie, kReplyFlagDone, kBaseAllocationId, exts));
      break;
    }
    default:
      st = Status::InvalidArgument("unsupported command");
  }
  if (!st.ok()) {
    errors_->inc();
    // Cluster-side failures matter to operators; bad requests do not.
    bool client_error = st.is(Code::kInvalidArgument) || st.is(Code::kNoSpace) ||
                        st.is(Code::kPermissionDenied) || st.is(Code::kTooLarge);
    std::string what = fmt::format("nbd {}: cmd {} {}+{}: {}", conn->peer,
                                   static_cast<int>(r.type), r.offset, r.length, st.to_string());
    if (client_error) {
      spdlog::debug("{}", what);
    } else {
      spdlog::warn("{}", what);
    }
    reply_error(*conn, r, status_to_nbd_error(st), st.message());
  } else if (m.bufs.empty()) {
    m.add(encode_simple_reply(r.cookie, 0));
    conn->send(std::move(m));
  } else {
    conn->send(std::move(m));
  }
  latency_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  --conn->inflight;
  if (r.type == Cmd::kRead || r.type == Cmd::kWrite) conn->inflight_bytes -= r.length;
  conn->wakeup.cancel();
}

}  // namespace cairn::nbd
