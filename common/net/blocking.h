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

// GCC 12 miscompiles coroutine parameters of closure type: they are copied
// bitwise into the frame, so a captured std::string or shared_ptr is freed
// twice. Asio's use_awaitable initiation is such a coroutine, so fn must
// capture only references or trivially copyable values (it is awaited at
// once, so references into the caller's frame stay valid). The same rule
// holds for every closure passed by value into a coroutine in this codebase.
// Related GCC 12 coroutine miscompiles seen here (each a double free): braced
// initializer lists of non-trivial types inside a coroutine, class-type
// temporaries from `?:` in a coroutine, and co_spawn(..., use_awaitable) of an
// awaitable passed by value. Build such values in named locals first. A
// std::function parameter does not help when the lambda is written inside
// the co_await expression (the closure temporary is still freed twice).
template <typename F>
auto run_blocking(boost::asio::thread_pool& pool, F fn)
    -> boost::asio::awaitable<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
      [&pool](auto handler, F f) {
        boost::asio::post(pool, [f = std::move(f), handler = std::move(handler)]() mutable {
          R result = f();
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      boost::asio::use_awaitable, std::move(fn));
}

}  // namespace cairn::net
