// tetherd: the tether HTTP/1.1 server with its demo routes.
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "tether/tether.hpp"
#include "tetherd/access_log.hpp"
#include "tetherd/demo_routes.hpp"
#include "tetherd/flags.hpp"

namespace {

// Each connection is a file descriptor: lift the soft limit to the hard one so that
// max_connections, not the shell's default of 1024, is what bounds a busy server.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  tetherd::ParsedFlags flags = tetherd::parse_flags(argc, argv);
  if (flags.outcome == tetherd::FlagsOutcome::Exit0) {
    std::fputs(flags.message.c_str(), stdout);
    return 0;
  }
  if (flags.outcome == tetherd::FlagsOutcome::Exit1) {
    std::fprintf(stderr, "%s\n", flags.message.c_str());
    return 1;
  }
  raise_fd_limit();
  tetherd::AccessLog access_log;
  if (!flags.access_log.empty()) {
    if (std::string error = access_log.open(flags.access_log); !error.empty()) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    flags.options.on_response = access_log.hook();
  }
  int rc = 0;
  {
    tether::Server server(flags.options);
    tetherd::add_demo_routes(server, flags.demo);
    rc = server.run();
  }  // the loops are gone: every line is in a ring
  access_log.close();
  return rc;
}
