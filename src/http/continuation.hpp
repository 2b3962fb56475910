// Continuation: how a layer above HTTP (the mailbox; later streams and the Redis backend)
// keeps an open Response to answer later, without seeing exchanges or connections. These
// and the public Response are the whole of what such a layer may do with a request.
//
// All of it on the loop thread that owns the Response.
#pragma once

#include "tether/response.hpp"

namespace tether::detail {

class Loop;

struct Continuation {
  /// The core loop of `res`, when `res` can still answer and this is its loop thread; else
  /// null, with the call counted as a Response operation would be (a dead handle: dropped;
  /// another thread: a misuse, logged with `operation`).
  static Loop* open(const Response& res, const char* operation);
  /// `res` waits for something with a deadline of its own (a parked mailbox wait): its
  /// response deadline is off until every such wait has ended.
  static void park(const Response& res);
  /// One parked wait of `res` ended (whether or not `res` is still open).
  static void unpark(const Response& res);
  /// Runs `f()`, user code that answers or keeps `res`, at the HTTP layer's boundary: a throw
  /// is counted and logged and answers 500. After it, a Response still owed an answer with no
  /// wait parked has its response deadline again, from now. `res` must be open.
  template <class F>
  static void resume(const Response& res, const char* where, F& f) {
    resume(
        res, where, [](void* p) { (*static_cast<F*>(p))(); }, &f);
  }

 private:
  static void resume(const Response& res, const char* where, void (*fn)(void*), void* ctx);
};

}  // namespace tether::detail
