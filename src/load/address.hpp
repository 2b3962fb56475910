// Where a run connects: the server's address, resolved once before any loop starts, and
// the authority its requests name in their Host header.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace tether::load::detail {

/// "host:port", with an IPv6 address in brackets.
std::string authority_of(const std::string& host, uint16_t port);

/// Resolves `host` (the first address wins) into `out`. Empty on success, else why not.
std::string resolve(const std::string& host, uint16_t port, sockaddr_storage& out);

}  // namespace tether::load::detail
