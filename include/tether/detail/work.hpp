// Implementation detail of Response::offload: the type-erased pieces of a job. Users do not
// name these types.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/export.hpp"

namespace tether {
class Response;
}

namespace tether::detail {

class Loop;

/// The part of a job that crosses to a worker thread: the work closure and, afterwards, its
/// result or exception. Data only, never a Response.
struct WorkItem {
  virtual ~WorkItem() = default;
  /// Runs on a worker thread; stores the result or the exception inside. Never throws.
  virtual void run(std::stop_token token) noexcept = 0;

  std::exception_ptr error;
  /// Shared with the loop-side job record, which requests stop when the client leaves.
  std::stop_source stop;
  /// Where the completion goes: the loop that owns the exchange, and the job's key there
  /// (offload() jobs count from 1; 0 marks the messages of a worker stream producer).
  Loop* home = nullptr;
  uint64_t job_id = 0;
  uint32_t index = 0;  // position in a fan-out
};

template <class Work>
struct TypedWorkItem final : WorkItem {
  using Result = std::invoke_result_t<Work&, std::stop_token>;
  using Stored = std::conditional_t<std::is_void_v<Result>, bool, Result>;

  explicit TypedWorkItem(Work w) : work(std::move(w)) {}
  void run(std::stop_token token) noexcept override {
    try {
      if constexpr (std::is_void_v<Result>) {
        work(token);
        result.emplace(true);
      } else {
        result.emplace(work(token));
      }
    } catch (...) {
      error = std::current_exception();
    }
  }

  Work work;
  std::optional<Stored> result;
};

/// The part of a job that stays on the loop: the `then` continuation.
struct Finisher {
  virtual ~Finisher() = default;
  virtual void finish(Response& res, std::vector<std::unique_ptr<WorkItem>>& done) = 0;
};

template <class F>
struct TypedFinisher final : Finisher {
  explicit TypedFinisher(F fn) : f(std::move(fn)) {}
  void finish(Response& res, std::vector<std::unique_ptr<WorkItem>>& done) override {
    f(res, done);
  }
  F f;
};

/// Queues `items` on the server's worker pool for the exchange behind `res`; `fin` runs on
/// the owning loop when all are done. See Response::offload for the outcomes.
TETHER_EXPORT bool start_job(Response& res, std::vector<std::unique_ptr<WorkItem>> items,
                             std::unique_ptr<Finisher> fin);

}  // namespace tether::detail
