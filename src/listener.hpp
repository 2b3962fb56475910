// Listening sockets: resolve, bind (SO_REUSEPORT when several loops share a port).
#pragma once

#include <cstdint>
#include <string>

#include "tether/status.hpp"

namespace tether::detail {

/// Creates a bound, non-blocking TCP socket for host:port; `fd` receives it.
Status bind_listen_socket(const std::string& host, uint16_t port, bool reuseport, int* fd);

}  // namespace tether::detail
