#include "core/anchor.hpp"

#include <cstdio>

namespace tether::detail {

void Anchor::set_waker(void (*wake)(void*), void* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = wake;
  wake_ctx_ = ctx;
}

void Anchor::take_releases(std::vector<Release>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(releases_);
}

void Anchor::retire() {
  std::vector<Release> batch;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (releases_.empty()) {
        // Checked and switched under one lock: a release forwarded after this sees "gone".
        wake_ = nullptr;
        owner_.store(std::thread::id(), std::memory_order_relaxed);
        retired_.store(true, std::memory_order_release);
        return;
      }
      batch.swap(releases_);
    }
    for (const Release& r : batch) r.fn(r.obj);  // on the owner thread, loop state intact
    batch.clear();
  }
}

void Anchor::OffThread::forward(Release r) {
  a_.releases_.push_back(r);
  if (a_.wake_) a_.wake_(a_.wake_ctx_);
}

Anchor::MisuseNote Anchor::count_misuse(const char* handle, const char* operation) {
  misused_.fetch_add(1, std::memory_order_relaxed);
  if (logged_.exchange(true, std::memory_order_relaxed)) return {};
  return {log_, handle, operation};
}

void Anchor::MisuseNote::write() const {
  if (!handle) return;
  log.write(LogLevel::Warning,
            "a %s was used off its event-loop thread (%s) and the call was refused. "
            "Use it only on the loop thread that called your handler: move slow work to "
            "Response::offload(work, then) and answer in `then`, which runs on that thread. "
            "Counted in tether_responses_misused_total; logged once per loop.",
            handle, operation);
}

}  // namespace tether::detail
