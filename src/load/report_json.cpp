// The JSON form of a RunReport (schema tether-load/1): written with JsonWriter, read back
// with parse_json and a field-by-field check that names what is missing or wrong, and where.
#include <string>
#include <utility>

#include "load/json_reader.hpp"
#include "load/json_writer.hpp"
#include "tether/load/report.hpp"

namespace tether::load {

namespace {

using detail::JsonValue;
using detail::JsonWriter;
using Layout = JsonWriter::Layout;

void write_summary(JsonWriter& w, const LatencySummary& s) {
  w.begin_object();
  w.key("p50");
  w.value(s.p50);
  w.key("p90");
  w.value(s.p90);
  w.key("p99");
  w.value(s.p99);
  w.key("p999");
  w.value(s.p999);
  w.key("p9999");
  w.value(s.p9999);
  w.key("max");
  w.value(s.max);
  w.key("mean");
  w.value(s.mean);
  w.key("min");
  w.value(s.min);
  w.end_object();
}

void write_spectrum(JsonWriter& w, const std::vector<SpectrumPoint>& points) {
  w.begin_array();
  for (const SpectrumPoint& p : points) {
    w.begin_array(Layout::one_line);
    w.value(p.percentile);
    w.value(p.value_us);
    w.end_array();
  }
  w.end_array();
}

void write_series(JsonWriter& w, const std::vector<SeriesPoint>& series) {
  w.begin_array();
  for (const SeriesPoint& p : series) {
    w.begin_object(Layout::one_line);
    w.key("t");
    w.value(uint64_t{p.t});
    w.key("requests");
    w.value(p.requests);
    w.key("errors");
    w.value(p.errors);
    w.key("rps");
    w.value(p.rps);
    w.key("p50");
    w.value(p.p50_us);
    w.key("p90");
    w.value(p.p90_us);
    w.key("p99");
    w.value(p.p99_us);
    w.key("max");
    w.value(p.max_us);
    w.key("service_p99");
    w.value(p.service_p99_us);
    w.end_object();
  }
  w.end_array();
}

// Reads the fields of one object, keeping the first error: its byte offset and what is
// wrong, with the field's dotted path ("latency_us.corrected.p50").
class FieldReader {
 public:
  FieldReader(const JsonValue& object, std::string path, std::string& error)
      : object_(object), path_(std::move(path)), error_(error) {}

  FieldReader child(std::string_view name) {
    static const JsonValue kEmpty;
    const JsonValue* v = get(name, JsonValue::Type::object, "an object");
    return FieldReader(v ? *v : kEmpty, full(name), error_);
  }
  const JsonValue* array(std::string_view name) {
    return get(name, JsonValue::Type::array, "an array");
  }
  void u64(std::string_view name, uint64_t& out) {
    if (const JsonValue* v = get(name, JsonValue::Type::number, "a number")) {
      if (!v->is_uint) return fail(v->offset, full(name) + " must be an unsigned integer");
      out = v->uint;
    }
  }
  void u32(std::string_view name, unsigned& out) {
    uint64_t v = 0;
    u64(name, v);
    if (v > UINT32_MAX) return fail(object_.offset, full(name) + " is too large");
    out = static_cast<unsigned>(v);
  }
  void number(std::string_view name, double& out) {
    if (const JsonValue* v = get(name, JsonValue::Type::number, "a number")) out = v->number;
  }
  void boolean(std::string_view name, bool& out) {
    if (const JsonValue* v = get(name, JsonValue::Type::boolean, "true or false")) out = v->boolean;
  }
  void text(std::string_view name, std::string& out) {
    if (const JsonValue* v = get(name, JsonValue::Type::string, "a string")) out = v->text;
  }
  bool ok() const noexcept { return error_.empty(); }

