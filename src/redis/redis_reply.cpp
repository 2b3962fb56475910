#include "redis/redis_reply.hpp"

#include <cstring>

namespace tether::detail {

RedisReply RedisReply::of_integer(int64_t v) {
  RedisReply r;
  r.type = Type::integer;
  r.integer = v;
  return r;
}

RedisReply RedisReply::of_string(std::string s) {
  RedisReply r;
  r.type = Type::string;
  r.str = std::move(s);
  return r;
}

RedisReply RedisReply::of_status(std::string s) {
  RedisReply r;
  r.type = Type::status;
  r.str = std::move(s);
  return r;
}

RedisReply RedisReply::of_error(std::string s) {
  RedisReply r;
  r.type = Type::error;
  r.str = std::move(s);
  return r;
}

bool RedisReply::is_error_code(const char* code) const {
  if (type != Type::error) return false;
  const size_t n = std::strlen(code);
  return str.compare(0, n, code) == 0 && (str.size() == n || str[n] == ' ');
}

std::string RedisReply::describe() const {
  switch (type) {
    case Type::nil:
      return "nil";
    case Type::integer:
      return std::to_string(integer);
    case Type::string: {
      constexpr size_t kShown = 64;
      std::string s = "\"";
      for (size_t i = 0; i < str.size() && i < kShown; ++i) {
        const unsigned char c = static_cast<unsigned char>(str[i]);
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
          static const char* hex = "0123456789abcdef";
          s += "\\x";
          s += hex[c >> 4];
          s += hex[c & 15];
        } else {
          s += static_cast<char>(c);
        }
      }
      if (str.size() > kShown) s += "...";
      return s + "\"";
    }
    case Type::status:
      return "+" + str;
    case Type::error:
      return "-" + str;
    case Type::array: {
      std::string s = "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) s += ", ";
        if (i == 16) {
          s += "... " + std::to_string(elements.size()) + " elements";
          break;
        }
        s += elements[i].describe();
      }
      return s + "]";
    }
  }
  return "?";
}

const char* to_string(RedisFailure f) {
  switch (f) {
    case RedisFailure::none:
      return "ok";
    case RedisFailure::not_connected:
      return "not connected";
    case RedisFailure::timeout:
      return "timeout";
    case RedisFailure::disconnected:
      return "disconnected";
  }
  return "?";
}

}  // namespace tether::detail
