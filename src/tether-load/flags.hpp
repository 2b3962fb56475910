// tether-load command-line flags: wrk's where they overlap (-c -t -d -H --latency --timeout),
// plus --pipeline, -m, --body, --targets, --expect-status and --fail-if.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tether/load/engine.hpp"
#include "tether/load/fail_if.hpp"

namespace tether_load {

enum class FlagsOutcome { Run, Exit0, Exit1 };

struct ParsedFlags {
  /// What to run: the requests are serialized already.
  tether::load::RunOptions run;
  /// The URL as given (for the summary).
  std::string url;
  /// --fail-if: conditions on the results that make the exit status 2.
  std::vector<tether::load::FailCondition> fail_if;
  FlagsOutcome outcome = FlagsOutcome::Run;
  /// Text for stdout (help) or a one-line error for stderr.
  std::string message;
};

/// Parses `-c 64`, `-c64`, `--connections 64`, `--connections=64` and the URL. Unknown flags,
/// bad values and a bad or missing URL are errors.
ParsedFlags parse_flags(int argc, char** argv);

/// Parses a duration: "10s", "500ms", "2m", "1h", or a bare number of seconds (as wrk).
/// False on anything else or zero.
bool parse_duration(const std::string& text, std::chrono::milliseconds& out);

}  // namespace tether_load
