// libFuzzer target for the request path: arbitrary bytes, split at arbitrary points, go through
// the real Connection (llhttp parser, router, handlers, writer) of a fresh in-memory connection;
// the bytes written back must be well-framed responses, one per request, in order.
//
// Input layout: 4 control bytes, then the request stream.
//   byte 0  option bits: 0x01 two connections fed in turn (the stream is split between them),
//           0x02 tiny head/target/header limits, 0x04 tiny body limit, 0x08 max_pipelined 1,
//           0x10 tiny write_high_water, 0x60 when GET /later responses are answered
//           (0: before each feed, 1: same in reverse order, 2: only at the end, 3: never).
//   byte 1  chunking: 0 feeds each stream whole; else chunks of at most 1 << (b1 % 8) bytes,
//           all that size when b1 & 0x80, else random sizes.
//   bytes 2-3  seed of those random sizes and of the two-connection split point.
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

#include "connection.hpp"
#include "fuzz_routes.hpp"
#include "invariants.hpp"
#include "loop.hpp"
#include "tether/options.hpp"

namespace {

constexpr size_t kControlBytes = 4;

enum class AnswerMode { BeforeEachFeed, ReversedBeforeEachFeed, AtEnd, Never };

struct Plan {
  tether::ServerOptions options;
  size_t connections = 1;
  AnswerMode answers = AnswerMode::BeforeEachFeed;
  uint8_t chunking = 0;
  uint32_t rng = 1;

  explicit Plan(const uint8_t* c) : chunking(c[1]), rng(((uint32_t{c[2]} << 8) | c[3]) + 1) {
    const uint8_t bits = c[0];
    if (bits & 0x01) connections = 2;
    if (bits & 0x02) {
      options.max_head_bytes = 96;
      options.max_target_bytes = 24;
      options.max_headers = 4;
    }
    if (bits & 0x04) options.max_body_bytes = 16;
    if (bits & 0x08) options.max_pipelined = 1;
    if (bits & 0x10) options.write_high_water = 64;
    answers = static_cast<AnswerMode>((bits >> 5) & 3);
  }

  uint32_t next() {  // xorshift32: cheap, and the same sizes for the same control bytes
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  }

  size_t chunk(size_t left) {
    if (chunking == 0) return left;
    const size_t max = size_t{1} << (chunking % 8);
    const size_t n = (chunking & 0x80) ? max : 1 + next() % max;
    return n < left ? n : left;
  }
};

void capture(void* ctx, const char* data, size_t len) {
  auto& outputs = *static_cast<std::vector<std::string>*>(ctx);
  outputs[fuzz::recorder().current].append(data, len);
}

// Answers the GET /later responses kept so far, as the loop would from a timer or an inbox:
// inside a cork scope. Answering may let a paused connection parse on and defer more of them.
void answer_pending(tether::detail::Loop& loop, bool reversed) {
  fuzz::Recorder& rec = fuzz::recorder();
  std::vector<fuzz::Pending> batch;
  batch.swap(rec.pending);
  if (reversed) std::reverse(batch.begin(), batch.end());
  tether::detail::CorkScope cork(loop);
  for (fuzz::Pending& p : batch) {
    rec.current = p.conn;
    if (!p.res.send(200, "later\n")) fuzz::violation("a pending response could not be sent");
    rec.calls[p.conn][p.call].answered = true;
  }
}

void run(Plan& plan, std::string_view stream) {
  fuzz::Recorder& rec = fuzz::recorder();
  rec.calls.assign(plan.connections, {});
  rec.pending.clear();
  rec.current = 0;
  std::vector<std::string> outputs(plan.connections);

  std::string_view streams[2] = {stream, {}};
  if (plan.connections == 2) {
    size_t split = plan.next() % (stream.size() + 1);
    streams[0] = stream.substr(0, split);
    streams[1] = stream.substr(split);
  }

  tether::detail::Loop loop(plan.options, fuzz::router(), nullptr, 0);
  loop.set_output_sink(&capture, &outputs);
  tether::detail::Connection* conns[2] = {};
  for (size_t k = 0; k < plan.connections; ++k) conns[k] = loop.open_in_memory();

  size_t pos[2] = {0, 0};
  for (size_t turn = 0;; turn = (turn + 1) % plan.connections) {
    size_t k = turn;
    if (pos[k] == streams[k].size()) k = (k + 1) % plan.connections;
    if (pos[k] == streams[k].size()) break;
    if (plan.answers == AnswerMode::BeforeEachFeed) answer_pending(loop, false);
    if (plan.answers == AnswerMode::ReversedBeforeEachFeed) answer_pending(loop, true);
    const size_t n = plan.chunk(streams[k].size() - pos[k]);
    // Each read gets its own exact-size heap buffer, freed right after: a view kept into an
    // old read, or a read past the end of this one, is then a use-after-free or overflow that
    // AddressSanitizer reports (a socket's reused read buffer would hide both).
    auto buf = std::make_unique<char[]>(n);
    std::memcpy(buf.get(), streams[k].data() + pos[k], n);
    rec.current = k;
    conns[k]->feed(buf.get(), n);
    pos[k] += n;
  }
  if (plan.answers != AnswerMode::Never) {
    while (!rec.pending.empty()) answer_pending(loop, false);
  }

  const uint64_t open_before_close = loop.stats().connections_active.get();
  // close() is idempotent: the server may have closed a connection already (its object lives
  // until the loop runs its close callback, in ~Loop).
  for (size_t k = 0; k < plan.connections; ++k) conns[k]->close();
  {
    // A kept Response of a closed connection is dead: sending writes nothing.
    tether::detail::CorkScope cork(loop);
    for (fuzz::Pending& p : rec.pending) {
      rec.current = p.conn;
      if (p.res.send(200, "too late\n")) fuzz::violation("a response was sent after close");
    }
    rec.pending.clear();
  }

  if (std::getenv("TETHER_FUZZ_DUMP")) {  // for reading a reproducer: what went in and out
    for (size_t k = 0; k < plan.connections; ++k) {
      std::fprintf(stderr, "--- connection %zu input:\n%s\n--- output:\n%s\n", k,
                   fuzz::escape(streams[k]).c_str(), fuzz::escape(outputs[k]).c_str());
    }
  }

  size_t finals = 0, closed = 0, throws = 0;
  bool all_answered = true;
  for (size_t k = 0; k < plan.connections; ++k) {
    fuzz::Tally t = fuzz::check_connection(streams[k], outputs[k], rec.calls[k]);
    finals += t.finals;
    closed += t.closed;
    for (const fuzz::Call& c : rec.calls[k]) {
      all_answered &= c.answered;
      throws += c.outcome == fuzz::Outcome::Throw;
    }
  }
  const auto& s = loop.stats();
  if (open_before_close != plan.connections - closed)
    fuzz::violation(
        "the server closed a connection without Connection: close, or kept it open "
        "after one");
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
  // Nothing of this input outlives it: libFuzzer's leak check compares allocations per input.
  rec.calls.clear();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kControlBytes) return -1;  // not even a plan: keep it out of the corpus
  Plan plan(data);
  run(plan,
      std::string_view(reinterpret_cast<const char*>(data) + kControlBytes, size - kControlBytes));
  return 0;
}
