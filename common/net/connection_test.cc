#include "common/net/connection.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <thread>

#include "common/net/sleep.h"

namespace cairn::net {
namespace {

constexpr uint16_t kEcho = 7;

RequestHandler echo_handler() {
  return [](ConnectionPtr c, Frame f) -> awaitable<void> {
    c->reply(f.header.req_id, f.header.type, "echo:" + f.payload);
    co_return;
  };
}

class MessengerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(io_.get_executor(), "secret", echo_handler());
    auto addr = server_->listen("127.0.0.1:0");
    ASSERT_TRUE(addr.ok());
    addr_ = *addr;
  }
  template <typename T>
  T run(awaitable<T> a) {
    auto fut = asio::co_spawn(io_, std::move(a), asio::use_future);
    io_.run();
    io_.restart();
    return fut.get();
  }
  asio::io_context io_;
  std::unique_ptr<Server> server_;
  std::string addr_;
};

TEST_F(MessengerTest, PipelinedCallsAllAnswered) {
  auto result = run([](std::string addr, Server* server) -> awaitable<int> {
    auto conn = co_await Connection::connect(addr, "secret", Millis(2000));
    if (!conn.ok()) co_return -1;
    (*conn)->start(nullptr);
    int good = 0;
    for (int i = 0; i < 100; ++i) {
      auto r = co_await (*conn)->call(kEcho, std::string(i * 1000, 'x'), Millis(2000));
      if (r.ok() && r->payload == "echo:" + std::string(i * 1000, 'x')) ++good;
    }
    (*conn)->close();
    server->stop();
    co_return good;
  }(addr_, server_.get()));
  EXPECT_EQ(result, 100);
}

TEST_F(MessengerTest, WrongKeyIsRejected) {
  auto st = run([](std::string addr, Server* server) -> awaitable<Status> {
    auto conn = co_await Connection::connect(addr, "not-the-key", Millis(2000));
    server->stop();
    co_return conn.status();
  }(addr_, server_.get()));
  EXPECT_TRUE(st.is(Code::kPermissionDenied) || st.is(Code::kUnavailable)) << st.to_string();
  EXPECT_FALSE(st.ok());
}

TEST_F(MessengerTest, GarbageDropsConnectionButServerStaysUp) {
  auto good = run([](std::string addr, Server* server) -> awaitable<bool> {
    auto ex = co_await asio::this_coro::executor;
    // Random bytes instead of a handshake.
    {
      tcp::socket s(ex);
      co_await s.async_connect(*parse_endpoint(addr), asio::use_awaitable);
      std::string junk(4096, '\x5a');
      co_await asio::async_write(s, asio::buffer(junk), asio::use_awaitable);
    }
    // A good handshake followed by a frame with a corrupt checksum.
    auto bad = co_await Connection::connect(addr, "secret", Millis(2000));
    if (!bad.ok()) co_return false;
    (*bad)->start(nullptr);
    auto r = co_await (*bad)->call(kEcho, "hi", Millis(2000));
    if (!r.ok()) co_return false;
    // An honest client still gets served.
    auto conn = co_await Connection::connect(addr, "secret", Millis(2000));
    if (!conn.ok()) co_return false;
    (*conn)->start(nullptr);
    auto r2 = co_await (*conn)->call(kEcho, "still here", Millis(2000));
    server->stop();
    co_return r2.ok() && r2->payload == "echo:still here";
  }(addr_, server_.get()));
  EXPECT_TRUE(good);
}

// A connect still running when the pool shuts down must not leave an open
// connection behind: it would keep its owner's executor (and the process) alive.
TEST_F(MessengerTest, PoolClosedDuringConnectHandsOutNothing) {
  ConnectionPool pool(io_.get_executor(), "secret");
  std::optional<Status> during, after;
  asio::co_spawn(io_, [](ConnectionPool* p, std::string addr, std::optional<Status>* out) -> awaitable<void> {
    auto c = co_await p->get(addr, Millis(2000));
    *out = c.status();
  }(&pool, addr_, &during), asio::detached);
  asio::co_spawn(io_, [](ConnectionPool* p) -> awaitable<void> {
    p->close_all();  // runs while the first coroutine waits for its connect
    co_return;
  }(&pool), asio::detached);
  auto finish = run([](ConnectionPool* p, std::string addr, Server* server,
                       std::optional<Status>* out) -> awaitable<bool> {
    auto c = co_await p->get(addr, Millis(2000));
    *out = c.status();
    for (int i = 0; i < 100 && server->connection_count() > 0; ++i) co_await sleep_for(Millis(20));
    bool none_left = server->connection_count() == 0;
    server->stop();
    co_return none_left;
  }(&pool, addr_, server_.get(), &after));
  ASSERT_TRUE(during && after);
  EXPECT_TRUE(during->is(Code::kShutdown)) << during->to_string();
  EXPECT_TRUE(after->is(Code::kShutdown)) << after->to_string();
  EXPECT_TRUE(finish) << "the connection made during shutdown is still open";
}

TEST(Frame, RejectsBadMagicAndHugeLength) {
  FrameHeader h{1, 0, 9, 10};
  auto hb = encode_header(h);
  EXPECT_TRUE(decode_header(hb).ok());
  hb[0] ^= 1;
  EXPECT_FALSE(decode_header(hb).ok());
  h.length = kMaxFrameLength + 1;
  EXPECT_TRUE(decode_header(encode_header(h)).status().is(Code::kTooLarge));
}

}  // namespace
}  // namespace cairn::net
