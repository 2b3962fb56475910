// The connection's output path: writes (uv_try_write first, uv_write for what the socket
// did not take, output produced meanwhile queued behind it) and the linger after the last
// response (half-close, then drain what the client still sends).
#include "http/connection.hpp"
#include "http/http_loop.hpp"

namespace tether::detail {

// ---------------------------------------------------------------- writing

size_t Connection::pending_bytes() const {
  if (!write_) return held_bytes_;
  return held_bytes_ + write_->inflight.size() + (write_->body.size() - write_->body_off) +
         write_->queued.size();
}

void Connection::send_bytes(const char* data, size_t len) {
  if (closing_ || len == 0) return;
  if (HttpLoop::OutputSink sink = loop_.output_sink()) {
    sink(loop_.output_sink_ctx(), this, data, len);
    return;
  }
  if (write_ && write_->active) {
    write_->queued.append(data, len);
    return;
  }
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
  int n = uv_try_write(stream(), &buf, 1);
  if (n >= 0 && static_cast<size_t>(n) == len) return;
  if (n < 0 && n != UV_EAGAIN) {
    close();
    return;
  }
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  if (!write_) write_ = loop_.acquire_write_state();
  write_->inflight.assign(data + done, len - done);
  start_write();
}

void Connection::send_bytes(const char* data, size_t len, std::string&& body) {
  if (closing_) return;
  if (HttpLoop::OutputSink sink = loop_.output_sink()) {
    if (len > 0) sink(loop_.output_sink_ctx(), this, data, len);
    if (!closing_ && !body.empty()) sink(loop_.output_sink_ctx(), this, body.data(), body.size());
    return;
  }
  uv_buf_t bufs[2] = {uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len)),
                      uv_buf_init(body.data(), static_cast<unsigned>(body.size()))};
  int n = uv_try_write(stream(), bufs, 2);
  const size_t total = len + body.size();
  if (n >= 0 && static_cast<size_t>(n) == total) return;
  if (n < 0 && n != UV_EAGAIN) {
    close();
    return;
  }
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  if (!write_) write_ = loop_.acquire_write_state();
  if (done < len) {
    write_->inflight.assign(data + done, len - done);
    write_->body_off = 0;
  } else {
    write_->inflight.clear();
    write_->body_off = done - len;
  }
  write_->body = std::move(body);  // no copy: the buffer the handler built
  start_write();
}

void Connection::start_write() {
  write_->active = true;
  write_->req.data = this;
  uv_buf_t bufs[2];
  unsigned count = 0;
  if (!write_->inflight.empty()) {
    bufs[count++] =
        uv_buf_init(write_->inflight.data(), static_cast<unsigned>(write_->inflight.size()));
  }
  if (write_->body_off < write_->body.size()) {
    bufs[count++] = uv_buf_init(write_->body.data() + write_->body_off,
                                static_cast<unsigned>(write_->body.size() - write_->body_off));
  }
  if (uv_write(&write_->req, stream(), bufs, count, on_write) != 0) {
    write_->active = false;
    close();
    return;
  }
  update_timeout(false, true);
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (status == UV_ECANCELED) return;  // closing; the close callback frees everything
  CorkScope cork(c->loop_);
  WriteState* w = c->write_;
  w->active = false;
  w->inflight.clear();
  if (!w->body.empty()) {
    std::string().swap(w->body);  // a big body's memory goes as soon as it is written
    w->body_off = 0;
  }
  if (status < 0) {
    c->close();
    return;
  }
  if (!w->queued.empty()) {
    std::swap(w->inflight, w->queued);
    c->start_write();
  } else {
    if (!c->lingering_) {
      c->loop_.release_write_state(w);
      c->write_ = nullptr;
    }
    c->flush_answered();  // a moved body held back by this write may go now
  }
  c->after_progress();
  c->update_timeout(false, true);
}

// ---------------------------------------------------------------- lingering

void Connection::start_linger() {
  // Half-close and drain what the client still sends, so that it reads our last response
  // instead of a reset caused by unread input.
  if (in_memory_) {  // no socket: nothing to half-close, no client input left to drain
    close();
    return;
  }
  lingering_ = true;
  if (!write_) write_ = loop_.acquire_write_state();
  write_->shutdown.data = this;
  if (uv_shutdown(&write_->shutdown, stream(), on_shutdown) != 0) {
    close();
    return;
  }
  if (read_paused_) {
    read_paused_ = false;
    if (uv_read_start(stream(), on_alloc, on_read) != 0) {
      close();
      return;
    }
  }
  update_timeout(false, false);
}

void Connection::on_shutdown(uv_shutdown_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (status == UV_ECANCELED || status >= 0) return;
  CorkScope cork(c->loop_);
  c->close();
}

}  // namespace tether::detail
