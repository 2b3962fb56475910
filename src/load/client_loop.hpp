// ClientLoop: the load generator's state on one reactor loop, attached to it as an
// extension: its client connections, the shared read buffer, the request timeout sweep and
// the thread's results (counters and latency histogram).
//
// Closed loop: each connection keeps `pipeline` requests in flight; each complete response
// queues the next request, and what one read queued leaves in one write.
//
// Open loop: requests fall due at their intended times (Arrivals, on a PreciseTimer) into a
// queue of due times, whatever the server does; a connection with a free pipeline slot takes
// the oldest. Latency counts from the intended time (corrected), service time from the
// write. A due request that waited longer than the request timeout is an errors.timeout, so
// the queue holds at most rate x timeout entries.
//
// Warmup: until it ends nothing is counted; then every counter starts from zero. Completions
// are counted per second of the measured run (intervals) as well as in total. At the run's end
// (a deadline on the loop's own timer) the loop asks itself to stop: connections send
// nothing more, the ones with requests in flight wait for their responses, and the loop has
// drained once every connection is closed. The drain deadline (the request timeout) counts
// what is still in flight as timeouts.
//
// Lifetime: made and attached before the loop runs; touched only on the loop's thread; its
// results are read by the thread that joined the loop.
#pragma once

#include <llhttp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/loop.hpp"
#include "load/arrivals.hpp"
#include "load/due_queue.hpp"
#include "load/precise_timer.hpp"
#include "load/request_tape.hpp"
#include "tether/load/error_kind.hpp"
#include "tether/load/histogram.hpp"

namespace tether::load::detail {

using tether::detail::DeadlineTimer;
using tether::detail::Loop;

/// What every loop of a run shares, read-only while it runs.
struct Plan {
  sockaddr_storage addr{};
  std::vector<std::string> requests;
  RequestTape tape;              // the requests as one write sends them (request_tape.hpp)
  std::vector<uint8_t> is_head;  // per request, 1: its response has no body
  std::vector<std::string> expect_bodies;  // empty, or one per request
  int64_t expect_body_bytes = -1;          // -1: not checked
  std::bitset<1000> expect_status;
  unsigned pipeline = 1;
  uint64_t duration_ms = 0;
  uint64_t warmup_ms = 0;
  uint64_t timeout_ms = 0;
  double rate = 0;  // open loop when above 0: requests/s over every loop
  bool poisson = false;
  bool random_order = false;
  uint64_t seed = 1;
  unsigned connections = 1;  // over every loop
  uint64_t epoch_ns = 0;     // uv_hrtime when the run began (0: when each loop starts)
};

/// One second of one loop's measured run: counts, and the non-empty buckets of its
/// histograms as (value, count), so that the seconds of every loop merge exactly.
struct IntervalPart {
  uint32_t second = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::vector<std::pair<uint64_t, uint64_t>> latency;
  std::vector<std::pair<uint64_t, uint64_t>> service;
};

/// What a loop publishes for a live report, once a second (any thread reads).
struct LiveCounters {
  std::atomic<bool> measuring{false};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> completed{0};  ///< successes, the warmup's included
  std::atomic<uint64_t> last_second_p99_us{0};
};

/// The results of one loop.
struct LoopResult {
  std::string error;  // the loop could not run as planned
  uint64_t requests = 0;
  uint64_t errors[kErrorKindCount] = {};
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  unsigned established = 0;
  uint64_t intended = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  Histogram latency;
  Histogram service;
  std::vector<IntervalPart> intervals;
};

class ClientLoop;

/// One client connection: long-lived, its TCP handle closed and opened again on every
/// reconnect (never reused before its close callback).
struct ClientConnection {
  enum class State { Idle, Connecting, Open, Closing };

  /// A request in flight: its index in the plan, when it was meant to leave and when it
  /// was written (uv_hrtime, ns; intended 0 in a closed loop: the write).
  struct InFlight {
    uint32_t request = 0;
    uint64_t intended_ns = 0;
    uint64_t sent_ns = 0;
  };

