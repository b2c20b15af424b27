// One HTTP request/response exchange, as the S3 handlers see it. The Beast
// implementation lives in server.cc; handlers never see Beast types.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "rgw/core/http_util.h"

namespace cairn::rgw {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: "/b/k%20x?uploads"
  std::string path;    // decoded: "/b/k x"
  QueryParams query;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercase
  std::optional<uint64_t> content_length;
  bool chunked = false;  // Transfer-Encoding: chunked (decoded by the server)
  const std::string* header(std::string_view lname) const {
    for (const auto& [k, v] : headers) {
      if (k == lname) return &v;
    }
    return nullptr;
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  void set(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const HttpRequest& request() const = 0;
  // Up to max bytes of the (transfer-decoded) body; "" at the end. Sends
  // "100 Continue" first when the client asked for it.
  // Errors: TimedOut, IoError (connection lost), TooLarge.
  virtual boost::asio::awaitable<Result<std::string>> read_body(size_t max) = 0;
  virtual bool body_done() const = 0;
  // The client sent Expect: 100-continue and has not been told to go on:
  // its body is not on the wire, so an error can be answered without it.
  virtual bool awaiting_continue() const = 0;
  // A whole response (Content-Length = body size; HEAD sends no body).
  virtual boost::asio::awaitable<Status> send(HttpResponse r) = 0;
  // Status line and headers of a response whose body (content_length bytes)
  // follows through send_data.
  virtual boost::asio::awaitable<Status> send_head(HttpResponse r, uint64_t content_length) = 0;
  virtual boost::asio::awaitable<Status> send_data(std::string data) = 0;
  virtual bool response_started() const = 0;
  // The connection cannot be reused after this exchange.
  virtual void close_after() = 0;
};

}  // namespace cairn::rgw
