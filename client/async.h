// Small coroutine helpers for users of the client library (rbd, fs): run many object ops at once,
// block a non-io thread on a coroutine, typed object-op wrappers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "common/status.h"

namespace cairn::client {

namespace asio = boost::asio;
using asio::awaitable;

// Runs every task concurrently on the current executor and returns their
// results in order once all have finished.
awaitable<std::vector<Status>> when_all(std::vector<awaitable<Status>> tasks);

// Runs tasks with at most `width` in flight at once.
awaitable<std::vector<Status>> when_all_bounded(std::vector<awaitable<Status>> tasks, size_t width);

// Runs a on the client's io thread and waits for it. REQUIRES: not called from
// that thread (it would deadlock).
template <typename T>
T block_on(client::Client& c, awaitable<T> a) {
  auto wrapped = [](awaitable<T> inner) -> awaitable<std::optional<T>> {
    co_return co_await std::move(inner);
  };
  return std::move(*asio::co_spawn(c.executor(), wrapped(std::move(a)), asio::use_future).get());
}

// Builds an op list. (GCC 12 miscompiles braced initializer lists inside
// co_await expressions, "array used as initializer"; this avoids them.)
template <typename... T>
std::vector<ObjectOp> ops(T&&... o) {
  std::vector<ObjectOp> v;
  v.reserve(sizeof...(o));
  (v.push_back(std::forward<T>(o)), ...);
  return v;
}

// The first failing op's status (the request's own status first).
Status op_status(const Result<OsdOpReply>& r);

}  // namespace cairn::client
