#include "support/expectations.hpp"

#include <gtest/gtest.h>

namespace tt {

void expect_plaintext_ok(Client& c, int timeout_ms) {
  ASSERT_TRUE(c.send(kPlaintextRequest));
  std::optional<HttpResponse> r = c.read_response(timeout_ms);
  ASSERT_TRUE(r.has_value()) << "buffered: " << c.buffered();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_FALSE(r->header("connection").has_value());
}

}  // namespace tt
