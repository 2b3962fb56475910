// tetherd command-line flags: one per ServerOptions field, plus --help and --version.
#pragma once

#include <string>

#include "tether/options.hpp"
#include "tetherd/demo_routes.hpp"

namespace tetherd {

enum class FlagsOutcome { Run, Exit0, Exit1 };

struct ParsedFlags {
  tether::ServerOptions options;
  DemoSettings demo;
  /// --access-log PATH|-: nginx combined format to PATH (appended) or standard output.
  std::string access_log;
  FlagsOutcome outcome = FlagsOutcome::Run;
  /// Text for stdout (help, version) or a one-line error for stderr.
  std::string message;
};

/// Parses `--name value` and `--name=value`. Unknown flags and bad values are errors.
ParsedFlags parse_flags(int argc, char** argv);

}  // namespace tetherd
