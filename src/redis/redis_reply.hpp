// What a Redis command comes back with, as values of our own (no hiredis type leaves
// src/redis/redis_connection.cpp): a RedisReply when Redis answered, or a RedisFailure when
// it did not.
//
// The failures say what the caller may assume about the command:
//   not_connected  never sent: the connection was not up (or was closed). Safe to retry.
//   timeout        sent, and no answer within its timeout: it may or may not have run.
//   disconnected   sent, and the connection ended before its answer (lost, dropped after
//                  another command's timeout, closed, the loop stopping): it may or may not
//                  have run.
// An error reply ("-ERR ...", "-NOSCRIPT ...") is an answer, not a failure: the command
// reached Redis, which refused it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tether::detail {

struct RedisReply {
  enum class Type : uint8_t { nil, integer, string, array, status, error };

  Type type = Type::nil;
  int64_t integer = 0;
  std::string str;                   ///< string (bulk), status ("OK") and error text
  std::vector<RedisReply> elements;  ///< array

  static RedisReply nil() { return {}; }
  static RedisReply of_integer(int64_t v);
  static RedisReply of_string(std::string s);
  static RedisReply of_status(std::string s);
  static RedisReply of_error(std::string s);

  bool is_nil() const { return type == Type::nil; }
  bool is_error() const { return type == Type::error; }
  /// A status reply whose text is `text` ("OK", "PONG").
  bool is_status(const char* text) const { return type == Type::status && str == text; }
  /// An error whose first word is `code` ("NOSCRIPT", "WRONGPASS").
  bool is_error_code(const char* code) const;

  /// A short text form for logs and test failures: 42, "abc", nil, +OK, -ERR x, [1, "a"].
  std::string describe() const;
};

enum class RedisFailure : uint8_t { none, not_connected, timeout, disconnected };

/// "ok", "not connected", "timeout", "disconnected".
const char* to_string(RedisFailure f);

struct RedisResult {
  RedisFailure failure = RedisFailure::none;
  RedisReply reply;  ///< Redis' answer when ok()

  bool ok() const { return failure == RedisFailure::none; }
  static RedisResult failed(RedisFailure f) {
    RedisResult r;
    r.failure = f;
    return r;
  }
  /// The reply's describe(), or the failure's name.
  std::string describe() const { return ok() ? reply.describe() : to_string(failure); }
};

}  // namespace tether::detail
