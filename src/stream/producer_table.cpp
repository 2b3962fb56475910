#include "stream/producer_table.hpp"

#include "core/worker_pool.hpp"
#include "http/connection.hpp"
#include "http/exchange.hpp"
#include "http/http_loop.hpp"
#include "http/stream_access.hpp"
#include "stream/stream_loop.hpp"

namespace tether::detail {

bool ProducerTable::start(Exchange* x, std::unique_ptr<ProducerItem> item,
                          const ProducerHead& head) {
  const uint64_t id = ++next_id_;
  const ServerOptions& o = loop_.options();
  const size_t window = o.stream_window_bytes ? o.stream_window_bytes : 2 * o.write_high_water;
  auto ch = std::make_shared<StreamChannel>(&loop_.core(), id, window, item->stop);
  item->home = &loop_.core();
  item->job_id = 0;
  item->index = kProducerEnd;
  item->producer = id;
  item->channel = ch;
  std::vector<std::unique_ptr<WorkItem>> items;
  items.push_back(std::move(item));
  if (!pool_ || !pool_->submit(items)) {
    x->conn->answer_error(x, 503, "server busy: the work queue is full", "Retry-After: 1\r\n");
    return false;
  }
  Producer& p = producers_[id];
  p.res = ResponseAccess::make(x);
  p.ch = ch;
  p.status = head.status;
  p.content_type.assign(head.content_type);
  p.events = head.events;
  // Before the first bytes: the client leaving or the deadline (504) stops the producer.
  // The callback owns the channel only, never a handle: no cycle through it.
  x->on_close.push_back([ch] { ch->stop(); });
  // Answered by the producer from now on, as stream() answers: a second offload_stream, a
  // send() or a stream() on this Response is refused, and alive() is false.
  x->taken = true;
  return true;
}

void ProducerTable::message(std::unique_ptr<WorkItem> item) {
  if (item->index == kProducerChunk)
    chunk(static_cast<ProducerChunk&>(*item));
  else
    end(static_cast<ProducerItem&>(*item));
}

bool ProducerTable::begin(uint64_t id, Producer& p) {
  p.started = true;
  // The handler's handles cannot answer it (`taken`): the table's own starts the stream.
  Exchange* x = ResponseAccess::exchange(p.res);
  if (x->state != ExchangeState::Open || !x->conn) return false;
  x->taken = false;
  if (p.events)
    p.stream = start_events_of(x).stream();
  else
    p.stream = start_stream_of(x, p.status, p.content_type);
  if (!p.stream.alive()) return false;
  x->stream->watched = true;
  x->stream->producer = id;
  return true;
}

void ProducerTable::chunk(ProducerChunk& c) {
  auto it = producers_.find(c.producer);
  if (it == producers_.end()) return;
  Producer& p = it->second;
  if (p.stopped) return;  // its writer is refused already: no credit needed
  if (!p.started && !begin(c.producer, p)) return stop(p);
  const StreamWrite w = p.stream.write(c.bytes);
  if (w == StreamWrite::Closed) return stop(p);
  p.held += c.bytes.size();
  if (w == StreamWrite::Ok) {
    p.ch->credit(p.held);
    p.held = 0;
  } else if (!p.waiting) {
    p.waiting = true;
    const uint64_t id = c.producer;
    p.stream.on_writable([this, id] { writable(id); });  // loop thread only, like the table
  }
}

void ProducerTable::writable(uint64_t id) {
  auto it = producers_.find(id);
  if (it == producers_.end()) return;
  Producer& p = it->second;
  p.waiting = false;
  p.ch->credit(p.held);
  p.held = 0;
}

void ProducerTable::end(ProducerItem& item) {
  auto it = producers_.find(item.producer);
  if (it == producers_.end()) return;
  // Out of the table first: destroying the record (its handles) may run user destructors.
  Producer p = std::move(it->second);
  producers_.erase(it);
  Exchange* x = ResponseAccess::exchange(p.res);
  if (item.error) {
    // Answered 500 if nothing went out yet; else the stream is cut when `p` goes (the last
    // handle of a stream not ended closes its connection).
    ++x->refs;
    run_user_code(x, "stream producer", [&] { std::rethrow_exception(item.error); });
    exchange_unref(x);
    return;
  }
  if (!item.ran || p.stopped || (p.started && !p.stream.alive())) {
    // Stopped (dropped unrun, told to stop, or its stream died): it may have bailed out
    // early, so a live stream is cut (when `p` goes), never ended.
    stop(p);
    return;
  }
  if (!p.started && !begin(item.producer, p)) return;
  for (const auto& [name, value] : item.trailers) p.stream.trailer(name, value);
  p.stream.end();
}

void ProducerTable::stop(Producer& p) {
  if (p.stopped) return;
  p.stopped = true;
  stopped_.add();
  p.ch->stop();
}

void ProducerTable::stream_over(uint64_t id) {
  auto it = producers_.find(id);
  if (it == producers_.end() || it->second.stopped) return;
  // The token's callbacks may be user code: triggered on the next turn of the loop, and the
  // writer halted with it, so that a write that returns false finds the token stopped.
  loop_.core().post_task([this, id] {
    auto at = producers_.find(id);
    if (at != producers_.end()) stop(at->second);
  });
}

void ProducerTable::stop_all() {
  for (auto& [id, p] : producers_) stop(p);
}

void ProducerTable::clear() {
  stop_all();
  std::unordered_map<uint64_t, Producer> producers;
  producers.swap(producers_);
  producers.clear();
}

}  // namespace tether::detail
