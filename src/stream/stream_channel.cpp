// The worker side of a stream produced on the pool: the channel's credit, the writers the
// producer gets, and the work item that runs it.
#include "stream/stream_channel.hpp"

#include "core/loop.hpp"
#include "http/ascii.hpp"
#include "http/event_frame.hpp"
#include "tether/stream_writer.hpp"

namespace tether {
namespace detail {

bool StreamChannel::write(std::string_view bytes) {
  if (bytes.empty()) return !stopped();
  // Made before the lock: the copy is the one allocation of a write, and it need not wait.
  auto chunk = std::make_unique<ProducerChunk>();
  chunk->home = home_;
  chunk->job_id = 0;
  chunk->index = kProducerChunk;
  chunk->producer = producer_;
  chunk->bytes.assign(bytes);
  const size_t n = bytes.size();
  std::unique_lock<std::mutex> lock(mu_);
  auto room = [&] { return halted_ || finished_ || in_flight_ == 0 || in_flight_ + n <= window_; };
  if (Loop::current()) {
    // An event-loop thread (a handler, a callback, a stop callback run by the loop) must never
    // wait: credit comes back only from a loop, maybe this very one.
    if (!room()) return false;
  } else {
    cv_.wait(lock, room);
  }
  if (halted_) {
    // Halted before its token is triggered (stop() halts first): a write that says false
    // finds the token stopped, whoever gets there first.
    lock.unlock();
    stop_.request_stop();
    return false;
  }
  if (finished_) return false;
  in_flight_ += n;
  // Posted under the lock: writes from several threads reach the loop in the order they took
  // their credit, and none posts once the producer has finished (the loop may then go).
  if (!home_->post_completion(std::move(chunk))) {
    halted_ = true;  // the loop is winding down
    cv_.notify_all();
    return false;
  }
  return true;
}

bool StreamChannel::add_trailer(std::string_view name, std::string_view value) {
  if (!is_token(name) || !is_field_value(value)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (halted_ || finished_) return false;
  trailers_.emplace_back(name, value);
  return true;
}

bool StreamChannel::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return halted_ || finished_;
}

Trailers StreamChannel::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  cv_.notify_all();  // a writer on another thread waiting for credit gives up
  return std::move(trailers_);
}

void StreamChannel::halt() {
  std::lock_guard<std::mutex> lock(mu_);
  halted_ = true;
  cv_.notify_all();
}

void StreamChannel::credit(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ -= std::min(n, in_flight_);
  cv_.notify_all();
}

void StreamChannel::stop() {
  // Halted first: a stop callback of the producer's that writes a last word is refused at
  // once instead of waiting for credit. Not under mu_: the token's callbacks run here, and
  // ours takes mu_ (halt()).
  halt();
  stop_.request_stop();
}

void ProducerItem::run(std::stop_token token) noexcept {
  std::shared_ptr<StreamChannel> ch = channel;
  ran = true;
  {
    // Whoever stops the token (the loop, the pool at shutdown) wakes a blocked write.
    std::stop_callback wake(token, [ch] { ch->halt(); });
    try {
      produce(token, ch);
    } catch (...) {
      error = std::current_exception();
    }
  }
  trailers = ch->finish();
}

}  // namespace detail

bool StreamWriter::write(std::string_view bytes) {
  return ch_ && ch_->write(bytes);
}

bool StreamWriter::trailer(std::string_view name, std::string_view value) {
  return ch_ && ch_->add_trailer(name, value);
}

bool StreamWriter::stopped() const {
  return !ch_ || ch_->stopped();
}

size_t StreamWriter::window() const {
  return ch_ ? ch_->window() : 0;
}

bool EventWriter::send(std::string_view data, std::string_view event, std::string_view id) {
  if (!detail::event_fields_ok(event, id)) return false;
  std::string frame;
  detail::append_event(frame, data, event, id);
  return out_.write(frame);
}

bool EventWriter::comment(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) return false;
  std::string frame;
  frame.reserve(text.size() + 4);
  frame.append(": ").append(text).append("\n\n");
  return out_.write(frame);
}

}  // namespace tether
