#include "tether-load/report_files.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tether/load/report.hpp"

namespace tether_load {

namespace {

// A saved report of a long run is a few MB (about 170 bytes per second of run); anything
// much bigger is not one, and is refused before it is read into memory.
constexpr long long kMaxReportBytes = 64LL << 20;

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Empty on success; else the reason (strerror).
std::string write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return std::strerror(errno);
  const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int write_errno = errno;
  // fclose flushes: a full disk shows up here as often as in fwrite.
  if (std::fclose(f) != 0) return std::strerror(errno);
  if (!wrote) return std::strerror(write_errno);
  return {};
}

std::string read_file(const std::string& path, std::string& text) {
  File f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) return std::strerror(errno);
  struct stat st {};
  if (fstat(fileno(f.get()), &st) != 0) return std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return std::strerror(EISDIR);
  if (S_ISREG(st.st_mode) && st.st_size > kMaxReportBytes) {
    return "larger than " + std::to_string(kMaxReportBytes >> 20) + " MiB: not a report";
  }
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    text.append(buf, n);
    // A pipe or a device has no size to check beforehand.
    if (static_cast<long long>(text.size()) > kMaxReportBytes) {
      return "larger than " + std::to_string(kMaxReportBytes >> 20) + " MiB: not a report";
    }
  }
  if (std::ferror(f.get())) return std::strerror(errno);
  return {};
}

bool write_one(const char* flag, const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  if (std::string e = write_file(path, text); !e.empty()) {
    std::fprintf(stderr, "tether-load: %s: cannot write '%s': %s\n", flag, path.c_str(), e.c_str());
    return false;
  }
  return true;
}

}  // namespace

std::string plot_label(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  constexpr std::string_view kExt = ".json";
  if (base.size() > kExt.size() &&
      base.compare(base.size() - kExt.size(), kExt.size(), kExt) == 0) {
    base.resize(base.size() - kExt.size());
  }
  return base.empty() ? path : base;
}

bool write_report_files(const ParsedFlags& f, const tether::load::RunResult& r) {
  if (f.json_path.empty() && f.csv_path.empty() && f.svg_path.empty()) return true;
  const tether::load::RunReport rep = tether::load::make_report(f.run, r, f.url);
  bool ok = true;
  if (!f.json_path.empty()) ok &= write_one("--json", f.json_path, format_report_json(rep));
  if (!f.csv_path.empty()) ok &= write_one("--csv", f.csv_path, format_report_csv(rep));
  if (!f.svg_path.empty()) {
    ok &= write_one("--svg", f.svg_path,
                    tether::load::draw_report_svg({{plot_label(f.svg_path), rep}}));
  }
  return ok;
}

int run_plot(const ParsedFlags& f) {
  std::vector<tether::load::PlotRun> runs;
  for (const std::string& path : f.plot_inputs) {
    std::string text;
    if (std::string e = read_file(path, text); !e.empty()) {
      std::fprintf(stderr, "tether-load: plot: cannot read '%s': %s\n", path.c_str(), e.c_str());
      return 1;
    }
    tether::load::PlotRun run;
    std::string error;
    if (!tether::load::parse_report_json(text, run.report, error)) {
      std::fprintf(stderr, "tether-load: plot: %s: %s\n", path.c_str(), error.c_str());
      return 1;
    }
    run.label = plot_label(path);
    runs.push_back(std::move(run));
  }
  // Two runs of the same base name (a/run.json, b/run.json) are told apart by their paths.
  for (size_t i = 0; i < runs.size(); ++i) {
    for (size_t j = i + 1; j < runs.size(); ++j) {
      if (runs[i].label == runs[j].label) {
        runs[i].label = f.plot_inputs[i];
        runs[j].label = f.plot_inputs[j];
      }
    }
  }
  if (!write_one("plot -o", f.plot_output, tether::load::draw_report_svg(runs))) return 1;
  return 0;
}

}  // namespace tether_load
