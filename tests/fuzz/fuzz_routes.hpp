// The fuzz target's routes: a few realistic handlers that record each call, so the checker can
// pair every handler call with the one response the server must have written for it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tether/response.hpp"
#include "tether/router.hpp"

namespace fuzz {

/// How a call was answered: by its handler (or the harness, for GET /later), or by the server
/// because the handler threw (500), dropped its Response (500) or let the deadline pass (504).
enum class Outcome { Send, Throw, Drop, Expired };

/// One handler call, and what its response must look like.
struct Call {
  Outcome outcome = Outcome::Send;
  /// A HEAD request served by a GET route: the body's length is announced, the body not sent.
  bool head = false;
  /// The body came chunked: its end (CRLF CRLF after the last chunk) is a second section end.
  bool chunked = false;
  int status = 200;
  std::string body;
  std::string content_type;
  /// The Connection field RFC 9112 9.3 asks for: "close", "keep-alive" (HTTP/1.0) or "".
  std::string connection;
  /// "close" is right too: tether closes after an upgrade or CONNECT request it does not
  /// upgrade. (Never the other way: a server must close when the client asked it to.)
  bool may_close = false;
  /// Answered by the harness between feeds (GET /later) rather than by the handler.
  bool deferred = false;
  /// False for a deferred call still unanswered when the connection closed.
  bool answered = true;
};

/// A GET /later response kept by the harness, to be answered between two feeds.
struct Pending {
  tether::Response res;
  size_t conn = 0;
  size_t call = 0;
};

struct Recorder {
  std::vector<std::vector<Call>> calls;  // per connection, in dispatch order
  std::vector<Pending> pending;
  /// Streamed bodies (POST /upload/slow) paused after a piece, resumed by the harness between
  /// two feeds.
  std::vector<Pending> paused;
  /// The connection being fed: handlers run inside its feed() (or inside a deferred answer).
  size_t current = 0;
};

Recorder& recorder();
/// Built once; its handlers record into recorder().
const tether::Router& router();
/// Status and body of the server's own answer for a call not answered by Send.
int server_status(Outcome outcome);
std::string_view server_error_body(Outcome outcome);

}  // namespace fuzz
