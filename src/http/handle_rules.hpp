// The thread and lifetime rules of every handle into an exchange (Response, Stream): one
// pointer and a loop-local reference count; on the owner thread every operation is plain;
// off it, while the loop lives, every operation is refused and counted as a misuse (a
// destruction is forwarded to the owner); once the loop is gone the handle is dead and inert,
// and may be copied, moved, queried and destroyed anywhere (under its anchor's lock).
#pragma once

#include "http/exchange.hpp"

namespace tether::detail::handle {

// The slow paths: another thread, or a loop that is gone.
Exchange* copy_elsewhere(Exchange* x, const char* type);
void drop_elsewhere(Exchange* x, const char* type);
bool owned_elsewhere(Exchange* x, const char* type, const char* operation);
Exchange* acting_elsewhere(Exchange* x, const char* type, const char* operation);

/// The exchange a copy of a handle to `x` points at (one more reference), or null: the copy
/// was refused (another thread while the loop lives; counted as a misuse of `type`).
inline Exchange* copy(Exchange* x, const char* type) {
  if (!x) return nullptr;
  if (x->anchor->owned_here()) [[likely]] {
    ++x->refs;
    return x;
  }
  return copy_elsewhere(x, type);
}
/// Whether a handle to `x` may move here (a move touches no count: refused only off the
/// owner thread while the loop lives).
inline bool may_move(Exchange* x, const char* type) {
  return x->anchor->owned_here() || x->anchor->retired() || owned_elsewhere(x, type, "moved");
}
/// Drops the reference of a handle to `x` being destroyed, on whatever thread.
inline void drop(Exchange* x, const char* type) {
  if (x->anchor->owned_here()) [[likely]] {
    exchange_unref(x);
    return;
  }
  drop_elsewhere(x, type);
}
/// True on the owner thread; elsewhere false (counted as a misuse while the loop lives).
inline bool owned(Exchange* x, const char* type, const char* operation) {
  if (x->anchor->owned_here()) [[likely]]
    return true;
  owned_elsewhere(x, type, operation);
  return false;
}
/// `x` when an operation may act on it here (the owner thread); else null, counted: a dead
/// server like a client that left, another thread as a misuse.
inline Exchange* acting(Exchange* x, const char* type, const char* operation) {
  if (!x) return nullptr;
  if (x->anchor->owned_here()) [[likely]]
    return x;
  return acting_elsewhere(x, type, operation);
}

}  // namespace tether::detail::handle
