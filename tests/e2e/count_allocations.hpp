// Counts every operator new of the test binary that links count_allocations.cpp (it replaces
// the global operator new and delete).
#pragma once

#include <cstdint>

namespace tt {

/// Allocations made by operator new so far, by every thread.
uint64_t allocations();

}  // namespace tt
