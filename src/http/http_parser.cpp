#include "http/http_parser.hpp"

#include <algorithm>
#include <cstring>

#include "http/request_syntax.hpp"

namespace tether::detail {
namespace {

RequestParser* self(llhttp_t* p) {
  return static_cast<RequestParser*>(p->data);
}

Method method_from_llhttp(uint8_t m) {
  switch (m) {
    case HTTP_GET:
      return Method::Get;
    case HTTP_HEAD:
      return Method::Head;
    case HTTP_POST:
      return Method::Post;
    case HTTP_PUT:
      return Method::Put;
    case HTTP_DELETE:
      return Method::Delete;
    case HTTP_PATCH:
      return Method::Patch;
    case HTTP_OPTIONS:
      return Method::Options;
    case HTTP_CONNECT:
      return Method::Connect;
    case HTTP_TRACE:
      return Method::Trace;
    default:
      return Method::Other;
  }
}

}  // namespace

const llhttp_settings_t& RequestParser::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_version = on_version;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_chunk_header = on_chunk_header;
    s.on_chunk_extension_name = on_chunk_extension;
    s.on_chunk_extension_value = on_chunk_extension;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return kSettings;
}

RequestParser::RequestParser(const ParseLimits& limits) : limits_(limits) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
}

void RequestParser::restart() {
  llhttp_reset(&parser_);
  failed_ = false;
  in_message_ = headers_done_ = last_was_value_ = wants_continue_ = false;
  streaming_ = resume_ = false;
  clear_piece();
  base_ = nullptr;
  last_byte_ = 0;
}

std::unique_ptr<RequestParser> RequestParser::clone() const {
  auto c = std::make_unique<RequestParser>(limits_);
  // llhttp_t is plain data; only its back-pointer names the parser object.
  c->parser_ = parser_;
  c->parser_.data = c.get();
  c->target_ = target_;
  c->base_ = nullptr;  // the head has been detached: only body bytes are still to come
  c->body_bytes_ = body_bytes_;
  c->body_limit_ = body_limit_;
  c->streaming_ = streaming_;
  c->route_at_head_ = route_at_head_;
  c->resume_ = resume_;
  c->head_end_ = head_end_;
  c->last_byte_ = last_byte_;
  c->in_message_ = in_message_;
  c->headers_done_ = headers_done_;
  c->last_was_value_ = last_was_value_;
  c->wants_continue_ = wants_continue_;
  c->close_option_ = close_option_;
  c->keep_alive_option_ = keep_alive_option_;
  return c;
}

int RequestParser::fail(int status, const char* text) {
  failed_ = true;
  error_status_ = status;
  error_text_ = text;
  llhttp_set_error_reason(&parser_, text);
  return HPE_USER;
}

