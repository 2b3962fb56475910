#include "redis/hiredis_poll.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace tether::detail {
namespace {

/// One per context; freed in the poll handle's close callback.
struct Glue {
  uv_poll_t poll{};
  redisAsyncContext* ac = nullptr;  // null once hiredis has freed the context
  HiredisPollSink* sink = nullptr;
  int events = 0;
};

void update(Glue* g, int events) {
  if (g->ac == nullptr || events == g->events) return;
  g->events = events;
  if (events != 0) {
    uv_poll_start(&g->poll, events, [](uv_poll_t* h, int status, int ev) {
      auto* glue = static_cast<Glue*>(h->data);
      HiredisPollSink* sink = glue->sink;
      if (status < 0) {
        sink->on_poll_error(status);
      } else {
        // Either call may free the context (an error, the end of the stream): its cleanup
        // hook clears glue->ac, and the glue itself lives until the close callback.
        if (glue->ac != nullptr && (ev & UV_READABLE)) redisAsyncHandleRead(glue->ac);
        if (glue->ac != nullptr && (ev & UV_WRITABLE)) redisAsyncHandleWrite(glue->ac);
      }
      sink->after_poll();
    });
  } else {
    uv_poll_stop(&g->poll);
  }
}

void add_read(void* p) {
  auto* g = static_cast<Glue*>(p);
  update(g, g->events | UV_READABLE);
}
void del_read(void* p) {
  auto* g = static_cast<Glue*>(p);
  update(g, g->events & ~UV_READABLE);
}
void add_write(void* p) {
  auto* g = static_cast<Glue*>(p);
  update(g, g->events | UV_WRITABLE);
}
void del_write(void* p) {
  auto* g = static_cast<Glue*>(p);
  update(g, g->events & ~UV_WRITABLE);
}
void cleanup(void* p) {
  auto* g = static_cast<Glue*>(p);
  if (g->ac == nullptr) return;
  redisAsyncContext* ac = g->ac;
  g->ac = nullptr;
  g->events = 0;
  // Stops polling now (libuv drops the fd from epoll before hiredis closes it), frees later.
  uv_close(reinterpret_cast<uv_handle_t*>(&g->poll),
           [](uv_handle_t* h) { delete static_cast<Glue*>(h->data); });
  g->sink->context_gone(ac);
}

}  // namespace

int attach_hiredis_poll(redisAsyncContext* ac, uv_loop_t* loop, HiredisPollSink* sink) {
  auto* g = new Glue;
  if (int rc = uv_poll_init(loop, &g->poll, ac->c.fd); rc != 0) {
    delete g;  // never became a handle
    return rc;
  }
  g->poll.data = g;
  g->ac = ac;
  g->sink = sink;
  ac->ev.data = g;
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
  return 0;
}

}  // namespace tether::detail
