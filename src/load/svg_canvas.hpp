// SvgCanvas: the few SVG elements the report draws, written as text. It owns the escaping
// (every text and attribute value goes through xml_escape) and the number formatting
// (fixed decimals, no locale), so the drawing code cannot produce malformed XML.
//
//   SvgCanvas c(800, 600);
//   c.line(0, 0, 10, 10, "#999", 1);
//   c.text(5, 20, "p99 < 1ms & rising", {.anchor = "middle"});
//   std::string svg = c.finish();
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tether::load::detail {

/// `text` fit for XML character data and attribute values: `& < > " '` as entities, bytes
/// that are not well-formed UTF-8 as U+FFFD, control characters XML 1.0 forbids as U+FFFD.
std::string xml_escape(std::string_view text);

/// A point in SVG user units.
struct SvgPoint {
  double x = 0;
  double y = 0;
};

struct SvgTextStyle {
  const char* anchor = "start";  ///< start, middle or end
  double size = 12;
  const char* fill = "#222";
  bool bold = false;
  /// Degrees, around the text's anchor point (-90: reads bottom to top).
  double rotate = 0;
};

class SvgCanvas {
 public:
  SvgCanvas(double width, double height);

  void rect(double x, double y, double w, double h, const char* fill, const char* stroke);
  void line(double x1, double y1, double x2, double y2, const char* stroke, double width,
            const char* dash = nullptr);
  void text(double x, double y, std::string_view s, const SvgTextStyle& style = {});
  /// A tooltip for the whole picture (the document's <title>).
  void title(std::string_view s);
  /// One curve: a path through `runs` of points; each run is a connected polyline (a gap in
  /// the data starts a new run). `css_class` lets a reader (or a test) find the curves.
  void curve(const std::vector<std::vector<SvgPoint>>& runs, std::string_view colour, double width,
             const char* dash, const char* css_class);
  void circle(double x, double y, double r, std::string_view fill);
  /// Starts and ends a group clipped to a rectangle (curves stay inside their panel).
  void begin_clip(double x, double y, double w, double h);
  void end_clip();

  /// The document: XML declaration, <svg> with its namespace, the elements, </svg>.
  std::string finish();

 private:
  std::string body_;
  double width_;
  double height_;
  int clips_ = 0;
};

/// `v` with `decimals` decimals, no locale; 0 for NaN or infinities.
std::string svg_number(double v, int decimals = 1);

}  // namespace tether::load::detail
