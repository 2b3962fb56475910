// RequestParser: llhttp glue. Turns bytes into RequestData, one message per step, enforcing
// the request limits and the RFC 9112 rules llhttp leaves to the server.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http/request_data.hpp"
#include "http/request_syntax.hpp"

namespace tether::detail {

struct ParseLimits {
  size_t max_head_bytes = 16 * 1024;
  size_t max_target_bytes = 8 * 1024;
  size_t max_headers = 100;
  size_t max_body_bytes = 1024 * 1024;
};

enum class ParseEvent {
  /// All input consumed; a message may be partly received (see in_message()).
  NeedMore,
  /// One complete request is in the target; `next` is where the following bytes start.
  Message,
  /// (route_at_head mode) The head of a request with a body is complete and nothing of the
  /// body is parsed yet: the caller routes it, sets its body limit, and calls execute() again
  /// from `next`.
  Head,
  /// The input is malformed or over a limit: answer error_status() and close.
  Error,
};

struct ParseStep {
  ParseEvent event;
  const char* next;
};

class RequestParser {
 public:
  explicit RequestParser(const ParseLimits& limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  /// Where the next message's fields go. Must be set before execute() at a message start.
  void set_target(RequestData* target) { target_ = target; }
  RequestData* target() const { return target_; }
  /// Stop at the head of every request that has a body (ParseEvent::Head), leaving the
  /// Content-Length check to the caller, who knows the route's limit.
  void set_route_at_head(bool on) { route_at_head_ = on; }
  /// The current message's body limit (from the limits until the caller sets another).
  void set_body_limit(uint64_t bytes) { body_limit_ = bytes; }
  /// The current message declared a Content-Length (else its body is chunked or empty).
  bool has_length() const { return (parser_.flags & F_CONTENT_LENGTH) != 0; }
  uint64_t content_length() const { return parser_.content_length; }
  /// Body bytes of the current message parsed so far.
  uint64_t body_bytes() const { return body_bytes_; }
  /// From now until the message ends, its body is not kept in the target: each execute()
  /// gathers the body bytes it parsed into piece(), for the caller to hand on and clear.
  void stream_body() { streaming_ = true; }
  bool has_piece() const { return piece_len_ != 0 || piece_copied_; }
  std::string_view piece() const {
    return piece_copied_ ? std::string_view(piece_store_) : std::string_view(piece_, piece_len_);
  }
  void clear_piece() {
    piece_len_ = 0;
    piece_copied_ = false;
    piece_store_.clear();
  }

  /// Parses [p, end) up to the end of one message. Views of the message are relative to the
  /// byte where its parse started, so a head must be contiguous in one buffer: when a head is
  /// incomplete at the end of input, the caller keeps [message_base(), end) and calls
  /// restart(); when a body is incomplete, it calls detach() and feeds later bytes as they come.
  ParseStep execute(const char* p, const char* end);

  /// A message has begun and is not complete.
  bool in_message() const { return in_message_; }
  /// The current message's head is complete (its body is being received).
  bool headers_done() const { return headers_done_; }
  /// First byte of the current message (valid while its head is being parsed).
  const char* message_base() const { return base_; }
  /// A partial head of `bytes` can no longer fit the limit once complete: the limit counts
  /// up to the end of the last header line, and at least the final CRLF CRLF is still to come.
  bool head_cannot_fit(size_t bytes) const { return bytes > limits_.max_head_bytes + 4; }
  /// The current message asked for `100 Continue` and has a body to come.
  bool wants_continue() const { return wants_continue_; }

  /// Forget the partial message; the next execute() starts a message afresh.
  void restart();
  /// A parser in the same state, for a connection that must carry a body across reads while
  /// this (shared, per-loop) parser serves other connections. Call after detach().
  std::unique_ptr<RequestParser> clone() const;
  /// The current message's head bytes move into the target's own storage, so that the
  /// input buffer may be reused while its body is still to come.
  void detach();

  int error_status() const { return error_status_; }
  std::string_view error_text() const { return error_text_; }

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, size_t len);
  static int on_version(llhttp_t* p, const char* at, size_t len);
  static int on_header_field(llhttp_t* p, const char* at, size_t len);
  static int on_header_value(llhttp_t* p, const char* at, size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t len);
  static int on_chunk_header(llhttp_t* p);
  static int on_chunk_extension(llhttp_t* p, const char* at, size_t len);
  static int on_message_complete(llhttp_t* p);
  static const llhttp_settings_t& settings();

  int fail(int status, const char* text);
  bool head_ends_with_crlf() const;
  int validate_head();

  llhttp_t parser_;
  const ParseLimits& limits_;
  RequestData* target_ = nullptr;
  const char* base_ = nullptr;
  const char* end_ = nullptr;
  /// End of the last head span seen: the head's size so far, and where an obs-fold would join.
  const char* span_end_ = nullptr;
  uint64_t body_bytes_ = 0;
  uint64_t body_limit_ = 0;
  /// A streamed body's bytes parsed by one execute(): a view of the input while they are
  /// contiguous (Content-Length), else copied (chunked).
  const char* piece_ = nullptr;
  size_t piece_len_ = 0;
  std::string piece_store_;
  bool piece_copied_ = false;
  bool streaming_ = false;
  bool route_at_head_ = false;
  bool has_body_ = false;  // the current message announced a body (validate_head)
  bool resume_ = false;    // paused at a head: the next execute() resumes llhttp
  uint32_t head_end_ = 0;
  /// Last byte of the previous execute() input: the CR of a CRLF split across two reads.
  char last_byte_ = 0;
  bool in_message_ = false;
  bool headers_done_ = false;
  bool last_was_value_ = false;
  bool wants_continue_ = false;
  /// The request's Connection options (read by validate_head, not llhttp: see there).
  bool close_option_ = false;
  bool keep_alive_option_ = false;
  HostCache host_cache_;
  bool failed_ = false;  // fail() chose the status; llhttp's errno says only "callback error"
  int error_status_ = 0;
  const char* error_text_ = "";
};

}  // namespace tether::detail
