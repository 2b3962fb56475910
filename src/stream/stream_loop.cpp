#include "stream/stream_loop.hpp"

#include "http/ascii.hpp"
#include "http/connection.hpp"
#include "http/http_loop.hpp"
#include "http/http_writer.hpp"
#include "http/stream_access.hpp"
#include "tether/response.hpp"

namespace tether::detail {

StreamLoop& StreamLoop::attach(Loop& loop, HttpLoop& http, WorkerPool* pool, const TopicBus* bus) {
  StreamLoop& s = loop.attach(std::make_unique<StreamLoop>(http, pool, bus));
  http.set_producer_sink(&s);
  http.set_stream_end_hook(&StreamLoop::stream_over);
  return s;
}

StreamLoop::StreamLoop(HttpLoop& http, WorkerPool* pool, const TopicBus* bus)
    : bus_(bus),
      producers_(http, pool, counters_.producers_stopped),
      topics_(http, counters_.topics) {}

void StreamLoop::stream_over(Exchange* x) {
  StreamLoop* self = x->loop->core().find<StreamLoop>();
  if (!self) return;
  if (x->stream->subscription) self->topics_.stream_over(x);
  if (x->stream->producer) self->producers_.stream_over(x->stream->producer);
}

void StreamLoop::deliver_here(const TopicEvent& ev) {
  Loop* here = Loop::current();
  if (StreamLoop* self = here ? here->find<StreamLoop>() : nullptr) self->topics_.deliver(ev);
}

bool start_producer(Response& res, std::unique_ptr<ProducerItem> item, const ProducerHead& head) {
  Exchange* x = ResponseAccess::open(res, "offload_stream()");
  if (!x) return false;
  if (!valid_final_status(head.status) || head.status == 204 || head.status == 304) {
    x->conn->answer_error(x, 500, "the handler streamed a status that has no body");
    return false;
  }
  if (!is_field_value(head.content_type)) {
    x->conn->answer_error(x, 500, "the handler sent an invalid content type");
    return false;
  }
  StreamLoop* self = x->loop->core().find<StreamLoop>();
  if (!self) {
    x->conn->answer_error(x, 500, "streams produced on workers are not available here");
    return false;
  }
  return self->producers().start(x, std::move(item), head);
}

}  // namespace tether::detail
