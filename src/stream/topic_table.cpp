#include "stream/topic_table.hpp"

#include "http/connection.hpp"
#include "http/http_loop.hpp"
#include "http/stream_access.hpp"
#include "stream/stream_loop.hpp"
#include "tether/topic.hpp"

namespace tether {
namespace detail {

bool TopicTable::subscribe(Exchange* x, std::string_view name) {
  StreamState& st = *x->stream;
  if (st.watched) return false;
  auto [it, fresh] = by_name_.try_emplace(std::string(name));
  Subscribers& s = it->second;
  if (fresh) s.name = it->first;
  s.list.push_back(x);
  ++x->refs;  // the topic holds the stream: the handler may drop its handles
  st.subscription = &s;
  st.watched = true;
  counters_.subscribers.add();
  return true;
}

void TopicTable::stream_over(Exchange* x) {
  auto* s = static_cast<Subscribers*>(std::exchange(x->stream->subscription, nullptr));
  if (!s) return;
  s->list.remove(x);
  counters_.subscribers.sub();
  if (s->list.empty()) by_name_.erase(s->name);  // a delivery never holds the list itself
  loop_.release_at_settle(x);
}

void TopicTable::deliver(const TopicEvent& ev) {
  auto it = by_name_.find(ev.name);
  if (it == by_name_.end()) return;
  // A write may close a connection, and with it end other subscribers (which leave the
  // list and may free it): walk a copy, each held by a reference for the walk.
  delivering_.clear();
  for (Exchange* x = it->second.list.front(); x; x = decltype(it->second.list)::next(x)) {
    ++x->refs;
    delivering_.push_back(x);
  }
  const size_t limit = loop_.options().topic_subscriber_max_bytes;
  for (Exchange* x : delivering_) {
    if (!x->subscriber_hook.linked() || !x->conn) continue;  // it ended meanwhile
    x->conn->stream_write(x, ev.frame);
    counters_.deliveries.add();
    if (x->conn && x->subscriber_hook.linked() && x->conn->stream_backlog(x) > limit) {
      // Judged on what the socket refused, not on output still held for this callback's
      // batch (up to 256 KiB): a reader that keeps up is not slow.
      x->loop->flush_cork_if(x->conn);
      if (!x->conn || !x->subscriber_hook.linked() || x->conn->stream_backlog(x) <= limit)
        continue;
      counters_.dropped.add();
      x->conn->close();  // drops its unsent bytes: a slow reader holds no more memory
    }
  }
  std::vector<Exchange*> held;
  held.swap(delivering_);
  for (Exchange* x : held) exchange_unref(x);
  held.clear();
  if (delivering_.empty()) delivering_.swap(held);  // keep the capacity
}

}  // namespace detail

bool Topic::subscribe(EventStream& events) const {
  detail::Exchange* x = detail::StreamAccess::open(events.stream(), "Topic::subscribe()");
  if (!x || !bus_ || !x->stream->events) return false;
  detail::StreamLoop* sl = x->loop->core().find<detail::StreamLoop>();
  if (!sl || sl->bus() != bus_.get()) return false;  // another server's stream
  return sl->topics().subscribe(x, name_);
}

}  // namespace tether
