// JobTable: one loop's offloaded jobs. The continuation and the Response of a job stay here,
// on the loop thread, keyed by job id; only WorkItems (data) go to the worker pool and come
// back through the loop's inbox.
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <unordered_map>
#include <vector>

#include "tether/detail/work.hpp"
#include "tether/response.hpp"

namespace tether::detail {

class HttpLoop;
class WorkerPool;
struct Exchange;

class JobTable {
 public:
  JobTable(HttpLoop& loop, WorkerPool* pool) : loop_(loop), pool_(pool) {}
  JobTable(const JobTable&) = delete;
  JobTable& operator=(const JobTable&) = delete;

  /// Queues `items` on the pool for exchange `x` (Open); `fin` runs here when all are done.
  /// False when the pool refused them (the exchange has then been answered 503).
  bool start(Exchange* x, std::vector<std::unique_ptr<WorkItem>> items,
             std::unique_ptr<Finisher> fin);
  /// A work item came back (from the inbox).
  void complete(std::unique_ptr<WorkItem> item);
  /// The loop is winding down: asks every job to stop and destroys the records (continuations
  /// and Responses) here, on the loop thread. Late completions find no record.
  void clear();
  size_t size() const { return jobs_.size(); }

 private:
  struct Job {
    Response res;
    std::unique_ptr<Finisher> fin;
    std::vector<std::unique_ptr<WorkItem>> done;
    size_t remaining = 0;
    std::stop_source stop;
  };

  HttpLoop& loop_;
  WorkerPool* pool_;
  std::unordered_map<uint64_t, Job> jobs_;
  uint64_t next_id_ = 0;
};

}  // namespace tether::detail
