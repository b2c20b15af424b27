// Runs blocking work (RocksDB, fsync) on a thread pool and resumes the
// awaiting coroutine on its own executor, so daemon state stays owned by one
// thread while disk I/O proceeds in parallel (and group-commits).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace cairn::net {

template <typename F>
auto run_blocking(boost::asio::thread_pool& pool, F fn)
    -> boost::asio::awaitable<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(R)>(
      [&pool, fn = std::move(fn)](auto handler) mutable {
        boost::asio::post(pool, [fn = std::move(fn), handler = std::move(handler)]() mutable {
          R result = fn();
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      boost::asio::use_awaitable);
}

}  // namespace cairn::net