ParseStep RequestParser::execute(const char* p, const char* end) {
  if (!in_message_) base_ = p;
  end_ = end;
  if (resume_) {
    resume_ = false;
    llhttp_resume(&parser_);
  }
  llhttp_errno_t err = llhttp_execute(&parser_, p, static_cast<size_t>(end - p));
  if (err == HPE_OK) {
    if (end > p) last_byte_ = end[-1];
    return {ParseEvent::NeedMore, end};
  }
  if (err == HPE_PAUSED && headers_done_ && in_message_) {
    // Paused by on_headers_complete (route_at_head): the body starts at the pause.
    resume_ = true;
    if (end > p) last_byte_ = end[-1];
    return {ParseEvent::Head, llhttp_get_error_pos(&parser_)};
  }
  if (err == HPE_PAUSED) {
    // on_message_complete pauses so that each message is handed over on its own, with the
    // exact position where the next one starts.
    const char* next = llhttp_get_error_pos(&parser_);
    // A chunked message ends with the empty line after its trailer section, which llhttp also
    // takes as a bare LF (see on_headers_complete): the byte before that LF must be a CR.
    const char before_lf = next - p >= 2 ? next[-2] : last_byte_;
    if ((parser_.flags & F_CHUNKED) && before_lf != '\r') {
      fail(400, "bare LF ends the trailer section");
      return {ParseEvent::Error, end};
    }
    // The next message starts from a fresh llhttp state, as one at the start of a read does:
    // llhttp would otherwise refuse to go on after a message it takes for the last one, and
    // whether the connection persists is decided by on_message_complete, not by llhttp.
    llhttp_reset(&parser_);
    return {ParseEvent::Message, next};
  }
  // llhttp reports a failing on_headers_complete as HPE_CB_HEADERS_COMPLETE, whatever it
  // returned: the status chosen by fail() is the one that counts.
  if (!failed_) {
    switch (err) {
      case HPE_INVALID_VERSION:
        // llhttp's "Invalid HTTP version" is a well-formed version it does not support
        // (HTTP/1.2); its other version errors ("Expected CRLF after version", "Expected
        // dot", ...) are a malformed request line.
        if (std::strcmp(llhttp_get_error_reason(&parser_), "Invalid HTTP version") == 0) {
          error_status_ = 505;
          error_text_ = "unsupported HTTP version";
        } else {
          error_status_ = 400;
          error_text_ = "malformed HTTP version";
        }
        break;
      case HPE_INVALID_METHOD:
        error_status_ = 400;
        error_text_ = "invalid method";
        break;
      case HPE_INVALID_URL:
        error_status_ = 400;
        error_text_ = "invalid request target";
        break;
      default:
        error_status_ = 400;
        error_text_ = llhttp_get_error_reason(&parser_);
        if (!error_text_ || !*error_text_) error_text_ = llhttp_errno_name(err);
    }
  }
  return {ParseEvent::Error, end};
}

void RequestParser::detach() {
  RequestData& r = *target_;
  if (!r.body_copied) {
    std::string_view b = r.view(r.body_view);
    r.body_store.assign(b.data(), b.size());
    r.body_copied = true;
  }
  if (r.base != r.head_store.data()) {
    const char* old = r.base;
    r.head_store.assign(r.base, head_end_);
    r.base = r.head_store.data();
    r.rebase(old, head_end_);
  }
}

int RequestParser::on_message_begin(llhttp_t* p) {
  RequestParser& s = *self(p);
  s.in_message_ = true;
  s.headers_done_ = false;
  s.last_was_value_ = false;
  s.wants_continue_ = false;
  s.close_option_ = s.keep_alive_option_ = false;
  s.body_bytes_ = 0;
  s.body_limit_ = s.limits_.max_body_bytes;
  s.streaming_ = false;
  s.head_end_ = 0;
  s.span_end_ = s.base_;
  RequestData& r = *s.target_;
  // The pool hands out reset targets; only a restarted parse of a partial head reuses one.
  if (r.base) r.reset();
  r.base = s.base_;
  return 0;
}

