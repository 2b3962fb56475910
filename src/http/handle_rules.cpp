#include "http/handle_rules.hpp"

namespace tether::detail::handle {
namespace {

void unref_on_owner(void* x) {
  exchange_unref(static_cast<Exchange*>(x));
}

}  // namespace

Exchange* copy_elsewhere(Exchange* x, const char* type) {
  Anchor::OffThread off(*x->anchor);
  if (!off.retired()) {
    x->anchor->count_misuse(type, "copied");
    return nullptr;  // the copy is an empty, dead handle
  }
  ++x->refs;  // a retired exchange's count is only ever touched under its anchor's lock
  return x;
}

void drop_elsewhere(Exchange* x, const char* type) {
  bool free_it = false;
  {
    Anchor::OffThread off(*x->anchor);
    if (off.retired()) {
      free_it = --x->refs == 0;  // dead and out of every list: nothing but memory is left
    } else {
      x->anchor->count_misuse(type, "destroyed");
      off.forward({unref_on_owner, x});
    }
  }
  if (free_it) delete x;  // after the lock: this may free the anchor
}

// Off the owner thread a handle may still be used once its loop is gone (it is then dead and
// inert); while the loop lives every such call is refused and counted.
bool owned_elsewhere(Exchange* x, const char* type, const char* operation) {
  Anchor::OffThread off(*x->anchor);
  if (off.retired()) return true;
  x->anchor->count_misuse(type, operation);
  return false;
}

Exchange* acting_elsewhere(Exchange* x, const char* type, const char* operation) {
  Anchor::OffThread off(*x->anchor);
  if (off.retired())
    x->anchor->count_drop();  // the server is gone: like a client that left
  else
    x->anchor->count_misuse(type, operation);
  return nullptr;
}

}  // namespace tether::detail::handle
