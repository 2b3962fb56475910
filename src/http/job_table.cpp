#include "http/job_table.hpp"

#include <algorithm>

#include "core/worker_pool.hpp"
#include "http/connection.hpp"
#include "http/exchange.hpp"
#include "http/http_loop.hpp"

namespace tether::detail {
namespace {
// Stands in for the work of an empty fan-out, so that its continuation still runs on a later
// turn of the loop rather than inside the call that started it.
struct NoWork final : WorkItem {
  void run(std::stop_token) noexcept override {}
};
}  // namespace

bool JobTable::start(Exchange* x, std::vector<std::unique_ptr<WorkItem>> items,
                     std::unique_ptr<Finisher> fin) {
  const uint64_t id = ++next_id_;
  std::stop_source stop;
  const size_t n = items.size();
  for (size_t i = 0; i < n; ++i) {
    items[i]->home = &loop_.core();
    items[i]->job_id = id;
    items[i]->index = static_cast<uint32_t>(i);
    items[i]->stop = stop;
  }
  if (n == 0) {
    auto none = std::make_unique<NoWork>();
    none->home = &loop_.core();
    none->job_id = id;
    loop_.core().post_completion(std::move(none));
  } else if (!pool_ || !pool_->submit(items)) {
    x->conn->answer_error(x, 503, "server busy: the work queue is full", "Retry-After: 1\r\n");
    return false;
  }
  Job& job = jobs_[id];
  job.res = ResponseAccess::make(x);
  job.fin = std::move(fin);
  job.done.resize(n);
  job.remaining = std::max<size_t>(n, 1);
  job.stop = stop;
  // The callback owns only the stop source, never the Response: no cycle through it.
  x->on_close.push_back([stop]() mutable { stop.request_stop(); });
  return true;
}

void JobTable::complete(std::unique_ptr<WorkItem> item) {
  auto it = jobs_.find(item->job_id);
  if (it == jobs_.end()) return;
  Job& j = it->second;
  if (item->index < j.done.size()) j.done[item->index] = std::move(item);
  if (--j.remaining > 0) return;
  Job job = std::move(j);
  jobs_.erase(it);
  Exchange* x = ResponseAccess::exchange(job.res);
  if (!job.res.alive()) {
    // The client left (or the deadline answered 504): the result has nowhere to go.
    loop_.stats().jobs_abandoned.add();
    if (x->state == ExchangeState::Dead) loop_.stats().responses_dropped.add();
    return;
  }
  for (auto& d : job.done) {
    if (d && d->error) {
      run_user_code(x, "offloaded work", [&] { std::rethrow_exception(d->error); });
      return;
    }
  }
  // `then` receives the Response by value: if it throws, unwinding drops that handle, so the
  // exchange needs a reference of our own until we have looked at it.
  ++x->refs;
  run_user_code(x, "offload continuation", [&] { job.fin->finish(job.res, job.done); });
  exchange_unref(x);
}

void JobTable::clear() {
  for (auto& [id, job] : jobs_) job.stop.request_stop();
  // Moved out first: destroying a record runs user destructors, which must not find the
  // table half-cleared.
  std::unordered_map<uint64_t, Job> jobs;
  jobs.swap(jobs_);
  jobs.clear();
}

}  // namespace tether::detail
