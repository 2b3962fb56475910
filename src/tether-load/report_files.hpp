// The files tether-load writes after a run (--json, --csv, --svg) and the `plot` command,
// which reads saved --json runs and draws them together. Every failure is one line on
// stderr that names the file.
#pragma once

#include "tether-load/flags.hpp"
#include "tether/load/engine.hpp"

namespace tether_load {

/// Writes every file the flags ask for. False when one could not be written (each such
/// file has printed its one-line error; the others are still written).
bool write_report_files(const ParsedFlags& flags, const tether::load::RunResult& result);

/// `tether-load plot a.json b.json -o out.svg`: the exit status, 0 or 1.
int run_plot(const ParsedFlags& flags);

/// A saved run's name in the plot's legend: the file's base name without ".json".
std::string plot_label(const std::string& path);

}  // namespace tether_load
