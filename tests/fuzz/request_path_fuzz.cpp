// libFuzzer target for the request path: arbitrary bytes, split at arbitrary points, go through
// the real Connection (llhttp parser, router, handlers, writer) of fresh in-memory connections
// on a fresh loop; the bytes written back must be well-framed responses, one per request, in
// order (invariants.cpp). The first four bytes of an input are its Plan (plan.hpp).
//
// Everything runs on this thread with the loop never started, so the harness does what the
// loop would: it answers kept responses inside a cork scope, and fires deadlines and timers the
// way the loop's tick does.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_routes.hpp"
#include "http/connection.hpp"
#include "http/exchange.hpp"
#include "http/http_loop.hpp"
#include "invariants.hpp"
#include "plan.hpp"

namespace {

using tether::detail::Connection;
using tether::detail::CorkScope;
using tether::detail::TimeoutKind;

class Session {
 public:
  Session(fuzz::Plan& plan, std::string_view stream)
      : plan_(plan),
        n_(plan.connections),
        outputs_(n_),
        core_(0, plan.options.drain_timeout_ms),
        loop_(tether::detail::HttpLoop::attach(core_, plan.options, fuzz::router(), nullptr)) {
    streams_[0] = stream;
    if (n_ == 2) {
      const size_t split = plan.next() % (stream.size() + 1);
      streams_[0] = stream.substr(0, split);
      streams_[1] = stream.substr(split);
    }
    fuzz::Recorder& rec = fuzz::recorder();
    rec.calls.assign(n_, {});
    rec.pending.clear();
    rec.current = 0;
    loop_.set_output_sink(&Session::capture, this);
    for (size_t k = 0; k < n_; ++k) conns_[k] = loop_.open_in_memory();
  }

  ~Session() {
    // Nothing of this input outlives it: libFuzzer's leak check compares allocations per input.
    fuzz::recorder().pending.clear();
    fuzz::recorder().calls.clear();
  }

  void run() {
    feed_all();
    if (plan_.time_passes) let_time_pass();
    if (plan_.answers != fuzz::AnswerMode::Never) {
      while (!fuzz::recorder().pending.empty() || !fuzz::recorder().paused.empty())
        answer_pending(false);
    }
    const uint64_t open = loop_.stats().connections_active.get();
    close_all();
    check(open);
  }

 private:
  static void capture(void* self, Connection* from, const char* data, size_t len) {
    auto* s = static_cast<Session*>(self);
    const size_t k = from == s->conns_[0] ? 0 : 1;
    if (k >= s->n_ || from != s->conns_[k]) fuzz::violation("output from an unknown connection");
    s->outputs_[k].append(data, len);
  }
  void feed_all();
  void answer_pending(bool reversed);
  void let_time_pass();
  void expire_pending();
  void close_all();
  void check(uint64_t open_before_close);

