#include "common/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace cairn {
namespace {

// A raw blocking TCP client, to send exactly the bytes a test wants.
class RawConn {
 public:
  explicit RawConn(const std::string& addr) {
    std::string host;
    uint16_t port = 0;
    EXPECT_TRUE(split_host_port(addr, &host, &port).ok());
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  void send(const std::string& bytes) {
    // MSG_NOSIGNAL: the server may already have closed on us.
    (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  // Reads until `until` appears, EOF, or the timeout. Returns what was read.
  std::string read_until(const std::string& until, int timeout_ms = 3000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (buf_.find(until) == std::string::npos) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) break;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      buf_.append(tmp, n);
    }
    std::string out;
    size_t p = buf_.find(until);
    if (p == std::string::npos) {
      out.swap(buf_);
    } else {
      out = buf_.substr(0, p + until.size());
      buf_.erase(0, p + until.size());
    }
    return out;
  }
  // True if the server closes the connection within timeout_ms.
  bool closed_by_peer(int timeout_ms = 3000) {
    read_until("\x01never\x02", timeout_ms);
    return eof_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.route("/metrics", [] { return HttpResponse{.body = "up 1\n"}; });
    server_.route("/healthz", [this] {
      ++health_calls_;
      return HttpResponse{200, "text/plain", "ok\n"};
    });
    server_.route("/status", [] {
      return HttpResponse{200, "application/json", R"({"state":"active"})"};
    });
    server_.route("/throws", []() -> HttpResponse { throw std::runtime_error("boom"); });
    ASSERT_TRUE(server_.start().ok());
  }

  bool server_alive() {
    auto r = http_get(server_.address(), "/healthz", 2000);
    return r.ok() && r->status == 200 && r->body == "ok\n";
  }

  HttpServer server_{"127.0.0.1:0"};
  std::atomic<int> health_calls_{0};
};

TEST_F(HttpServerTest, AddressHasRealPort) {
  const std::string addr = server_.address();
  EXPECT_EQ(0u, addr.rfind("127.0.0.1:", 0)) << addr;
  EXPECT_NE("127.0.0.1:0", addr);
}

TEST_F(HttpServerTest, RoutesAndContentType) {
  auto r = http_get(server_.address(), "/metrics", 2000);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(200, r->status);
  EXPECT_EQ("text/plain; version=0.0.4", r->content_type);
  EXPECT_EQ("up 1\n", r->body);

  r = http_get(server_.address(), "/status?verbose=1", 2000);  // query string ignored
  ASSERT_TRUE(r.ok());
  EXPECT_EQ("application/json", r->content_type);
  EXPECT_EQ(R"({"state":"active"})", r->body);
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  auto r = http_get(server_.address(), "/nope", 2000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(404, r->status);
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  auto r = http_get(server_.address(), "/throws", 2000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(500, r->status);
  EXPECT_TRUE(server_alive());
}

TEST_F(HttpServerTest, PostIs405) {
  RawConn c(server_.address());
  ASSERT_TRUE(c.connected());
  c.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  std::string resp = c.read_until("\r\n\r\n");
  EXPECT_EQ(0u, resp.rfind("HTTP/1.1 405", 0)) << resp;
  EXPECT_NE(std::string::npos, resp.find("Allow: GET, HEAD")) << resp;
}

TEST_F(HttpServerTest, HeadHasLengthButNoBody) {
  RawConn c(server_.address());
  c.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string resp = c.read_until("\r\n\r\n");
  EXPECT_EQ(0u, resp.rfind("HTTP/1.1 200", 0)) << resp;
  EXPECT_NE(std::string::npos, resp.find("Content-Length: 5")) << resp;
  // Keep-alive: the next response starts right after the headers (no body bytes).
  c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string next = c.read_until("up 1\n");
  EXPECT_EQ(0u, next.rfind("HTTP/1.1 200", 0)) << next;
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  RawConn c(server_.address());
  for (int i = 0; i < 5; ++i) {
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string resp = c.read_until("ok\n");
    EXPECT_EQ(0u, resp.rfind("HTTP/1.1 200", 0)) << i << ": " << resp;
  }
  EXPECT_EQ(5, health_calls_.load());
  // Connection: close is honoured.
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  c.read_until("ok\n");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HttpServerTest, PipelinedRequests) {
  RawConn c(server_.address());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(std::string::npos, c.read_until("ok\n").find("200 OK"));
  EXPECT_NE(std::string::npos, c.read_until("up 1\n").find("200 OK"));
}

TEST_F(HttpServerTest, GarbageClosesConnectionButNotServer) {
  static constexpr char kBinary[] = "\x00\xff\x16\x03\x01 not http at all\r\n\r\n";
  const std::vector<std::string> garbage = {
      std::string(kBinary, sizeof(kBinary) - 1),
      "GET\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello start
  };
  for (const std::string& g : garbage) {
    RawConn c(server_.address());
    ASSERT_TRUE(c.connected());
    c.send(g);
    // Incomplete garbage waits for the read deadline; complete garbage closes at once.
    if (g.find("\r\n\r\n") != std::string::npos) {
      EXPECT_TRUE(c.closed_by_peer()) << g;
    }
  }
  EXPECT_TRUE(server_alive());
}

TEST_F(HttpServerTest, OversizedHeaderCloses) {
  RawConn c(server_.address());
  c.send("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(HttpServer::kMaxHeaderBytes * 2, 'a') +
         "\r\n\r\n");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(server_alive());
}

TEST_F(HttpServerTest, OversizedBodyCloses) {
  RawConn c(server_.address());
  c.send(
      "POST /metrics HTTP/1.1\r\nContent-Length: " + std::to_string(HttpServer::kMaxBodyBytes * 4) +
      "\r\n\r\n" + std::string(HttpServer::kMaxBodyBytes * 2, 'a'));
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(server_alive());
}

TEST_F(HttpServerTest, ConnectionLimitDoesNotWedgeServer) {
  std::vector<std::unique_ptr<RawConn>> idle;
  for (int i = 0; i < HttpServer::kMaxConnections + 20; ++i) {
    idle.push_back(std::make_unique<RawConn>(server_.address()));
  }
  // The over-limit connections were closed on accept; the idle ones hold slots.
  idle.clear();
  // Once the idle connections go away the server serves again.
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {
    ok = server_alive();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(ok);
}

TEST_F(HttpServerTest, StopClosesListenerAndConnections) {
  RawConn idle(server_.address());
  ASSERT_TRUE(server_alive());
  const std::string addr = server_.address();
  server_.stop();
  EXPECT_TRUE(idle.closed_by_peer(2000));
  auto r = http_get(addr, "/healthz", 1000);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(Code::kUnavailable, r.status().code()) << r.status().to_string();
  server_.stop();  // idempotent
}

TEST(HttpGet, TimesOutOnSilentServer) {
  // A listening socket that accepts (via the backlog) but never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(0, ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)));
  ASSERT_EQ(0, ::listen(fd, 4));
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  auto start = std::chrono::steady_clock::now();
  auto r = http_get(addr, "/healthz", 300);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kTimedOut, r.status().code()) << r.status().to_string();
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 2000);
}

TEST(HttpGet, BadArguments) {
  EXPECT_EQ(Code::kInvalidArgument, http_get("nonsense", "/", 100).status().code());
  EXPECT_EQ(Code::kInvalidArgument, http_get("127.0.0.1:1", "no-slash", 100).status().code());
}

TEST(HttpServer, BadBindAddress) {
  EXPECT_EQ(Code::kInvalidArgument, HttpServer("nohost").start().code());
  EXPECT_EQ(Code::kInvalidArgument, HttpServer("not-an-ip:80").start().code());
  // Binding a port that is already bound fails cleanly.
  HttpServer a("127.0.0.1:0");
  ASSERT_TRUE(a.start().ok());
  HttpServer b(a.address());
  EXPECT_EQ(Code::kIoError, b.start().code());
}

TEST(HttpServer, Ipv6Loopback) {
  HttpServer s("[::1]:0");
  s.route("/x", [] { return HttpResponse{.body = "v6"}; });
  Status st = s.start();
  if (!st.ok()) GTEST_SKIP() << "no IPv6 loopback: " << st.to_string();
  EXPECT_EQ(0u, s.address().rfind("[::1]:", 0)) << s.address();
  auto r = http_get(s.address(), "/x", 2000);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ("v6", r->body);
}

TEST(SplitHostPort, Table) {
  struct Case {
    std::string in;
    bool ok;
    std::string host;
    uint16_t port;
  };
  for (const Case& c : std::vector<Case>{
           {"127.0.0.1:80", true, "127.0.0.1", 80},
           {"localhost:0", true, "localhost", 0},
           {"[::1]:65535", true, "::1", 65535},
           {"127.0.0.1:65536", false, "", 0},
           {"127.0.0.1:", false, "", 0},
           {":80", false, "", 0},
           {"::1:80", false, "", 0},
           {"127.0.0.1:8x", false, "", 0},
           {"127.0.0.1", false, "", 0},
       }) {
    std::string host;
    uint16_t port = 0;
    Status st = split_host_port(c.in, &host, &port);
    EXPECT_EQ(c.ok, st.ok()) << c.in;
    if (c.ok) {
      EXPECT_EQ(c.host, host) << c.in;
      EXPECT_EQ(c.port, port) << c.in;
    }
  }
}

}  // namespace
}  // namespace cairn
