// A condition variable for coroutines on one executor: any number of
// waiters, each with its own deadline, all woken by notify_all().
//
// (One shared steady_timer does not work for this: re-arming it for one
// waiter cancels every other waiter's wait, and they re-arm it in turn.)
#pragma once

#include <chrono>
#include <list>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cairn::net {

class Notifier {
 public:
  explicit Notifier(boost::asio::any_io_executor ex) : ex_(ex) {}
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Returns after notify_all() or at the deadline, whichever comes first.
  // Callers re-check their condition in a loop.
  boost::asio::awaitable<void> wait_until(std::chrono::steady_clock::time_point deadline) {
    boost::asio::steady_timer timer(ex_, deadline);
    auto it = waiters_.insert(waiters_.end(), &timer);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    waiters_.erase(it);
  }
  boost::asio::awaitable<void> wait_for(std::chrono::milliseconds d) {
    return wait_until(std::chrono::steady_clock::now() + d);
  }

  void notify_all() {
    for (auto* t : waiters_) t->cancel();
  }

  size_t waiting() const { return waiters_.size(); }

 private:
  boost::asio::any_io_executor ex_;
  std::list<boost::asio::steady_timer*> waiters_;
};

}  // namespace cairn::net
