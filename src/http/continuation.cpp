#include "http/continuation.hpp"

#include "http/exchange.hpp"
#include "http/http_loop.hpp"

namespace tether::detail {

Loop* Continuation::open(const Response& res, const char* operation) {
  Exchange* x = ResponseAccess::open(res, operation);
  return x ? &x->loop->core() : nullptr;
}

void Continuation::park(const Response& res) {
  Exchange* x = ResponseAccess::exchange(res);
  ++x->parked_waits;
  x->loop->disarm_deadline(x);
}

void Continuation::unpark(const Response& res) {
  Exchange* x = ResponseAccess::exchange(res);
  if (x && x->parked_waits > 0) --x->parked_waits;
}

void Continuation::resume(const Response& res, const char* where, void (*fn)(void*), void* ctx) {
  Exchange* x = ResponseAccess::exchange(res);
  ++x->refs;  // `f` may take the Response by value: unwinding may drop the last handle
  run_user_code(x, where, [&] { fn(ctx); });
  // Still owed an answer with no wait parked (`f` kept the Response, or offloaded): the
  // response deadline applies again, from now.
  if (x->parked_waits == 0 && x->state == ExchangeState::Open && x->conn &&
      !x->deadline_hook.linked()) {
    x->loop->arm_deadline(x);
  }
  exchange_unref(x);
}

}  // namespace tether::detail
