#include "client/async.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cairn::client {

namespace {
struct JoinState {
  explicit JoinState(asio::any_io_executor ex, size_t n) : pending(n), results(n), timer(ex) {
    timer.expires_at(asio::steady_timer::time_point::max());
  }
  size_t pending;
  std::vector<Status> results;
  asio::steady_timer timer;
};

// Completion handler that captures only a pointer and an index: co_spawn's
// entry point is a coroutine taking the handler by value, and GCC 12 copies
// closure-typed coroutine parameters bitwise (see common/net/blocking.h).
struct JoinHandler {
  JoinState* state;
  size_t index;
  void operator()(std::exception_ptr e, Status s) const {
    state->results[index] = e ? Status::IoError("internal error: exception in object op") : std::move(s);
    if (--state->pending == 0) state->timer.cancel();
  }
};
}  // namespace

awaitable<std::vector<Status>> when_all(std::vector<awaitable<Status>> tasks) {
  if (tasks.empty()) co_return std::vector<Status>{};
  if (tasks.size() == 1) {
    std::vector<Status> one;
    one.push_back(co_await std::move(tasks[0]));
    co_return one;
  }
  auto ex = co_await asio::this_coro::executor;
  JoinState state(ex, tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    asio::co_spawn(ex, std::move(tasks[i]), JoinHandler{&state, i});
  }
  while (state.pending > 0) {
    co_await state.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return std::move(state.results);
}

awaitable<std::vector<Status>> when_all_bounded(std::vector<awaitable<Status>> tasks,
                                                size_t width) {
  std::vector<Status> out;
  out.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); i += width) {
    std::vector<awaitable<Status>> batch;
    for (size_t j = i; j < std::min(tasks.size(), i + width); ++j) batch.push_back(std::move(tasks[j]));
    auto r = co_await when_all(std::move(batch));
    for (auto& s : r) out.push_back(std::move(s));
  }
  co_return out;
}

Status op_status(const Result<OsdOpReply>& r) {
  if (!r.ok()) return r.status();
  if (!r->head.status.ok()) return r->head.status;
  for (const auto& res : r->results) {
    if (!res.status.ok()) return res.status;
  }
  return Status::Ok();
}

}  // namespace cairn::client
