// Anchor: the part of a loop that outlives it. A handle into a loop (a Response; later a
// Stream) reaches its loop only through the anchor of the object it points into, so from any
// thread and at any time it can ask "is this the owner thread?" and "is the loop gone?"
// without touching loop memory that may already be freed.
//
// Lifetime: reference counted (atomically). The loop holds one reference and every object it
// hands out handles to holds one, so the anchor lives until the last of them is freed.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.hpp"

namespace tether::detail {

/// Work that must run on the owner thread: `fn(obj)` (a handle destroyed elsewhere).
struct Release {
  void (*fn)(void*);
  void* obj;
};

class Anchor {
 public:
  /// A new anchor with one reference (the loop's) and no owner thread yet.
  static Anchor* make(Log log = {}) { return new Anchor(std::move(log)); }
  Anchor(const Anchor&) = delete;
  Anchor& operator=(const Anchor&) = delete;

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// True on the thread that owns the loop: loop-owned objects may be touched. A thread-id
  /// compare, cheap enough for every handle operation in every build.
  bool owned_here() const noexcept {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

  // ---- the loop's side (owner thread)

  /// The calling thread becomes the owner (the loop thread, or whoever drives a loop that has
  /// no thread of its own).
  void bind_owner() noexcept {
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  /// Called (under the anchor's lock) when a release is forwarded, to wake the loop; null
  /// while the loop cannot be woken (not running yet, or closing its inbox).
  void set_waker(void (*wake)(void*), void* ctx);
  /// Moves the releases forwarded so far into `out`.
  void take_releases(std::vector<Release>& out);
  /// Ends ownership, on the owner thread, once everything the loop owns that no user handle
  /// holds has been destroyed: runs the releases that still arrive until none is left, then
  /// marks the loop gone. From then on every handle operation takes the retired path.
  void retire();

  // ---- any thread

  /// An operation off the owner thread holds the anchor's lock for its duration, so that it
  /// sees a consistent "loop alive" or "loop gone" and, when gone, may update the object's
  /// reference count (every thread touching a retired object does so under this lock).
  class OffThread {
   public:
    explicit OffThread(Anchor& a) : a_(a), lock_(a.mu_) {}
    /// The loop is gone: the object is inert and may be touched under this lock.
    bool retired() const { return a_.retired_.load(std::memory_order_relaxed); }
    /// The loop is alive: hand `r` to the owner thread (runs on its next inbox drain).
    void forward(Release r);

   private:
    Anchor& a_;
    std::lock_guard<std::mutex> lock_;
  };

  /// The loop is gone (handles into it are dead; see OffThread for touching them).
  bool retired() const noexcept { return retired_.load(std::memory_order_acquire); }

  /// The message about a refused call, written by the caller once it has let go of the
  /// anchor's lock (the logger is user code: it may use a handle of this loop itself).
  struct MisuseNote {
    Log log;
    const char* handle = nullptr;  // null: nothing to write
    const char* operation = nullptr;
    void write() const;
  };
  /// A handle was used off its owner thread while the loop lives: the operation was refused.
  /// Counts it; the first one per loop gets a note saying what to do instead.
  [[nodiscard]] MisuseNote count_misuse(const char* handle, const char* operation);
  /// A call on a handle whose loop is gone (like a call on a dead handle).
  void count_drop() noexcept { dropped_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t misused() const noexcept { return misused_.load(std::memory_order_relaxed); }
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  explicit Anchor(Log log) : log_(std::move(log)) {}
  ~Anchor() = default;

  std::atomic<std::thread::id> owner_{};
  std::atomic<bool> retired_{false};
  std::atomic<int> refs_{1};
  std::atomic<uint64_t> misused_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> logged_{false};
  Log log_;  // for the misuse message, which a handle may trigger after its loop is gone
  std::mutex mu_;
  std::vector<Release> releases_;  // under mu_
  void (*wake_)(void*) = nullptr;  // under mu_
  void* wake_ctx_ = nullptr;       // under mu_
};

}  // namespace tether::detail
