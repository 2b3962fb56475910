#include "fuzz_routes.hpp"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "invariants.hpp"
#include "response_reader.hpp"
#include "tether/request.hpp"

namespace fuzz {
namespace {

using tether::Method;
using tether::Request;
using tether::Response;

// Worked out from the request's own fields rather than taken from the parser, so that a wrong
// keep-alive decision (a response framed for a connection the client thinks is closed, or the
// reverse) shows up as a mismatch.
void expect_connection(const Request& req, Call& c) {
  bool close = false, keep_alive = false;
  c.may_close = req.method() == Method::Connect;
  for (size_t i = 0; i < req.header_count(); ++i) {
    auto [name, value] = req.header_at(i);
    if (iequal(name, "upgrade")) c.may_close = true;
    if (!iequal(name, "connection")) continue;
    while (!value.empty()) {
      size_t comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
        token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      close |= iequal(token, "close");
      keep_alive |= iequal(token, "keep-alive");
      c.may_close |= iequal(token, "upgrade");
      value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    }
  }
  const bool http10 = req.version_minor() == 0;
  if (close || (http10 && !keep_alive)) {
    c.connection = "close";
  } else {
    c.connection = http10 ? "keep-alive" : "";
  }
}

Call& record(const Request& req, Outcome outcome) {
  Recorder& rec = recorder();
  Call& c = rec.calls[rec.current].emplace_back();
  c.outcome = outcome;
  c.head = req.method() == Method::Head;
  c.chunked = req.header("transfer-encoding").has_value();
  expect_connection(req, c);
  return c;
}

size_t seq_of_last() {
  Recorder& rec = recorder();
  return rec.calls[rec.current].size() - 1;
}

// Answers with a body the checker will expect byte for byte, tagged with the call's index.
void send(const Request& req, Response& res, int status, std::string body,
          std::string_view type = "text/plain") {
  Call& c = record(req, Outcome::Send);
  c.status = status;
  c.body = std::move(body);
  c.content_type = type;
  res.set_header("X-Seq", std::to_string(seq_of_last()));
  res.send(status, c.body, type);
}

tether::Router build() {
  tether::Router r;
  auto add = [&r](Method m, std::string_view pattern, tether::Handler h, bool any = false) {
    if (!r.add(m, pattern, std::move(h), any)) throw std::logic_error("bad fuzz route");
  };
  add(Method::Get, "/text", [](Request& req, Response res) { send(req, res, 200, "hello\n"); });
  add(Method::Post, "/echo", [](Request& req, Response res) {
    send(req, res, 200, std::string(req.body()), "application/octet-stream");
  });
  add(Method::Get, "/users/{id}", [](Request& req, Response res) {
    send(req, res, 200, "user " + std::string(req.param("id")));
  });
  add(Method::Put, "/items/{id}", [](Request& req, Response res) {
    send(req, res, 201, std::string(req.param("id")) + " " + std::to_string(req.body().size()));
  });
  add(Method::Delete, "/items/{id}", [](Request& req, Response res) { send(req, res, 204, ""); });
  add(Method::Get, "/files/*", [](Request& req, Response res) {
    send(req, res, 200, "file " + std::string(req.param("*")));
  });
  add(Method::Get, "/search", [](Request& req, Response res) {
    send(req, res, 200, std::string(req.query("q").value_or("none")));
  });
  // Larger than a tiny write_high_water, so the cork is flushed in the middle of a batch.
  add(Method::Get, "/big",
      [](Request& req, Response res) { send(req, res, 200, std::string(20000, 'b')); });
  add(
      Method::Get, "/any",
      [](Request& req, Response res) { send(req, res, 200, std::string(req.method_name())); },
      true);
  // The handler closes the connection after its response.
  add(Method::Get, "/bye", [](Request& req, Response res) {
    res.set_header("Connection", "close");
    send(req, res, 200, "bye\n");
    recorder().calls[recorder().current].back().connection = "close";
  });
  add(Method::Get, "/throw", [](Request& req, Response) {
    record(req, Outcome::Throw);
    throw std::runtime_error("fuzz route throws");
  });
  add(Method::Get, "/drop", [](Request& req, Response) { record(req, Outcome::Drop); });
  add(Method::Get, "/later", [](Request& req, Response res) {
    Call& c = record(req, Outcome::Send);
    c.body = "later\n";
    c.content_type = "text/plain";
    c.deferred = true;
    c.answered = false;
    res.set_header("X-Seq", std::to_string(seq_of_last()));
    recorder().pending.push_back({res, recorder().current, seq_of_last()});
  });
  // Streamed bodies: answered at the body's end with its length and a checksum; the slow one
  // pauses after every piece until the harness resumes it between reads.
  tether::RouteOptions streamed;
  streamed.stream_body = true;
  streamed.max_body_bytes = 100000;
  auto upload = [](bool slow) {
    return [slow](Request& req, Response res) {
      Call& c = record(req, Outcome::Send);
      c.content_type = "text/plain";
      c.answered = false;
      const size_t conn = recorder().current, seq = seq_of_last();
      res.set_header("X-Seq", std::to_string(seq));
      std::optional<uint64_t> declared;
      if (auto cl = req.header("content-length")) declared = std::stoull(std::string(*cl));
      struct Sum {
        uint64_t bytes = 0;
        uint32_t hash = 0;
      };
      auto sum = std::make_shared<Sum>();
      Response keep = res;
      res.read_body(
          [sum, slow, keep](std::string_view piece) {
            if (piece.empty()) violation("an empty piece of a streamed body");
            sum->bytes += piece.size();
            for (unsigned char ch : piece) sum->hash = sum->hash * 31 + ch;
            if (slow) recorder().paused.push_back({keep, recorder().current, 0});
            return !slow;
          },
          [sum, keep, conn, seq, declared]() mutable {
            if (declared && *declared != sum->bytes)
              violation("a streamed body's length differs from its Content-Length");
            Call& done = recorder().calls[conn][seq];
            done.body = std::to_string(sum->bytes) + " " + std::to_string(sum->hash) + "\n";
            done.answered = true;
            keep.send(200, done.body, "text/plain");
          });
    };
  };
  if (!r.add(Method::Post, "/upload", streamed, upload(false)) ||
      !r.add(Method::Post, "/upload/slow", streamed, upload(true))) {
    throw std::logic_error("bad fuzz route");
  }
  return r;
}

}  // namespace

Recorder& recorder() {
  static Recorder rec;
  return rec;
}

const tether::Router& router() {
  static const tether::Router r = build();
  return r;
}

int server_status(Outcome outcome) {
  return outcome == Outcome::Expired ? 504 : 500;
}

std::string_view server_error_body(Outcome outcome) {
  switch (outcome) {
    case Outcome::Throw:
      return "internal server error\n";
    case Outcome::Drop:
      return "the handler dropped the response without sending it\n";
    case Outcome::Expired:
      return "the response deadline passed\n";
    case Outcome::Send:
      break;
  }
  return {};
}

}  // namespace fuzz
