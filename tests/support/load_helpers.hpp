// Helpers of the load generator's tests: requests serialized for a loopback server, and a
// port with nothing listening on it.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tether/load/targets.hpp"

namespace tt {

/// GET requests for `paths`, serialized for 127.0.0.1:port.
inline std::vector<std::string> load_gets(uint16_t port, const std::vector<std::string>& paths) {
  std::vector<tether::load::TargetSpec> specs;
  for (const std::string& p : paths) {
    tether::load::TargetSpec s;
    s.target = p;
    specs.push_back(s);
  }
  tether::load::RequestHead head;
  head.host = "127.0.0.1:" + std::to_string(port);
  tether::load::PreparedRequests r = tether::load::serialize_targets(specs, head);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.requests;
}

/// A port with nothing listening on it (bound once, then closed).
inline uint16_t closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace tt
