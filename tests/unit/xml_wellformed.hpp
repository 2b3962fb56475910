// A small XML well-formedness checker for the SVG tests: the document parses as XML 1.0
// (one root, tags balanced and properly nested, attributes quoted and unique, `&` only in
// entity or character references, no `<` in text or attribute values, valid UTF-8, no
// control characters XML forbids). It collects the elements so that tests can count curves
// and read texts. It knows no DTD and only the five predefined entities, which is all a
// standalone SVG may use.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tether_test {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;  ///< values as written (entities kept)
  std::string text;                               ///< character data directly inside
};

struct XmlCheck {
  std::string error;                 ///< empty when well-formed; else what and at which byte
  std::vector<XmlElement> elements;  ///< in document order
  bool ok() const { return error.empty(); }
  /// Elements named `name` whose attribute `attr` starts with `prefix`.
  size_t count(std::string_view name, std::string_view attr = {},
               std::string_view prefix = {}) const;
};

XmlCheck check_xml(std::string_view doc);

}  // namespace tether_test