  ClientLoop* owner = nullptr;
  unsigned id = 0;
  State state = State::Idle;
  bool ever_open = false;
  bool failed_connect = false;  // the last attempt failed: retry at the next sweep
  bool keep_alive = true;       // false once a response said the server closes
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  bool writing = false;
  llhttp_t parser{};
  // Ring of requests in flight, oldest first (capacity = pipeline).
  std::vector<InFlight> ring;
  size_t head = 0;
  size_t count = 0;
  size_t unsent = 0;  // the newest requests of the ring, queued in `out` and not yet written
  uint32_t next_request = 0;
  // Bytes queued for the next write: views of the plan's requests.
  std::vector<uv_buf_t> out;
  // The response being parsed: its body's checked prefix and whether it still matches.
  uint64_t body_at = 0;
  bool body_ok = true;
  uint64_t now_ns = 0;      // when the bytes being parsed were read
  bool in_message = false;  // llhttp holds part of a response (the fast path cannot start)
};

class ClientLoop final : public Loop::Extension, DeadlineTimer::Source {
 public:
  /// Makes the client state of `loop` with `connections` connections and attaches it.
  /// `plan` outlives the loop. In an open loop this loop sends its connections' share of
  /// the rate.
  static ClientLoop& attach(Loop& loop, const Plan& plan, unsigned connections);
  ClientLoop(Loop& loop, const Plan& plan, unsigned connections);
  ~ClientLoop() override;
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  /// After the loop's thread is joined.
  LoopResult& result() { return result_; }
  /// Any thread, any time.
  const LiveCounters& live() const { return live_; }

  // Loop::Extension
  void started() override;
  void begin_drain() override;
  bool drained() const override { return open_ == 0 && stopping_; }
  void abort() override;
  void close_handles() override;

 private:
  friend struct Callbacks;
  // DeadlineTimer::Source: the run's end, request timeouts and reconnects.
  uint64_t next_deadline() const override { return next_sweep_; }
  void on_deadline(uint64_t now) override;

  void open(ClientConnection& c);
  void close(ClientConnection& c);
  void fail_in_flight(ClientConnection& c, ErrorKind first, ErrorKind rest);
  void fill(ClientConnection& c);
  void flush(ClientConnection& c);
  void on_read(ClientConnection& c, ssize_t n);
  void closed(ClientConnection& c);
  int message_complete(ClientConnection& c);
  /// The final response to the oldest request in flight: counted once (success or one
  /// error) and, unless the server closes after it, the next request queued. False when the
  /// server closes.
  bool answered(ClientConnection& c, unsigned status, bool body_matches, uint64_t body_size,
                bool keep_alive);
  void schedule_sweep();
  // Counting: nothing before the warmup ends; every completion and error also lands in its
  // second of the run.
  void begin_measuring(uint64_t now_ns);
  void count_error(ErrorKind kind, uint64_t n = 1);
  void roll_intervals(uint64_t now_ns);
  uint32_t pick_request(ClientConnection& c);
  void enqueue(ClientConnection& c, uint64_t intended_ns);
  // Open loop.
  static void on_timer(void* self);
  void take_due(ClientConnection& c);
  void assign_due();
  void expire_due(uint64_t now_ns);
  void drop_due();
  void count_due_timeout(uint64_t intended_ns);
  /// Whether `f` is counted in the results: it was meant to leave after the warmup.
  bool counts(const ClientConnection::InFlight& f);
  void mark_end();
  void close_interval();

  Loop& core_;
  const Plan& plan_;
  std::vector<std::unique_ptr<ClientConnection>> conns_;
  std::vector<char> read_buf_;
  LoopResult result_;
  size_t open_ = 0;  // connections whose handle is not closed yet
  bool stopping_ = false;
  bool started_ = false;
  uint64_t end_at_ = DeadlineTimer::kNever;  // loop clock, ms
  uint64_t next_sweep_ = DeadlineTimer::kNever;
  llhttp_settings_t settings_{};
  uint64_t run_start_ns_ = 0;
  uint64_t measure_start_ns_ = 0;  // the warmup's end
  uint64_t send_end_ns_ = 0;       // warmup + duration after run_start_ns_
  bool measuring_ = false;
  uint64_t rng_ = 1;           // random_order
  uint32_t next_request_ = 0;  // open loop, round robin
  // Per-second counts of the measured run.
  uint64_t next_roll_ns_ = UINT64_MAX;
  uint32_t last_second_ = 0;  // the last interval: completions after the end count in it
  IntervalPart current_;
  Histogram interval_latency_;
  Histogram interval_service_;
  LiveCounters live_;
  uint64_t completed_ = 0;
  uint64_t last_answer_ns_ = 0;
  // Open loop: intended times due and not yet sent, oldest first (a ring, grown as needed).
  double rate_ = 0;
  std::optional<Arrivals> arrivals_;
  PreciseTimer timer_;
  DueQueue due_;
  size_t cursor_ = 0;  // where the search for a free connection goes on
};

}  // namespace tether::load::detail
