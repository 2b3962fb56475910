// MailboxLoop: the mailbox scenario's state on one reactor loop, attached as an extension:
// its waiters (one connection and one long poll each), its posters (keep-alive connections
// posting the ids of this loop's slice of the post order, one POST in flight each) and, on
// loop 0 (the lead), the run's coordination and the connection that reads /metrics.
//
// The run, in phases (the lead decides; messages between loops are tasks that carry counts):
//   1. The lead reads the tether_mailbox_waiters gauge (the baseline), then tells every loop
//      to park.
//   2. Each loop connects its waiters and writes their GETs; once every one is written (or
//      has failed) it reports to the lead how many are parked.
//   3. The lead polls the gauge until it shows them all (or settles a while when the server
//      has no gauge), then tells every loop to post.
//   4. Each loop posts its slice and reads its waiters' answers; once both are done it stops.
// A loop never stops before it was told to post (or the run was cancelled), so a message sent
// to it always arrives; the lead stops only after it has sent its last message.
//
// Every waiter's and every POST's wait is bounded (connect and POST: the timeout; a waiter:
// its wait plus the timeout; the whole posting phase: the wait plus the timeout).
//
// Lifetime: made and attached before the loop runs; touched only on the loop's thread. The
// plan's per-id arrays are written here (each element by one loop only) and read, like
// result(), by the thread that joined the loops.
#pragma once

#include <llhttp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/loop.hpp"
#include "load/mailbox_value.hpp"
#include "tether/load/error_kind.hpp"

namespace tether::load::detail {

using tether::detail::DeadlineTimer;
using tether::detail::Loop;

class MailboxLoop;

/// How one waiter ended: written by the loop that owns it, read after the join.
struct WaiterOutcome {
  uint64_t done_ns = 0;  // when the read that completed its response happened (uv_hrtime)
  int64_t got = MailboxValues::kGarbage;  // status 200: whose value the body was
  uint16_t status = 0;                    // 0: no response
  uint8_t error = 0;                      // no response: ErrorKind + 1
};

/// What the loops of a run share: read-only while they run, except the per-id arrays, whose
/// elements are each written by one loop (the waiter's, or the poster's whose slice holds the
/// id) and read after every thread is joined.
struct MailboxPlan {
  sockaddr_storage addr{};
  std::string authority;  // the Host header, and the name in errors
  std::string prefix;     // "/mailbox/"
  MailboxValues values;
  unsigned waiters = 0;
  unsigned threads = 0;
  uint64_t wait_ms = 0;
  uint64_t timeout_ms = 0;
  std::vector<uint32_t> order;         // the post order: a permutation of the ids
  std::vector<MailboxLoop*> loops;     // by loop index; loops[0] leads
  std::vector<WaiterOutcome> outcome;  // by id
  std::vector<uint64_t> posted_ns;     // by id: when its POST was written (0: never)
};

/// What one loop counted.
struct MailboxLoopResult {
  unsigned established = 0;  // connections that connected at least once
  uint64_t posts_delivered = 0;
  uint64_t posts_stored = 0;
  uint64_t posts_unsent = 0;
  std::array<uint64_t, kErrorKindCount> post_errors{};
  std::array<uint64_t, 1000> post_status{};  // statuses other than 200 and 202
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
};

/// What the lead found out about parking (written on loop 0 only).
struct ParkResult {
  std::string error;  // set when the run was cancelled: not one waiter connected
  unsigned written = 0;
  bool gauge_available = false;
  bool confirmed = false;
  uint64_t settle_ns = 0;
};

/// A loop's word to the lead: its waiters are all written or failed.
struct ParkReport {
  unsigned written = 0;  // waiters whose request was written
  unsigned parked = 0;   // of those, the ones still waiting for their answer
  unsigned established = 0;
  int connect_error = 0;  // the first failed connect's libuv code
  uint64_t last_written_ns = 0;
};

/// One client connection: a waiter, a poster or the lead's /metrics reader. Its TCP handle is
/// opened again only after its close callback.
struct MailboxConn {
  enum class Role : uint8_t { Waiter, Poster, Probe };
  enum class State : uint8_t { Idle, Connecting, Open, Closing };