 private:
  std::string full(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  void fail(size_t offset, const std::string& what) {
    if (error_.empty()) error_ = "byte " + std::to_string(offset) + ": " + what;
  }
  const JsonValue* get(std::string_view name, JsonValue::Type type, const char* kind) {
    if (!error_.empty()) return nullptr;
    if (object_.type != JsonValue::Type::object) return nullptr;  // reported by the parent
    const JsonValue* v = object_.find(name);
    if (v == nullptr) {
      fail(object_.offset, "'" + full(name) + "' is missing");
      return nullptr;
    }
    if (v->type != type) {
      fail(v->offset, "'" + full(name) + "' must be " + kind);
      return nullptr;
    }
    return v;
  }

  const JsonValue& object_;
  std::string path_;
  std::string& error_;
};

void read_summary(FieldReader r, LatencySummary& s) {
  r.u64("p50", s.p50);
  r.u64("p90", s.p90);
  r.u64("p99", s.p99);
  r.u64("p999", s.p999);
  r.u64("p9999", s.p9999);
  r.u64("max", s.max);
  r.number("mean", s.mean);
  r.u64("min", s.min);
}

void read_spectrum(const JsonValue* array, const std::string& path, std::vector<SpectrumPoint>& out,
                   std::string& error) {
  if (array == nullptr) return;
  for (const JsonValue& item : array->items) {
    if (item.type != JsonValue::Type::array || item.items.size() != 2 ||
        item.items[0].type != JsonValue::Type::number || !item.items[1].is_uint) {
      error = "byte " + std::to_string(item.offset) + ": " + path +
              " must hold [percentile, value_us] pairs";
      return;
    }
    out.push_back({item.items[0].number, item.items[1].uint});
  }
}

void read_series(const JsonValue* array, std::vector<SeriesPoint>& out, std::string& error) {
  if (array == nullptr) return;
  for (size_t i = 0; i < array->items.size() && error.empty(); ++i) {
    const JsonValue& item = array->items[i];
    if (item.type != JsonValue::Type::object) {
      error = "byte " + std::to_string(item.offset) + ": series[" + std::to_string(i) +
              "] must be an object";
      return;
    }
    FieldReader r(item, "series[" + std::to_string(i) + "]", error);
    SeriesPoint p;
    unsigned t = 0;
    r.u32("t", t);
    p.t = t;
    r.u64("requests", p.requests);
    r.u64("errors", p.errors);
    r.number("rps", p.rps);
    r.u64("p50", p.p50_us);
    r.u64("p90", p.p90_us);
    r.u64("p99", p.p99_us);
    r.u64("max", p.max_us);
    r.u64("service_p99", p.service_p99_us);
    out.push_back(p);
  }
}

}  // namespace

std::string format_report_json(const RunReport& rep) {
  JsonWriter w;
  w.begin_object();
  w.key("schema");
  w.value(kReportSchema);
  w.key("url");
  w.value(rep.url);
  w.key("mode");
  w.value(rep.open_loop ? "open" : "closed");
  w.key("target_rate");
  w.value(rep.target_rate);
  w.key("poisson");
  w.value(rep.poisson);
  w.key("connections");
  w.value(uint64_t{rep.connections});
  w.key("threads");
  w.value(uint64_t{rep.threads});
  w.key("pipeline");
  w.value(uint64_t{rep.pipeline});
  w.key("duration_s");
  w.value(rep.duration_s);
  w.key("warmup_s");
  w.value(rep.warmup_s);
  w.key("elapsed_s");
  w.value(rep.elapsed_s);
  w.key("requests");
  w.value(rep.requests);
  w.key("rps");
  w.value(rep.rps);
  w.key("bytes_read");
  w.value(rep.bytes_read);
  w.key("bytes_written");
  w.value(rep.bytes_written);
  w.key("intended");
  w.value(rep.intended);
  w.key("connections_requested");
  w.value(uint64_t{rep.connections_requested});
  w.key("connections_established");
  w.value(uint64_t{rep.connections_established});
  w.key("errors");
  w.begin_object();
  w.key("total");
  w.value(rep.errors_total);
  for (size_t k = 0; k < kErrorKindCount; ++k) {
    w.key(error_kind_name(static_cast<ErrorKind>(k)));
    w.value(rep.errors[k]);
  }
  w.end_object();
  w.key("latency_us");
  w.begin_object();
  w.key("corrected");
  write_summary(w, rep.corrected);
  w.key("service");
  write_summary(w, rep.service);
  w.end_object();
  w.key("spectrum");
  w.begin_object();
  w.key("corrected");
  write_spectrum(w, rep.corrected_spectrum);
  w.key("service");
  write_spectrum(w, rep.service_spectrum);
  w.end_object();
  w.key("series");
  write_series(w, rep.series);
  w.end_object();
  return w.take();
}

bool parse_report_json(std::string_view text, RunReport& out, std::string& error) {
  error.clear();
  detail::JsonParse doc = detail::parse_json(text);
  if (!doc.ok()) {
    error = "byte " + std::to_string(doc.error_offset) + ": " + doc.error;
    return false;
  }
  const JsonValue& root = doc.value;
  if (root.type != JsonValue::Type::object) {
    error = "byte " + std::to_string(root.offset) + ": not a tether-load report (not an object)";
    return false;
  }
  const JsonValue* schema = root.find("schema");
  if (schema == nullptr || schema->type != JsonValue::Type::string ||
      schema->text != kReportSchema) {
    error = "byte " + std::to_string(schema ? schema->offset : root.offset) +
            ": not a tether-load report (schema must be \"" + std::string(kReportSchema) + "\")";
    return false;
  }
  out = RunReport{};
  FieldReader r(root, "", error);
  r.text("url", out.url);
  std::string mode;
  r.text("mode", mode);
  if (r.ok() && mode != "open" && mode != "closed") {
    error = "byte " + std::to_string(root.find("mode")->offset) +
            ": mode must be \"open\" or \"closed\"";
    return false;
  }
  out.open_loop = mode == "open";
  r.number("target_rate", out.target_rate);
  r.boolean("poisson", out.poisson);
  r.u32("connections", out.connections);
  r.u32("threads", out.threads);
  r.u32("pipeline", out.pipeline);
  r.number("duration_s", out.duration_s);
  r.number("warmup_s", out.warmup_s);
  r.number("elapsed_s", out.elapsed_s);
  r.u64("requests", out.requests);
  r.number("rps", out.rps);
  r.u64("bytes_read", out.bytes_read);
  r.u64("bytes_written", out.bytes_written);
  r.u64("intended", out.intended);
  r.u32("connections_requested", out.connections_requested);
  r.u32("connections_established", out.connections_established);
  FieldReader errors = r.child("errors");
  errors.u64("total", out.errors_total);
  for (size_t k = 0; k < kErrorKindCount; ++k) {
    errors.u64(error_kind_name(static_cast<ErrorKind>(k)), out.errors[k]);
  }
  FieldReader latency = r.child("latency_us");
  read_summary(latency.child("corrected"), out.corrected);
  read_summary(latency.child("service"), out.service);
  FieldReader spectrum = r.child("spectrum");
  const JsonValue* corrected = spectrum.array("corrected");
  const JsonValue* service = spectrum.array("service");
  const JsonValue* series = r.array("series");
  if (!error.empty()) return false;
  read_spectrum(corrected, "spectrum.corrected", out.corrected_spectrum, error);
  if (error.empty()) read_spectrum(service, "spectrum.service", out.service_spectrum, error);
  if (error.empty()) read_series(series, out.series, error);
  return error.empty();
}

}  // namespace tether::load
