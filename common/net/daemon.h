// What every daemon's main() does the same way: logging, the cluster key,
// clean shutdown on SIGTERM/SIGINT.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/status.h"

namespace cairn::net {

// "2026-11-25 14:03:01.123 mon.0 I monitor 0 is now the leader (term 4)"
void setup_logging(const std::string& daemon_name);

// Reads the cluster key file (hex text as `cairn up` writes it).
Result<std::string> read_key_file(const std::string& path);

// Runs io until SIGTERM or SIGINT, then calls on_stop (which must make io
// run out of work) and keeps running io until it does.
void run_until_signal(boost::asio::io_context& io, std::function<void()> on_stop);

uint64_t now_ms();  // steady clock
uint64_t wall_ns();  // system clock, for object mtimes

}  // namespace cairn::net