  MailboxLoop* owner = nullptr;
  Role role = Role::Waiter;
  State state = State::Idle;
  bool ever_open = false;
  bool writing = false;
  bool in_flight = false;  // a request was sent and its response is not complete
  bool complete = false;   // the parser finished a response in the current read
  bool keep_alive = true;  // of the response completed
  bool finished = false;   // waiter: its outcome is recorded; poster: it posts no more
  bool settled = false;    // waiter: written or finished (counted once for the report)
  bool failed_connect = false;
  uint8_t connect_failures = 0;  // poster: in a row
  uint32_t id = 0;               // waiter: its id; poster: the id of the POST in flight
  uint16_t status = 0;           // of the response completed
  uint64_t deadline = DeadlineTimer::kNever;  // loop clock, ms
  uint64_t sent_ns = 0;                       // when the request in flight was written
  uint64_t now_ns = 0;                        // when the bytes being parsed were read
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  llhttp_t parser{};
  ValueCheck check;
  std::string out;  // the request being written (kept until its write completes)
};

class MailboxLoop final : public Loop::Extension, DeadlineTimer::Source {
 public:
  /// Makes the scenario's state of loop `index` and attaches it: the waiters whose id is
  /// `index` modulo the threads, `posters` connections, and order[first_post, end_post).
  static MailboxLoop& attach(Loop& loop, MailboxPlan& plan, unsigned index, unsigned posters,
                             size_t first_post, size_t end_post);
  MailboxLoop(Loop& loop, MailboxPlan& plan, unsigned index, unsigned posters, size_t first_post,
              size_t end_post);
  ~MailboxLoop() override;
  MailboxLoop(const MailboxLoop&) = delete;
  MailboxLoop& operator=(const MailboxLoop&) = delete;

  /// After the loop's thread is joined.
  const MailboxLoopResult& result() const { return result_; }
  const ParkResult& park_result() const { return park_; }

  // Loop::Extension
  void started() override;
  void begin_drain() override;
  bool drained() const override { return stopping_ && open_ == 0; }
  void abort() override;

 private:
  friend struct MailboxCallbacks;
  enum class Phase { Waiting, Parking, Parked, Posting, Done };
  enum class Lead { Baseline, Reports, Confirm, Over };

  // DeadlineTimer::Source: connects, requests and waits that take too long; the lead's
  // settle and gauge polls; the end of the posting phase; reconnects of posters.
  uint64_t next_deadline() const override { return next_; }
  void on_deadline(uint64_t now) override;
  void arm(uint64_t at);

  // Messages, run on this loop's thread.
  void park();
  void post();
  void cancel();
  void on_report(const ParkReport& r);  // lead

  // Connections.
  void open(MailboxConn& c);
  void close(MailboxConn& c);
  void closed(MailboxConn& c);
  void connected(MailboxConn& c);
  void send(MailboxConn& c);
  void written(MailboxConn& c);
  void failed(MailboxConn& c, ErrorKind kind);
  void on_read(MailboxConn& c, ssize_t n);
  void responded(MailboxConn& c, bool out_of_step);

  // Waiters and posters.
  void waiter_done(MailboxConn& c, uint16_t status, int64_t got, ErrorKind error);
  void settle_waiter(MailboxConn& c);
  void report();
  void post_next(MailboxConn& c);
  void retire(MailboxConn& c);
  void end_posting();
  void maybe_finish();
  void finish();

  // The lead: the gauge and the phase changes.
  void probe_get();
  void probe_answer(bool ok);
  void lead_deadline(uint64_t now);
  void broadcast(void (MailboxLoop::*msg)());
  void go_post();

  Loop& core_;
  MailboxPlan& plan_;
  const unsigned index_;
  const bool lead_;
  std::vector<std::unique_ptr<MailboxConn>> waiters_;
  std::vector<std::unique_ptr<MailboxConn>> posters_;
  std::unique_ptr<MailboxConn> probe_;  // the lead's
  std::vector<char> read_buf_;
  llhttp_settings_t settings_{};
  MailboxLoopResult result_;
  Phase phase_ = Phase::Waiting;
  bool stopping_ = false;
  size_t open_ = 0;  // handles not closed yet
  uint64_t next_ = DeadlineTimer::kNever;
  uint64_t post_end_ = DeadlineTimer::kNever;
  size_t next_post_;
  const size_t end_post_;
  unsigned posters_active_ = 0;
  // Waiters: written, settled (written or finished before), finished; for the report.
  unsigned written_ = 0;
  unsigned settled_ = 0;
  unsigned done_ = 0;
  unsigned done_after_write_ = 0;
  int connect_error_ = 0;
  uint64_t last_written_ns_ = 0;

  // The lead only.
  Lead lead_phase_ = Lead::Baseline;
  ParkResult park_;
  unsigned reports_ = 0;
  ParkReport total_;
  uint64_t baseline_ = 0;
  uint64_t target_ = 0;
  uint64_t settle_end_ = DeadlineTimer::kNever;  // post by then, confirmed or not
  uint64_t poll_at_ = DeadlineTimer::kNever;     // the next gauge read
  std::string metrics_;                          // the /metrics body being read
  bool metrics_too_big_ = false;
};

}  // namespace tether::load::detail