int RequestParser::on_version(llhttp_t* p, const char* at, size_t len) {
  RequestParser& s = *self(p);
  // llhttp also takes RTSP and ICE request lines ("GET / RTSP/1.0"), reporting only the
  // numbers; serving one as HTTP/1.0 would answer a request the client never sent.
  if (at - s.base_ < 5 || std::memcmp(at - 5, "HTTP/", 5) != 0)
    return s.fail(400, "protocol is not HTTP");
  // llhttp accepts a lone LF after the request line even in strict mode; RFC 9112 2.2 lets a
  // server refuse it, and refusing it everywhere leaves no line ending two parsers read apart.
  if (at + len < s.end_ && at[len] == '\n') return s.fail(400, "bare LF in request line");
  s.span_end_ = at + len;
  return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, size_t len) {
  RequestParser& s = *self(p);
  RequestData& r = *s.target_;
  if (r.target.len == 0) r.target.off = static_cast<uint32_t>(at - s.base_);
  r.target.len = static_cast<uint32_t>(at + len - s.base_) - r.target.off;
  if (r.target.len > s.limits_.max_target_bytes) return s.fail(414, "request target too long");
  s.span_end_ = at + len;
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, size_t len) {
  RequestParser& s = *self(p);
  if (s.headers_done_) {
    // Trailer fields of a chunked body: not exposed, but they count against the body budget.
    s.body_bytes_ += len;
    return s.body_bytes_ > s.body_limit_ ? s.fail(413, "request body too large") : 0;
  }
  RequestData& r = *s.target_;
  uint32_t off = static_cast<uint32_t>(at - s.base_);
  if (r.headers.empty() || s.last_was_value_) {
    if (r.headers.size() >= s.limits_.max_headers) return s.fail(431, "too many header fields");
    r.headers.push_back({{off, static_cast<uint32_t>(len)}, {}});
  } else {
    Span& n = r.headers.back().name;
    n.len = off + static_cast<uint32_t>(len) - n.off;
  }
  s.last_was_value_ = false;
  s.span_end_ = at + len;
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, size_t len) {
  RequestParser& s = *self(p);
  if (s.headers_done_) {
    s.body_bytes_ += len;
    return s.body_bytes_ > s.body_limit_ ? s.fail(413, "request body too large") : 0;
  }
  RequestData& r = *s.target_;
  if (r.headers.empty() || (!s.last_was_value_ && r.headers.back().name.len == 0)) {
    return s.fail(400, "header field without a name");
  }
  Span& v = r.headers.back().value;
  if (s.last_was_value_) {
    // A second value span for one field is an obs-fold continuation line; RFC 9112 5.2 lets
    // a server reject it, and joining it would let two parsers disagree on the value.
    if (at != s.span_end_) return s.fail(400, "obsolete line folding is not allowed");
  } else {
    // A fold right after the colon ("Name:\r\n value") gives one value span only, after the
    // fold. Between the colon and the value there may be OWS, and a CRLF only before an empty
    // value (llhttp reports an empty value after its line's CRLF).
    const uint32_t off = static_cast<uint32_t>(at - s.base_);
    const Span& n = r.headers.back().name;
    const char* g = s.base_ + n.off + n.len + 1;
    while (g < at && (*g == ' ' || *g == '\t')) ++g;
    const std::string_view gap(g, static_cast<size_t>(at - g));
    if (!gap.empty() && !(len == 0 && gap == "\r\n")) {
      return s.fail(400, "obsolete line folding is not allowed");
    }
    v.off = off;
  }
  // llhttp strips a value's leading whitespace but keeps its trailing whitespace.
  const char* end = at + len;
  while (end > at && (end[-1] == ' ' || end[-1] == '\t')) --end;
  if (end > at) v.len = static_cast<uint32_t>(end - s.base_) - v.off;
  s.last_was_value_ = true;
  s.span_end_ = at + len;
  return 0;
}

int RequestParser::validate_head() {
  HeadFields fields;
  HeadCheck check = check_head(*target_, host_cache_, fields);
  if (check.status != 0) return fail(check.status, check.text);
  close_option_ = fields.close;
  keep_alive_option_ = fields.keep_alive;
  wants_continue_ = fields.expect_continue;
  if (!route_at_head_ && (parser_.flags & F_CONTENT_LENGTH) &&
      parser_.content_length > body_limit_) {
    return fail(413, "request body too large");
  }
  const bool has_body = (parser_.flags & F_CHUNKED) ||
                        ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > 0);
  has_body_ = has_body;
  if (!has_body) wants_continue_ = false;
  return 0;
}

