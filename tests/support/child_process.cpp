#include "support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "support/http_client.hpp"

namespace tt {

std::string ChildOutcome::describe() const {
  std::string s;
  if (!finished)
    s = "the child did not finish in time (killed)";
  else if (exited)
    s = "the child exited with status " + std::to_string(code);
  else
    s = "the child was killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return s + "; its log:\n" + log;
}

void ChildLog::say(const std::string& line) {
  std::string l = line + "\n";
  const char* p = l.data();
  size_t left = l.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

ChildOutcome run_in_child(const std::function<int(ChildLog&)>& body, int timeout_ms,
                          ChildExit how) {
  ChildOutcome out;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    out.log = "pipe2 failed";
    return out;
  }
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    out.log = "fork failed";
    ::close(fds[0]);
    ::close(fds[1]);
    return out;
  }
  if (pid == 0) {
    ::close(fds[0]);
    ChildLog log(fds[1]);
    int code = 97;
    try {
      code = body(log);
    } catch (const std::exception& e) {
      log.say(std::string("the scenario threw: ") + e.what());
      code = 98;
    } catch (...) {
      log.say("the scenario threw a non-standard exception");
      code = 99;
    }
    std::fflush(nullptr);
    if (how == ChildExit::Normal) std::exit(code);
    ::_exit(code);
  }
  ::close(fds[1]);
  int64_t deadline = now_ms() + timeout_ms;
  bool eof = false;
  while (!eof) {
    int64_t left = deadline - now_ms();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    char buf[4096];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      break;
    }
    out.log.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  if (!eof) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return out;
  }
  // The pipe closed: the child is ending (its threads may hold the pipe no longer than it).
  pid_t w = 0;
  while (true) {
    w = ::waitpid(pid, &status, WNOHANG);
    if (w != 0 || now_ms() >= deadline) break;
    ::poll(nullptr, 0, 2);
  }
  if (w != pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return out;
  }
  out.finished = true;
  out.exited = WIFEXITED(status);
  out.code = out.exited ? WEXITSTATUS(status) : -1;
  out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return out;
}

int child_fail(ChildLog& log, const std::string& why, int code) {
  log.say("FAILED: " + why);
  return code;
}

}  // namespace tt