  fuzz::Plan& plan_;
  const size_t n_;
  std::string_view streams_[2];
  std::vector<std::string> outputs_;
  tether::detail::Loop core_;
  tether::detail::HttpLoop& loop_;  // owned by core_
  Connection* conns_[2] = {};
  bool idled_[2] = {};  // closed by its idle timer: no response says so
};

void Session::feed_all() {
  fuzz::Recorder& rec = fuzz::recorder();
  size_t pos[2] = {0, 0};
  for (size_t turn = 0;; turn = (turn + 1) % n_) {
    size_t k = turn;
    if (pos[k] == streams_[k].size()) k = (k + 1) % n_;
    if (pos[k] == streams_[k].size()) break;
    if (plan_.answers == fuzz::AnswerMode::BeforeEachRead) answer_pending(false);
    if (plan_.answers == fuzz::AnswerMode::ReversedBeforeEachRead) answer_pending(true);
    const size_t n = plan_.chunk(streams_[k].size() - pos[k]);
    // Each read gets its own exact-size heap buffer, freed right after: a view kept into an
    // old read, or a read past the end of this one, is then a use-after-free or overflow that
    // AddressSanitizer reports (a socket's reused read buffer would hide both).
    auto buf = std::make_unique<char[]>(n);
    std::memcpy(buf.get(), streams_[k].data() + pos[k], n);
    rec.current = k;
    conns_[k]->feed(buf.get(), n);  // safe after the server closed it: feed() ignores the bytes
    pos[k] += n;
  }
}

// Answers the GET /later responses kept so far, as the loop would from a timer or an inbox.
// Answering may let a paused connection parse on and keep more of them.
void Session::answer_pending(bool reversed) {
  fuzz::Recorder& rec = fuzz::recorder();
  std::vector<fuzz::Pending> batch;
  batch.swap(rec.pending);
  if (reversed) std::reverse(batch.begin(), batch.end());
  std::vector<fuzz::Pending> paused;
  paused.swap(rec.paused);
  {
    CorkScope cork(loop_);
    for (fuzz::Pending& p : batch) {
      rec.current = p.conn;
      if (!p.res.send(200, "later\n")) fuzz::violation("a kept response could not be sent");
      rec.calls[p.conn][p.call].answered = true;
    }
  }
  // A paused body goes on at the settle (the end of its scope), where its connection's next
  // pieces and requests run: its next piece may pause it again, or answer it. One whose
  // exchange has ended since is dead: nothing to resume.
  for (fuzz::Pending& p : paused) {
    rec.current = p.conn;
    CorkScope cork(loop_);
    p.res.resume_body();
  }
}

// What the loop's ticks do once every deadline has passed: each unanswered /later request gets
// its 504, then, a tick later (the idle timer starts when the last response is out), each
// connection's own timer fires (header or body: 408; idle: close).
void Session::let_time_pass() {
  fuzz::Recorder& rec = fuzz::recorder();
  {
    CorkScope cork(loop_);
    expire_pending();
  }
  CorkScope cork(loop_);
  for (size_t k = 0; k < n_; ++k) {
    const TimeoutKind kind = conns_[k]->timeout_kind;
    if (kind == TimeoutKind::None) continue;
    rec.current = k;
    loop_.arm(conns_[k], TimeoutKind::None);
    conns_[k]->on_timeout(kind);
    idled_[k] = kind == TimeoutKind::Idle;
  }
}

void Session::expire_pending() {
  fuzz::Recorder& rec = fuzz::recorder();
  while (!rec.pending.empty()) {
    std::vector<fuzz::Pending> batch;
    batch.swap(rec.pending);
    for (fuzz::Pending& p : batch) {
      tether::detail::Exchange* x = tether::detail::ResponseAccess::exchange(p.res);
      if (!p.res.alive()) fuzz::violation("a kept response died before its connection closed");
      if (!x->deadline_hook.linked()) fuzz::violation("an open response has no deadline");
      rec.current = p.conn;
      loop_.disarm_deadline(x);
      loop_.stats().responses_timed_out.add();
      x->conn->expire(x);
      rec.calls[p.conn][p.call].outcome = fuzz::Outcome::Expired;
      rec.calls[p.conn][p.call].answered = true;
    }
  }
}

void Session::close_all() {
  fuzz::Recorder& rec = fuzz::recorder();
  // close() is idempotent: the server may have closed a connection already (its object lives
  // until the loop runs its close callback, in ~Loop).
  for (size_t k = 0; k < n_; ++k) conns_[k]->close();
  // A kept Response of a closed connection is dead: sending writes nothing.
  CorkScope cork(loop_);
  for (fuzz::Pending& p : rec.pending) {
    rec.current = p.conn;
    if (p.res.send(200, "too late\n")) fuzz::violation("a response was sent after close");
  }
  rec.pending.clear();
  for (fuzz::Pending& p : rec.paused) {
    if (p.res.resume_body()) fuzz::violation("a body was resumed after close");
  }
  rec.paused.clear();
}

void Session::check(uint64_t open_before_close) {
  fuzz::Recorder& rec = fuzz::recorder();
  if (std::getenv("TETHER_FUZZ_DUMP")) {  // for reading a reproducer: what went in and out
    for (size_t k = 0; k < n_; ++k) {
      std::fprintf(stderr, "--- connection %zu input:\n%s\n--- output:\n%s\n", k,
                   fuzz::escape(streams_[k]).c_str(), fuzz::escape(outputs_[k]).c_str());
    }
  }
  size_t finals = 0, closed = 0, throws = 0;
  bool all_answered = true;
  for (size_t k = 0; k < n_; ++k) {
    fuzz::Tally t = fuzz::check_connection(streams_[k], outputs_[k], rec.calls[k]);
    finals += t.finals;
    closed += t.closed || idled_[k];
    for (const fuzz::Call& c : rec.calls[k]) {
      all_answered &= c.answered;
      throws += c.outcome == fuzz::Outcome::Throw;
    }
  }
  const auto& s = loop_.stats();
  if (open_before_close != n_ - closed) {
    fuzz::violation(
        "the server closed a connection without Connection: close, or kept it open after one");
  }
  if (s.connections_active.get() != 0 || s.exchanges_in_flight.get() != 0)
    fuzz::violation("connections or exchanges still counted after close");
  if (s.handler_exceptions.get() != throws) fuzz::violation("handler exceptions miscounted");
  uint64_t counted = 0;
  for (const auto& c : s.responses_by_class) counted += c.get();
  // With every response sent, each request and each rejection got exactly one answer on the
  // wire. (A response answered behind one left open at close is counted but never written.)
  if (all_answered && (finals != s.requests.get() + s.bad_requests.get() || finals != counted))
    fuzz::violation("responses written differ from requests and rejections counted");
  if (finals > counted) fuzz::violation("more responses written than counted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < fuzz::Plan::kControlBytes) return -1;  // not even a plan: keep it out of the corpus
  fuzz::Plan plan(data);
  Session session(plan,
                  std::string_view(reinterpret_cast<const char*>(data) + fuzz::Plan::kControlBytes,
                                   size - fuzz::Plan::kControlBytes));
  session.run();
  return 0;
}
