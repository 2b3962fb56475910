// HiredisPoll: a hiredis async context driven by a libuv loop, our own glue in place of
// hiredis' adapters/libuv.h.
//
// Both poll the context's socket with a uv_poll_t and call redisAsyncHandleRead/Write. Ours
// differs where the connection needs it:
//   - after each socket event, once hiredis has returned, it calls the sink's after_poll():
//     replies are converted inside hiredis' callbacks, but user callbacks run there, outside
//     any hiredis frame (no reentrancy into hiredis, no exception through C code), and the
//     loop settles at the end of the event;
//   - a poll error (status < 0) is reported instead of ignored (the adapter returns and the
//     connection would hang until a timeout);
//   - nothing leaks when uv_poll_init fails, and nothing is defined in a header.
// The poll handle is freed in its close callback; hiredis' cleanup hook starts that close
// before hiredis closes the fd, and tells the sink that the context is gone (it is freed
// right after the hook returns).
#pragma once

#include <uv.h>

struct redisAsyncContext;

namespace tether::detail {

class HiredisPollSink {
 public:
  virtual ~HiredisPollSink() = default;
  /// The socket reported an error (a libuv status < 0).
  virtual void on_poll_error(int status) = 0;
  /// hiredis is done with one socket event (the context may be gone by now).
  virtual void after_poll() = 0;
  /// hiredis is freeing `ac` (its cleanup hook): forget it, touch it no more.
  virtual void context_gone(redisAsyncContext* ac) = 0;
};

/// Attaches `ac` (fresh from redisAsyncConnect, no event hooks yet) to `loop`. Returns 0, or a
/// libuv error code with `ac` left unattached (the caller frees it).
int attach_hiredis_poll(redisAsyncContext* ac, uv_loop_t* loop, HiredisPollSink* sink);

}  // namespace tether::detail
