// The thread and lifetime rules of every handle into an exchange (Response, Stream): one
// pointer and a loop-local reference count; on the owner thread every operation is plain;
// off it, while the loop lives, every operation is refused and counted as a misuse (a
// destruction is forwarded to the owner); once the loop is gone the handle is dead and inert,
// and may be copied, moved, queried and destroyed anywhere (under its anchor's lock).
#pragma once

#include "http/exchange.hpp"

namespace tether::detail::handle {

/// The exchange a copy of a handle to `x` points at (one more reference), or null: the copy
/// was refused (another thread while the loop lives; counted as a misuse of `type`).
Exchange* copy(Exchange* x, const char* type);
/// Whether a handle to `x` may move here (a move touches no count: refused only off the
/// owner thread while the loop lives).
bool may_move(Exchange* x, const char* type);
/// Drops the reference of a handle to `x` being destroyed, on whatever thread.
void drop(Exchange* x, const char* type);
/// True on the owner thread; elsewhere false (counted as a misuse while the loop lives).
bool owned(Exchange* x, const char* type, const char* operation);
/// `x` when an operation may act on it here (the owner thread); else null, counted: a dead
/// server like a client that left, another thread as a misuse.
Exchange* acting(Exchange* x, const char* type, const char* operation);

}  // namespace tether::detail::handle
