// TETHER_EXPORT marks what libtether exports: the public API, nothing else. The library is
// built with hidden visibility, so a shared libtether exposes exactly these symbols (and a
// version script keeps anything outside namespace tether from leaking with them).
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define TETHER_EXPORT __attribute__((visibility("default")))
#else
#define TETHER_EXPORT
#endif
