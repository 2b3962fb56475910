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

/// What the command does: a load run, the mailbox scenario, or `plot` (overlay saved runs).
enum class Command { Load, Mailbox, Plot };

struct ParsedFlags {
  /// What to run: the requests are serialized already.
  tether::load::RunOptions run;
  /// The URL as given (for the summary).
  std::string url;
  /// --fail-if: conditions on the results that make the exit status 2.
  std::vector<tether::load::FailCondition> fail_if;
  Command command = Command::Load;
  /// --json, --csv, --svg: files to write the results to (empty: not written).
  std::string json_path;
  std::string csv_path;
  std::string svg_path;
  /// --scenario mailbox: waiters to park (one connection each).
  unsigned waiters = 1000;
  /// plot: the saved runs (--json files) to overlay, and -o, the SVG to write.
  std::vector<std::string> plot_inputs;
  std::string plot_output;
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