bool RequestParser::head_ends_with_crlf() const {
  // The head is one contiguous buffer and llhttp has consumed its empty line. Each line before
  // it ends with an LF followed by a line that starts with neither CR nor LF; the first one that
  // does is the empty line. The scan starts on the last field's line (its span ends there, or
  // right at the empty line when its value is empty: hence one byte back).
  const char* q = base_ + (head_end_ > 0 ? head_end_ - 1 : 0);
  while ((q = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q))))) {
    if (++q == end_) return false;
    if (*q == '\r' || *q == '\n') return *q == '\r';
  }
  return false;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
  RequestParser& s = *self(p);
  RequestData& r = *s.target_;
  r.llhttp_method = p->method;
  r.method = method_from_llhttp(p->method);
  r.major = p->http_major;
  r.minor = p->http_minor;
  // The limit counts up to the end of the last header line; checking it once here is enough
  // because the head is in one buffer (a partial head is bounded by the connection).
  const size_t head_end = static_cast<size_t>(s.span_end_ - s.base_);
  if (head_end > s.limits_.max_head_bytes) return s.fail(431, "request head too large");
  s.head_end_ = static_cast<uint32_t>(head_end);
  // llhttp 8 ends the header section at a bare LF as well as at CRLF, even in strict mode. A
  // proxy that only knows CRLF reads what follows as more of this head: two parsers framing
  // one stream differently is how requests get smuggled.
  if (!s.head_ends_with_crlf()) return s.fail(400, "bare LF ends the header section");
  if (int rc = s.validate_head()) return rc;
  s.headers_done_ = true;
  r.body_view = {s.head_end_, 0};
  if (s.route_at_head_ && s.has_body_) {
    // Whether the body is wanted, and how much of it, is the route's to say: stop here.
    r.keep_alive = !s.close_option_ && (r.minor >= 1 || s.keep_alive_option_);
    return HPE_PAUSED;
  }
  return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, size_t len) {
  RequestParser& s = *self(p);
  RequestData& r = *s.target_;
  s.body_bytes_ += len;
  if (s.body_bytes_ > s.body_limit_) return s.fail(413, "request body too large");
  if (s.streaming_) {
    if (!s.piece_copied_) {
      if (s.piece_len_ == 0) {
        s.piece_ = at;
        s.piece_len_ = len;
        return 0;
      }
      if (at == s.piece_ + s.piece_len_) {
        s.piece_len_ += len;
        return 0;
      }
      s.piece_store_.assign(s.piece_, s.piece_len_);
      s.piece_copied_ = true;
    }
    s.piece_store_.append(at, len);
    return 0;
  }
  if (!r.body_copied) {
    uint32_t off = static_cast<uint32_t>(at - r.base);
    if (r.body_view.len == 0) {
      r.body_view = {off, static_cast<uint32_t>(len)};
      return 0;
    }
    if (off == r.body_view.off + r.body_view.len) {
      r.body_view.len += static_cast<uint32_t>(len);
      return 0;
    }
    // Chunked: the next piece is not adjacent, so the body gets its own storage.
    std::string_view first = r.view(r.body_view);
    r.body_store.assign(first.data(), first.size());
    r.body_copied = true;
  }
  r.body_store.append(at, len);
  return 0;
}

int RequestParser::on_chunk_header(llhttp_t* p) {
  RequestParser& s = *self(p);
  // A chunk that cannot fit the body budget is refused at its size line, as a Content-Length
  // is, rather than after reading up to the limit (or waiting for the body timeout).
  if (p->content_length > s.body_limit_ - s.body_bytes_) {
    return s.fail(413, "request body too large");
  }
  return 0;
}

int RequestParser::on_chunk_extension(llhttp_t* p, const char*, size_t len) {
  RequestParser& s = *self(p);
  // Extensions are ignored but not free: they count against the body budget.
  s.body_bytes_ += len;
  return s.body_bytes_ > s.body_limit_ ? s.fail(413, "request body too large") : 0;
}

int RequestParser::on_message_complete(llhttp_t* p) {
  RequestParser& s = *self(p);
  RequestData& r = *s.target_;
  // RFC 9112 9.3: close first, whatever the version; then HTTP/1.1 persists by default and
  // HTTP/1.0 only with keep-alive.
  r.keep_alive = !p->upgrade && !s.close_option_ && (r.minor >= 1 || s.keep_alive_option_);
  s.in_message_ = false;
  s.headers_done_ = false;
  s.wants_continue_ = false;
  return HPE_PAUSED;
}

}  // namespace tether::detail
