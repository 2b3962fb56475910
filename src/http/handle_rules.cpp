#include "http/handle_rules.hpp"

namespace tether::detail::handle {
namespace {

void unref_on_owner(void* x) {
  exchange_unref(static_cast<Exchange*>(x));
}

}  // namespace

// A refused call's note is written after the anchor's lock is let go: the logger is user code.
Exchange* copy_elsewhere(Exchange* x, const char* type) {
  Anchor::MisuseNote note;
  {
    Anchor::OffThread off(*x->anchor);
    if (off.retired()) {
      ++x->refs;  // a retired exchange's count is only ever touched under its anchor's lock
      return x;
    }
    note = x->anchor->count_misuse(type, "copied");
  }
  note.write();
  return nullptr;  // the copy is an empty, dead handle
}

void drop_elsewhere(Exchange* x, const char* type) {
  bool free_it = false;
  Anchor::MisuseNote note;
  {
    Anchor::OffThread off(*x->anchor);
    if (off.retired()) {
      free_it = --x->refs == 0;  // dead and out of every list: nothing but memory is left
    } else {
      note = x->anchor->count_misuse(type, "destroyed");
      off.forward({unref_on_owner, x});
    }
  }
  note.write();
  if (free_it) delete x;  // after the lock: this may free the anchor
}

// Off the owner thread a handle may still be used once its loop is gone (it is then dead and
// inert); while the loop lives every such call is refused and counted.
bool owned_elsewhere(Exchange* x, const char* type, const char* operation) {
  Anchor::MisuseNote note;
  {
    Anchor::OffThread off(*x->anchor);
    if (off.retired()) return true;
    note = x->anchor->count_misuse(type, operation);
  }
  note.write();
  return false;
}

Exchange* acting_elsewhere(Exchange* x, const char* type, const char* operation) {
  Anchor::MisuseNote note;
  {
    Anchor::OffThread off(*x->anchor);
    if (off.retired())
      x->anchor->count_drop();  // the server is gone: like a client that left
    else
      note = x->anchor->count_misuse(type, operation);
  }
  note.write();
  return nullptr;
}

}  // namespace tether::detail::handle
