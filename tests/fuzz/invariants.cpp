#include "invariants.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "response_reader.hpp"

namespace fuzz {
namespace {

constexpr std::string_view kNotFound = "no route for this path\n";
constexpr std::string_view kNotAllowed = "method not allowed for this path\n";

}  // namespace

std::string escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

// Statuses the server answers to input it cannot take as a request; each closes the connection.
bool is_rejection(int status) {
  switch (status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 417:
    case 431:
    case 501:
    case 505:
      return true;
    default:
      return false;
  }
}

class Checker {
 public:
  Checker(std::string_view output, const std::vector<Call>& calls)
      : out_(output), calls_(calls), rd_(output) {}

  Tally run();
  size_t unknown_heads() const { return unknown_heads_; }

 private:
  [[noreturn]] void fail(std::string_view what) const { violation(what, out_, start_); }
  void handler_response(const Call& c, std::string_view body, bool tagged);
  void route_error(std::string_view text);
  void rejection();
  void expect_body(bool head, std::string_view body);

  std::string_view out_;
  const std::vector<Call>& calls_;
  ResponseReader rd_;
  ResponseHead h_;
  size_t start_ = 0;  // where the response being checked starts
  size_t next_call_ = 0;
  size_t unknown_heads_ = 0;
};

Tally Checker::run() {
  Tally t;
  std::string error;
  while (!rd_.at_end()) {
    start_ = out_.size() - rd_.rest().size();
    if (t.closed) fail("bytes after a response with Connection: close");
    if (!rd_.read_head(h_, error)) fail(error);
    if (h_.status < 200) {
      if (h_.status != 100) fail("interim response other than 100 Continue");
      ++t.continues;
      continue;
    }
    ++t.finals;
    t.closed = h_.connection == "close";
    if (auto seq = h_.get("x-seq")) {
      if (next_call_ >= calls_.size() || *seq != std::to_string(next_call_))
        fail("tagged response is not the one of the next handler call (order or count)");
      const Call& c = calls_[next_call_++];
      if (c.outcome != Outcome::Send || !c.answered) fail("response for a call that sent none");
      handler_response(c, c.body, true);
    } else if (next_call_ < calls_.size() && calls_[next_call_].outcome != Outcome::Send &&
               h_.status == server_status(calls_[next_call_].outcome)) {
      const Call& c = calls_[next_call_++];
      handler_response(c, server_error_body(c.outcome), false);
    } else if (h_.status == 500 || h_.status == 504) {
      fail("500 or 504 that no handler call explains: a lost or abandoned response");
    } else if (h_.status == 404) {
      route_error(kNotFound);
    } else if (h_.status == 405) {
      if (!h_.get("allow")) fail("405 without Allow");
      route_error(kNotAllowed);
    } else if (is_rejection(h_.status)) {
      ++t.errors;
      rejection();
    } else {
      fail("unexpected status");
    }
  }
  // Every call up to the first one left unanswered at close has its response, and no later one
  // does: responses leave in request order.
  size_t first_unanswered = 0;
  while (first_unanswered < calls_.size() && calls_[first_unanswered].answered) ++first_unanswered;
  start_ = out_.size();
  if (next_call_ != first_unanswered) fail("a handler call got no response");
  return t;
}

void Checker::expect_body(bool head, std::string_view body) {
  if (*h_.content_length != body.size()) fail("Content-Length is not the length of the body");
  if (head) {
    if (!rd_.next_is_response_or_end()) fail("HEAD response followed by body bytes");
    return;
  }
  std::string_view got;
  std::string error;
  if (!rd_.read_body(body.size(), got, error)) fail(error);
  if (got != body) fail("body differs from what the handler sent");
}

void Checker::handler_response(const Call& c, std::string_view body, bool tagged) {
  const int status = tagged ? c.status : server_status(c.outcome);
  if (h_.status != status) fail("status differs from what the handler sent");
  if (h_.connection != c.connection && !(c.may_close && h_.connection == "close"))
    fail("Connection field does not follow the request (RFC 9112 9.3)");
  if (status == 204) {
    if (h_.count("content-type")) fail("Content-Type on a 204");
    return;
  }
  auto type = h_.get("content-type");
  const std::string_view want = tagged ? std::string_view(c.content_type) : "text/plain";
  if (body.empty() ? type.has_value() : type != want) fail("wrong Content-Type");
  expect_body(c.head, body);
}

void Checker::route_error(std::string_view text) {
  // The method is unknown here: a body equal to the server's text, or none at all for HEAD.
  if (*h_.content_length != text.size()) fail("404/405 with an unexpected Content-Length");
  if (h_.get("content-type") != "text/plain") fail("404/405 without Content-Type: text/plain");
  if (rd_.rest().substr(0, text.size()) == text) {
    std::string_view body;
    std::string error;
    rd_.read_body(text.size(), body, error);
    return;
  }
  if (!rd_.next_is_response_or_end()) fail("404/405 body is neither its text nor absent");
  ++unknown_heads_;
}

void Checker::rejection() {
  if (h_.connection != "close") fail("rejection without Connection: close");
  if (h_.get("content-type") != "text/plain") fail("rejection without Content-Type: text/plain");
  std::string_view body;
  std::string error;
  if (!rd_.read_body(*h_.content_length, body, error)) fail(error);
  // "Errors from the server say what was wrong in a short text/plain body": one line.
  if (body.size() < 2 || body.back() != '\n') fail("rejection body is not one line of text");
  for (unsigned char c : body.substr(0, body.size() - 1)) {
    if (c < 0x20 || c >= 0x7f) fail("rejection body is not one line of text");
  }
}

}  // namespace

void violation(std::string_view what, std::string_view output, size_t at) {
  std::fprintf(stderr, "\n=== request_path_fuzz: INVARIANT VIOLATION: %.*s\n",
               static_cast<int>(what.size()), what.data());
  if (!output.empty()) {
    size_t from = at > 200 ? at - 200 : 0;
    std::fprintf(stderr, "--- output before the offending response:\n%s\n--- from it on:\n%s\n",
                 escape(output.substr(from, at - from)).c_str(),
                 escape(output.substr(at, 600)).c_str());
  }
  std::abort();
}

Tally check_connection(std::string_view input, std::string_view output,
                       const std::vector<Call>& calls) {
  Checker checker(output, calls);
  Tally t = checker.run();
  // Never more answers than requests the input could hold. A request that reaches a handler,
  // a 404 or a 405 has passed the strict parser, so its head holds the version "HTTP/1.x" and
  // ends with CRLF CRLF, at its own offsets (a chunked one ends its body with another); the
  // one rejection of unparseable input needs neither, and it closes the connection.
  if (t.errors > 1) violation("more than one rejection on a connection", output);
  const size_t requests = t.finals - t.errors;
  if (requests > count_of(input, "HTTP/1."))
    violation("more responses than HTTP/1.x request lines");
  size_t chunked = 0;
  for (const Call& c : calls) chunked += c.chunked;
  if (requests + chunked > count_of(input, "\r\n\r\n"))
    violation("more head and trailer section ends than CRLF CRLF in the input (bare LF taken)");
  if (t.continues > count_of_ci(input, "100-continue"))
    violation("more 100 Continue than requests expecting one");
  size_t heads = checker.unknown_heads();
  for (const Call& c : calls) heads += c.head;
  if (heads > count_of(input, "HEAD ")) violation("more bodiless answers than HEAD requests");
  return t;
}

}  // namespace fuzz
