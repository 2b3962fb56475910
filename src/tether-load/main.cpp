// tether-load: closed-loop HTTP/1.1 load from the command line, with wrk's flags and summary.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tether-load/flags.hpp"
#include "tether-load/progress.hpp"
#include "tether-load/report_files.hpp"
#include "tether/load/engine.hpp"
#include "tether/load/mailbox_scenario.hpp"
#include "tether/load/report.hpp"
#include "tether/load/url.hpp"

namespace {

/// One connect before the run, so that an unreachable host fails at once with its reason
/// instead of after a whole run of connect errors. Empty when it connected.
std::string probe(const std::string& host, uint16_t port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return "cannot resolve host '" + host + "': " + gai_strerror(rc);
  }
  std::string error;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
  } else if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
    error = std::strerror(errno);
  } else {
    pollfd p{fd, POLLOUT, 0};
    int n = poll(&p, 1, timeout_ms);
    int so = 0;
    socklen_t len = sizeof so;
    if (n == 0) {
      error = "connection timed out";
    } else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) != 0) {
      error = std::strerror(errno);
    } else if (so != 0) {
      error = std::strerror(so);
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  if (!error.empty()) {
    const bool v6 = host.find(':') != std::string::npos;
    return "cannot connect to " + (v6 ? "[" + host + "]" : host) + ":" + service + ": " + error;
  }
  return {};
}

/// --scenario mailbox: parks --waiters long polls, posts their values over -c connections and
/// checks that each waiter got its own. Exit 2 when one was misdelivered, lost or duplicated.
int run_mailbox_command(const tether_load::ParsedFlags& f) {
  const auto& o = f.run;
  if (std::string e = probe(o.host, o.port, static_cast<int>(o.timeout.count())); !e.empty()) {
    std::fprintf(stderr, "tether-load: %s\n", e.c_str());
    return 1;
  }
  tether::load::MailboxOptions m;
  m.host = o.host;
  m.port = o.port;
  m.waiters = f.waiters;
  m.posters = o.connections;
  m.threads = o.threads;
  m.timeout = o.timeout;
  m.seed = o.seed;
  // The URL's path, when it has one, is where the mailbox lives ("/mailbox/" otherwise).
  const std::string target = tether::load::parse_url(f.url).url.target;
  if (target != "/") m.path_prefix = target.back() == '/' ? target : target + "/";
  // A connection per waiter: ask for the descriptors (up to the hard limit) before the run.
  rlimit lim{};
  const rlim_t wanted = rlim_t{f.waiters} + o.connections + 64;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      lim.rlim_cur < wanted) {
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  const tether::load::MailboxResult r = tether::load::run_mailbox(m);
  if (!r.ok()) {
    std::fprintf(stderr, "tether-load: %s\n", r.error.c_str());
    return 1;
  }
  std::fputs(tether::load::format_mailbox_summary(m, r, f.url).c_str(), stdout);
  if (!r.passed()) {
    std::fprintf(stderr, "tether-load: mailbox: %llu misdelivered, %llu lost, %llu duplicated\n",
                 static_cast<unsigned long long>(r.misdelivered),
                 static_cast<unsigned long long>(r.lost),
                 static_cast<unsigned long long>(r.duplicated));
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tether_load::ParsedFlags f = tether_load::parse_flags(argc, argv);
  if (f.outcome == tether_load::FlagsOutcome::Exit0) {
    std::fputs(f.message.c_str(), stdout);
    return 0;
  }
  if (f.outcome == tether_load::FlagsOutcome::Exit1) {
    std::fprintf(stderr, "tether-load: %s\n", f.message.c_str());
    return 1;
  }
  if (f.command == tether_load::Command::Mailbox) return run_mailbox_command(f);
  if (f.command == tether_load::Command::Plot) return tether_load::run_plot(f);
  // The progress line redraws itself with a carriage return: only a terminal shows that
  // as intended, so a log or a pipe gets nothing.
  const bool progress = isatty(STDERR_FILENO) == 1;
  if (progress) {
    f.run.on_progress = [](const tether::load::RunOptions::Progress& p) {
      std::fprintf(stderr, "\r%s\x1b[K", tether_load::format_progress(p).c_str());
      std::fflush(stderr);
    };
  }
  const auto& o = f.run;
  if (std::string e = probe(o.host, o.port, static_cast<int>(o.timeout.count())); !e.empty()) {
    std::fprintf(stderr, "tether-load: %s\n", e.c_str());
    return 1;
  }
  tether::load::RunResult r = tether::load::run(o);
  if (progress) std::fputs("\r\x1b[K", stderr);
  if (!r.ok()) {
    std::fprintf(stderr, "tether-load: %s\n", r.error.c_str());
    return 1;
  }
  std::fputs(tether::load::format_summary(o, r, f.url).c_str(), stdout);
  std::fflush(stdout);
  const bool written = tether_load::write_report_files(f, r);
  if (r.connections_established == 0) {
    std::fprintf(stderr, "tether-load: no connection to %s could be established\n", f.url.c_str());
    return 1;
  }
  if (!written) return 1;
  if (!f.fail_if.empty()) {
    tether::load::FailIfInputs in;
    const tether::load::LatencySummary h = tether::load::make_report(o, r, f.url).corrected;
    in.p50_us = h.p50;
    in.p90_us = h.p90;
    in.p99_us = h.p99;
    in.p999_us = h.p999;
    in.p9999_us = h.p9999;
    in.max_us = h.max;
    in.mean_us = h.mean;
    in.rps = r.rps();
    in.requests = r.requests;
    for (size_t k = 0; k < tether::load::kErrorKindCount; ++k) in.errors[k] = r.errors[k];
    const auto trips = tether::load::evaluate_fail_if(f.fail_if, in);
    for (const auto& t : trips) {
      std::fprintf(stderr, "tether-load: --fail-if: %s\n",
                   tether::load::describe_fail_trip(f.fail_if[t.index], t.actual).c_str());
    }
    if (!trips.empty()) return 2;
  }
  return 0;
}
