#include "load/svg_canvas.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "load/utf8.hpp"

namespace tether::load::detail {

std::string xml_escape(std::string_view text) {
  const std::string valid = to_valid_utf8(text);
  std::string out;
  out.reserve(valid.size());
  for (char c : valid) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 allows no control character but tab, newline and carriage return, not
        // even as a character reference.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string svg_number(double v, int decimals) {
  if (!std::isfinite(v)) return "0";
  // Beyond this a coordinate means nothing on any screen, and the text stays short.
  v = std::clamp(v, -1e9, 1e9);
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (ec != std::errc()) return "0";
  std::string s(buf, end);
  if (s == "-0" || s.find_first_not_of("-0.") == std::string::npos) return "0";
  return s;
}

SvgCanvas::SvgCanvas(double width, double height) : width_(width), height_(height) {}

void SvgCanvas::rect(double x, double y, double w, double h, const char* fill, const char* stroke) {
  body_ += "<rect x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) + "\" width=\"" +
           svg_number(w) + "\" height=\"" + svg_number(h) + "\" fill=\"" + fill + "\" stroke=\"" +
           stroke + "\"/>\n";
}

void SvgCanvas::line(double x1, double y1, double x2, double y2, const char* stroke, double width,
                     const char* dash) {
  body_ += "<line x1=\"" + svg_number(x1) + "\" y1=\"" + svg_number(y1) + "\" x2=\"" +
           svg_number(x2) + "\" y2=\"" + svg_number(y2) + "\" stroke=\"" + stroke +
           "\" stroke-width=\"" + svg_number(width) + "\"";
  if (dash != nullptr) body_ += std::string(" stroke-dasharray=\"") + dash + "\"";
  body_ += "/>\n";
}

void SvgCanvas::text(double x, double y, std::string_view s, const SvgTextStyle& style) {
  body_ += "<text x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) + "\" font-size=\"" +
           svg_number(style.size) + "\" text-anchor=\"" + style.anchor + "\" fill=\"" + style.fill +
           "\"";
  if (style.bold) body_ += " font-weight=\"bold\"";
  if (style.rotate != 0) {
    body_ += " transform=\"rotate(" + svg_number(style.rotate) + " " + svg_number(x) + " " +
             svg_number(y) + ")\"";
  }
  body_ += ">" + xml_escape(s) + "</text>\n";
}

void SvgCanvas::title(std::string_view s) {
  body_ += "<title>" + xml_escape(s) + "</title>\n";
}

void SvgCanvas::curve(const std::vector<std::vector<SvgPoint>>& runs, std::string_view colour,
                      double width, const char* dash, const char* css_class) {
  std::string d;
  for (const auto& run : runs) {
    for (size_t i = 0; i < run.size(); ++i) {
      d += (i == 0 ? (d.empty() ? "M" : " M") : " L") + svg_number(run[i].x) + " " +
           svg_number(run[i].y);
    }
  }
  if (d.empty()) return;
  body_ += std::string("<path class=\"") + css_class + "\" d=\"" + d +
           "\" fill=\"none\" stroke=\"" + xml_escape(colour) + "\" stroke-width=\"" +
           svg_number(width) + "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"";
  if (dash != nullptr) body_ += std::string(" stroke-dasharray=\"") + dash + "\"";
  body_ += "/>\n";
}

void SvgCanvas::circle(double x, double y, double r, std::string_view fill) {
  body_ += "<circle cx=\"" + svg_number(x) + "\" cy=\"" + svg_number(y) + "\" r=\"" +
           svg_number(r) + "\" fill=\"" + xml_escape(fill) + "\"/>\n";
}

void SvgCanvas::begin_clip(double x, double y, double w, double h) {
  const std::string id = "clip" + std::to_string(clips_++);
  body_ += "<clipPath id=\"" + id + "\"><rect x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) +
           "\" width=\"" + svg_number(w) + "\" height=\"" + svg_number(h) +
           "\"/></clipPath>\n<g clip-path=\"url(#" + id + ")\">\n";
}

void SvgCanvas::end_clip() {
  body_ += "</g>\n";
}

std::string SvgCanvas::finish() {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
         svg_number(width_, 0) + "\" height=\"" + svg_number(height_, 0) + "\" viewBox=\"0 0 " +
         svg_number(width_, 0) + " " + svg_number(height_, 0) +
         "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  out += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += body_;
  out += "</svg>\n";
  return out;
}

}  // namespace tether::load::detail
