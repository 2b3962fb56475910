// Scenarios that may end the process (a crash, std::terminate, a sanitizer report, a hang, or
// exit() itself) run in a forked child; the test asserts on how the child ended and reads the
// lines it reported on the way.
#pragma once

#include <functional>
#include <string>

namespace tt {

/// How a forked child ended, and the lines it reported on the way.
struct ChildOutcome {
  bool finished = false;  // ended within its time limit
  bool exited = false;
  int code = -1;
  int signal = 0;
  std::string log;
  bool ok() const { return finished && exited && code == 0; }
  std::string describe() const;
};

/// What a child reports, line by line, at once (so a crash keeps what came before it).
class ChildLog {
 public:
  explicit ChildLog(int fd) : fd_(fd) {}
  void say(const std::string& line);
  int fd() const { return fd_; }

 private:
  int fd_;
};

/// How the child ends once `body` returns.
enum class ChildExit {
  Immediate,  // _exit(status): no atexit work of the test binary runs in the child
  Normal,     // std::exit(status): static destructors and atexit handlers run, as when a
              // program's main() returns
};

/// Runs `body` in a forked child (its return value is the exit status) and waits for it at
/// most `timeout_ms`, killing it past that.
ChildOutcome run_in_child(const std::function<int(ChildLog&)>& body, int timeout_ms = 20000,
                          ChildExit how = ChildExit::Immediate);

/// A child step that failed: log why, and return a non-zero status.
int child_fail(ChildLog& log, const std::string& why, int code = 1);

}  // namespace tt
