#include "core/inbox.hpp"

namespace tether::detail {

int Inbox::init(uv_loop_t* loop, void (*on_wake)(void*), void* ctx) {
  on_wake_ = on_wake;
  ctx_ = ctx;
  int rc = uv_async_init(loop, &async_, on_async);
  if (rc != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    return rc;
  }
  async_.data = this;
  initialized_ = true;
  return 0;
}

bool Inbox::post(std::unique_ptr<WorkItem>& item) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  const bool wake = queued_.empty();  // one wake-up per batch
  queued_.completions.push_back(std::move(item));
  if (wake) uv_async_send(&async_);
  return true;
}

bool Inbox::post(Task& task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  const bool wake = queued_.empty();
  queued_.tasks.push_back(std::move(task));
  if (wake) uv_async_send(&async_);
  return true;
}

bool Inbox::wake() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  uv_async_send(&async_);
  return true;
}

void Inbox::take(Batch& out) {
  std::lock_guard<std::mutex> lock(mu_);
  out.completions.swap(queued_.completions);
  out.tasks.swap(queued_.tasks);
}

void Inbox::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ && !initialized_) return;
    closed_ = true;
  }
  if (initialized_) {
    initialized_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

bool Inbox::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void Inbox::on_async(uv_async_t* a) {
  auto* inbox = static_cast<Inbox*>(a->data);
  inbox->on_wake_(inbox->ctx_);
}

}  // namespace tether::detail
