#include "tether/version.hpp"

namespace tether {

const char* version() noexcept {
  return TETHER_VERSION_STRING;
}

}  // namespace tether
