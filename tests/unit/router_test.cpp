// Router: literal / capture / catch-all matching, precedence with backtracking, 404 / 405,
// HEAD fallback, any-method routes and the errors of add().
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/request_data.hpp"
#include "tether/router.hpp"

namespace {

using tether::Handler;
using tether::Method;
using tether::Request;
using tether::Response;
using tether::RouteMatch;
using tether::Router;

constexpr uint32_t bit(Method m) {
  return 1u << static_cast<unsigned>(m);
}

// A router whose handlers record an id, so a test can tell which route matched.
class RouterTest : public ::testing::Test {
 protected:
  Handler tagged(int id) {
    return [this, id](Request&, Response) { called_ = id; };
  }
  void add_ok(Method m, std::string_view pattern, int id, bool any = false) {
    tether::Status s = router_.add(m, pattern, tagged(id), any);
    ASSERT_TRUE(s.ok()) << pattern << ": " << s.message();
  }
  // Id of the handler `match` found, or -1 when none.
  int which(const RouteMatch& m) {
    if (!m.handler) return -1;
    called_ = -1;
    Request req(data_);
    (*m.handler)(req, Response());
    return called_;
  }
  static std::string_view param(const RouteMatch& m, std::string_view name) {
    for (size_t i = 0; i < m.param_count; ++i) {
      if (m.params[i].first == name) return m.params[i].second;
    }
    return "<none>";
  }

  Router router_;
  RouteMatch m_;
  tether::detail::RequestData data_;
  int called_ = -1;
};

// --- literal routes -------------------------------------------------------------------------

TEST_F(RouterTest, LiteralRouteMatches) {
  add_ok(Method::Get, "/users/list", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/users/list", m_));
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(which(m_), 1);
  EXPECT_EQ(m_.param_count, 0u);
}

TEST_F(RouterTest, RootRouteMatchesSlash) {
  add_ok(Method::Get, "/", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/", m_));
  EXPECT_EQ(which(m_), 1);
}

TEST_F(RouterTest, LiteralRouteDoesNotMatchPrefixOrLongerPath) {
  add_ok(Method::Get, "/users/list", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/users", m_));
  EXPECT_FALSE(router_.match(Method::Get, "/users/list/more", m_));
  EXPECT_FALSE(router_.match(Method::Get, "/users/lis", m_));
}

TEST_F(RouterTest, SiblingLiteralsSelectTheirOwnHandlers) {
  add_ok(Method::Get, "/a", 1);
  add_ok(Method::Get, "/b", 2);
  add_ok(Method::Get, "/a/b", 3);
  ASSERT_TRUE(router_.match(Method::Get, "/a", m_));
  EXPECT_EQ(which(m_), 1);
  ASSERT_TRUE(router_.match(Method::Get, "/b", m_));
  EXPECT_EQ(which(m_), 2);
  ASSERT_TRUE(router_.match(Method::Get, "/a/b", m_));
  EXPECT_EQ(which(m_), 3);
}

TEST_F(RouterTest, PathNotStartingWithSlashDoesNotMatch) {
  add_ok(Method::Get, "/a", 1);
  EXPECT_FALSE(router_.match(Method::Get, "a", m_));
  EXPECT_FALSE(m_.path_found);
  EXPECT_FALSE(router_.match(Method::Get, "", m_));
  EXPECT_FALSE(m_.path_found);
}

// --- captures -------------------------------------------------------------------------------

TEST_F(RouterTest, CaptureValueIsReturnedInParams) {
  add_ok(Method::Get, "/users/{id}", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/users/42", m_));
  EXPECT_EQ(which(m_), 1);
  ASSERT_EQ(m_.param_count, 1u);
  EXPECT_EQ(m_.params[0].first, "id");
  EXPECT_EQ(m_.params[0].second, "42");
}

TEST_F(RouterTest, CaptureValueIsAViewIntoThePath) {
  add_ok(Method::Get, "/users/{id}", 1);
  std::string path = "/users/abc";
  ASSERT_TRUE(router_.match(Method::Get, path, m_));
  ASSERT_EQ(m_.param_count, 1u);
  EXPECT_EQ(m_.params[0].second.data(), path.data() + 7);
}

TEST_F(RouterTest, SeveralCapturesInOrder) {
  add_ok(Method::Get, "/u/{user}/posts/{post}", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/u/ann/posts/7", m_));
  ASSERT_EQ(m_.param_count, 2u);
  EXPECT_EQ(m_.params[0].first, "user");
  EXPECT_EQ(m_.params[0].second, "ann");
  EXPECT_EQ(m_.params[1].first, "post");
  EXPECT_EQ(m_.params[1].second, "7");
}

TEST_F(RouterTest, CaptureDoesNotMatchEmptySegment) {
  add_ok(Method::Get, "/users/{id}", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/users/", m_));
  EXPECT_FALSE(m_.path_found);
}

TEST_F(RouterTest, CaptureMatchesExactlyOneSegment) {
  add_ok(Method::Get, "/users/{id}", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/users/1/2", m_));
  EXPECT_FALSE(m_.path_found);
}

TEST_F(RouterTest, SixteenCapturesAreAllReturned) {
  std::string pattern, path;
  for (int i = 0; i < 16; ++i) {
    pattern += "/{p" + std::to_string(i) + "}";
    path += "/v" + std::to_string(i);
  }
  add_ok(Method::Get, pattern, 1);
  ASSERT_TRUE(router_.match(Method::Get, path, m_));
  ASSERT_EQ(m_.param_count, 16u);
  EXPECT_EQ(param(m_, "p0"), "v0");
  EXPECT_EQ(param(m_, "p15"), "v15");
}

// --- catch-all ------------------------------------------------------------------------------

TEST_F(RouterTest, CatchAllCapturesRestIncludingSlashes) {
  add_ok(Method::Get, "/files/*", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/files/a/b/c.txt", m_));
  EXPECT_EQ(which(m_), 1);
  ASSERT_EQ(m_.param_count, 1u);
  EXPECT_EQ(m_.params[0].first, "*");
  EXPECT_EQ(m_.params[0].second, "a/b/c.txt");
}

TEST_F(RouterTest, CatchAllMayBeEmpty) {
  add_ok(Method::Get, "/files/*", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/files/", m_));
  EXPECT_EQ(which(m_), 1);
  EXPECT_EQ(param(m_, "*"), "");
}

TEST_F(RouterTest, CatchAllAtRootMatchesEverything) {
  add_ok(Method::Get, "/*", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/", m_));
  EXPECT_EQ(param(m_, "*"), "");
  ASSERT_TRUE(router_.match(Method::Get, "/x/y/z", m_));
  EXPECT_EQ(param(m_, "*"), "x/y/z");
}

TEST_F(RouterTest, CatchAllAfterCaptureKeepsBoth) {
  add_ok(Method::Get, "/repo/{name}/*", 1);
  ASSERT_TRUE(router_.match(Method::Get, "/repo/tether/src/a.cpp", m_));
  EXPECT_EQ(param(m_, "name"), "tether");
  EXPECT_EQ(param(m_, "*"), "src/a.cpp");
}

// --- precedence and backtracking -------------------------------------------------------------

TEST_F(RouterTest, LiteralBeatsCapture) {
  add_ok(Method::Get, "/users/{id}", 1);
  add_ok(Method::Get, "/users/me", 2);
  ASSERT_TRUE(router_.match(Method::Get, "/users/me", m_));
  EXPECT_EQ(which(m_), 2);
  EXPECT_EQ(m_.param_count, 0u);
  ASSERT_TRUE(router_.match(Method::Get, "/users/you", m_));
  EXPECT_EQ(which(m_), 1);
}

TEST_F(RouterTest, CaptureBeatsCatchAll) {
  add_ok(Method::Get, "/a/*", 1);
  add_ok(Method::Get, "/a/{x}", 2);
  ASSERT_TRUE(router_.match(Method::Get, "/a/b", m_));
  EXPECT_EQ(which(m_), 2);
  ASSERT_EQ(m_.param_count, 1u);
  EXPECT_EQ(param(m_, "x"), "b");
}

TEST_F(RouterTest, LiteralBeatsCatchAll) {
  add_ok(Method::Get, "/a/*", 1);
  add_ok(Method::Get, "/a/b", 2);
  ASSERT_TRUE(router_.match(Method::Get, "/a/b", m_));
  EXPECT_EQ(which(m_), 2);
}

TEST_F(RouterTest, BacktracksFromLiteralToCapture) {
  add_ok(Method::Get, "/a/b/c", 1);
  add_ok(Method::Get, "/a/{x}/d", 2);
  ASSERT_TRUE(router_.match(Method::Get, "/a/b/d", m_));
  EXPECT_EQ(which(m_), 2);
  ASSERT_EQ(m_.param_count, 1u);
  EXPECT_EQ(param(m_, "x"), "b");
  ASSERT_TRUE(router_.match(Method::Get, "/a/b/c", m_));
  EXPECT_EQ(which(m_), 1);
  EXPECT_EQ(m_.param_count, 0u);
}

TEST_F(RouterTest, BacktracksFromCaptureToCatchAllDroppingTheCapture) {
  add_ok(Method::Get, "/a/{x}/d", 1);
  add_ok(Method::Get, "/a/*", 2);
  ASSERT_TRUE(router_.match(Method::Get, "/a/b/e", m_));
  EXPECT_EQ(which(m_), 2);
  ASSERT_EQ(m_.param_count, 1u);
  EXPECT_EQ(m_.params[0].first, "*");
  EXPECT_EQ(m_.params[0].second, "b/e");
}

TEST_F(RouterTest, BacktracksWhenLiteralNodeLacksTheMethod) {
  add_ok(Method::Post, "/a/b", 1);
  add_ok(Method::Get, "/a/{x}", 2);
  ASSERT_TRUE(router_.match(Method::Get, "/a/b", m_));
  EXPECT_EQ(which(m_), 2);
  EXPECT_EQ(param(m_, "x"), "b");
  ASSERT_TRUE(router_.match(Method::Post, "/a/b", m_));
  EXPECT_EQ(which(m_), 1);
}

// --- 404 and 405 ----------------------------------------------------------------------------

TEST_F(RouterTest, UnknownPathIs404) {
  add_ok(Method::Get, "/a", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/nope", m_));
  EXPECT_EQ(m_.handler, nullptr);
  EXPECT_FALSE(m_.path_found);
  EXPECT_EQ(m_.allowed, 0u);
  EXPECT_EQ(m_.param_count, 0u);
}

TEST_F(RouterTest, EmptyRouterIs404) {
  EXPECT_FALSE(router_.match(Method::Get, "/", m_));
  EXPECT_FALSE(m_.path_found);
}

TEST_F(RouterTest, IntermediateNodeWithoutRouteIs404) {
  add_ok(Method::Get, "/a/b/c", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/a/b", m_));
  EXPECT_FALSE(m_.path_found);
}

TEST_F(RouterTest, WrongMethodIs405WithAllowedMask) {
  add_ok(Method::Get, "/items", 1);
  add_ok(Method::Post, "/items", 2);
  EXPECT_FALSE(router_.match(Method::Delete, "/items", m_));
  EXPECT_EQ(m_.handler, nullptr);
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(m_.allowed, bit(Method::Get) | bit(Method::Post));
  EXPECT_FALSE(m_.any_method);
  EXPECT_EQ(Router::allow_header(m_.allowed), "GET, HEAD, POST");
}

TEST_F(RouterTest, Status405ThroughCaptureReportsThatRoutesMethods) {
  add_ok(Method::Put, "/items/{id}", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/items/3", m_));
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(m_.allowed, bit(Method::Put));
  EXPECT_EQ(m_.param_count, 0u);
  EXPECT_EQ(Router::allow_header(m_.allowed), "PUT");
}

TEST_F(RouterTest, Status405AfterBacktrackingReportsTheMatchingRoute) {
  add_ok(Method::Get, "/a/b/c", 1);
  add_ok(Method::Post, "/a/{x}/d", 2);
  EXPECT_FALSE(router_.match(Method::Get, "/a/b/d", m_));
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(m_.allowed, bit(Method::Post));
}

// Allow must list every method that would be served for the path: here POST /a/b is served
// by the capture route, so a 405 for PUT /a/b must announce POST as well as GET.
TEST_F(RouterTest, Status405AllowedCoversMethodsOfEveryRouteMatchingThePath) {
  add_ok(Method::Get, "/a/b", 1);
  add_ok(Method::Post, "/a/{x}", 2);
  ASSERT_TRUE(router_.match(Method::Post, "/a/b", m_));  // POST is served for /a/b ...
  EXPECT_FALSE(router_.match(Method::Put, "/a/b", m_));
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(m_.allowed, bit(Method::Get) | bit(Method::Post));  // ... so Allow must say so.
}

TEST(RouterAllowHeader, ListsMethodsInCanonicalOrder) {
  EXPECT_EQ(Router::allow_header(bit(Method::Delete) | bit(Method::Post)), "POST, DELETE");
  EXPECT_EQ(Router::allow_header(bit(Method::Options) | bit(Method::Put) | bit(Method::Patch)),
            "PUT, PATCH, OPTIONS");
}

TEST(RouterAllowHeader, HeadIsListedWheneverGetIs) {
  EXPECT_EQ(Router::allow_header(bit(Method::Get)), "GET, HEAD");
  EXPECT_EQ(Router::allow_header(bit(Method::Get) | bit(Method::Head)), "GET, HEAD");
  EXPECT_EQ(Router::allow_header(bit(Method::Head)), "HEAD");
}

TEST(RouterAllowHeader, EmptyMaskGivesEmptyText) {
  EXPECT_EQ(Router::allow_header(0), "");
}

// --- HEAD -----------------------------------------------------------------------------------

TEST_F(RouterTest, HeadFallsBackToGetHandler) {
  add_ok(Method::Get, "/page", 1);
  ASSERT_TRUE(router_.match(Method::Head, "/page", m_));
  EXPECT_EQ(which(m_), 1);
}

TEST_F(RouterTest, HeadFallbackKeepsCaptures) {
  add_ok(Method::Get, "/page/{n}", 1);
  ASSERT_TRUE(router_.match(Method::Head, "/page/5", m_));
  EXPECT_EQ(which(m_), 1);
  EXPECT_EQ(param(m_, "n"), "5");
}

TEST_F(RouterTest, ExplicitHeadRouteWinsOverGet) {
  add_ok(Method::Get, "/page", 1);
  add_ok(Method::Head, "/page", 2);
  ASSERT_TRUE(router_.match(Method::Head, "/page", m_));
  EXPECT_EQ(which(m_), 2);
  ASSERT_TRUE(router_.match(Method::Get, "/page", m_));
  EXPECT_EQ(which(m_), 1);
}

TEST_F(RouterTest, HeadWithoutGetRouteIs405) {
  add_ok(Method::Post, "/page", 1);
  EXPECT_FALSE(router_.match(Method::Head, "/page", m_));
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(m_.allowed, bit(Method::Post));
}

TEST_F(RouterTest, GetDoesNotFallBackToHead) {
  add_ok(Method::Head, "/page", 1);
  EXPECT_FALSE(router_.match(Method::Get, "/page", m_));
  EXPECT_TRUE(m_.path_found);
}

// --- any-method routes ----------------------------------------------------------------------

TEST_F(RouterTest, AnyRouteMatchesEveryMethod) {
  add_ok(Method::Get, "/echo", 1, /*any=*/true);
  for (unsigned i = 0; i < tether::kMethodCount; ++i) {
    Method m = static_cast<Method>(i);
    ASSERT_TRUE(router_.match(m, "/echo", m_)) << tether::method_name(m);
    EXPECT_EQ(which(m_), 1) << tether::method_name(m);
  }
}

TEST_F(RouterTest, AnyRouteMatchesMethodOther) {
  add_ok(Method::Get, "/dav/*", 1, /*any=*/true);
  ASSERT_TRUE(router_.match(Method::Other, "/dav/x", m_));
  EXPECT_EQ(which(m_), 1);
  EXPECT_EQ(param(m_, "*"), "x");
}

TEST_F(RouterTest, MethodSpecificRouteWinsOverAnyAtSamePath) {
  add_ok(Method::Get, "/r", 1, /*any=*/true);
  add_ok(Method::Post, "/r", 2);
  ASSERT_TRUE(router_.match(Method::Post, "/r", m_));
  EXPECT_EQ(which(m_), 2);
  ASSERT_TRUE(router_.match(Method::Put, "/r", m_));
  EXPECT_EQ(which(m_), 1);
}

TEST_F(RouterTest, MethodOtherWithoutAnyRouteIs405) {
  add_ok(Method::Get, "/r", 1);
  EXPECT_FALSE(router_.match(Method::Other, "/r", m_));
  EXPECT_TRUE(m_.path_found);
  EXPECT_EQ(m_.allowed, bit(Method::Get));
}

// --- add() errors ---------------------------------------------------------------------------

TEST_F(RouterTest, PatternMustStartWithSlash) {
  tether::Status s = router_.add(Method::Get, "users", tagged(1));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.message().empty());
  EXPECT_FALSE(router_.add(Method::Get, "", tagged(1)).ok());
}

TEST_F(RouterTest, CatchAllMustBeLastSegment) {
  EXPECT_FALSE(router_.add(Method::Get, "/a/*/b", tagged(1)).ok());
  EXPECT_FALSE(router_.add(Method::Get, "/*/", tagged(1)).ok());
}

TEST_F(RouterTest, ConflictingCaptureNamesAtOnePositionFail) {
  add_ok(Method::Get, "/u/{id}", 1);
  tether::Status s = router_.add(Method::Get, "/u/{name}/x", tagged(2));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.message().empty());
}

TEST_F(RouterTest, ConflictingCaptureNamesFailEvenForAnotherMethod) {
  add_ok(Method::Get, "/u/{id}", 1);
  EXPECT_FALSE(router_.add(Method::Post, "/u/{name}", tagged(2)).ok());
}

TEST_F(RouterTest, SameCaptureNameAtOnePositionIsShared) {
  add_ok(Method::Get, "/u/{id}", 1);
  add_ok(Method::Post, "/u/{id}", 2);
  add_ok(Method::Get, "/u/{id}/posts", 3);
  ASSERT_TRUE(router_.match(Method::Get, "/u/9/posts", m_));
  EXPECT_EQ(which(m_), 3);
  EXPECT_EQ(param(m_, "id"), "9");
}

TEST_F(RouterTest, DuplicateRouteFails) {
  add_ok(Method::Get, "/a/{x}", 1);
  tether::Status s = router_.add(Method::Get, "/a/{x}", tagged(2));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.message().empty());
}

TEST_F(RouterTest, DuplicateRouteKeepsTheFirstHandler) {
  add_ok(Method::Get, "/a", 1);
  EXPECT_FALSE(router_.add(Method::Get, "/a", tagged(2)).ok());
  ASSERT_TRUE(router_.match(Method::Get, "/a", m_));
  EXPECT_EQ(which(m_), 1);
}

TEST_F(RouterTest, DuplicateAnyRouteFails) {
  add_ok(Method::Get, "/a", 1, /*any=*/true);
  EXPECT_FALSE(router_.add(Method::Post, "/a", tagged(2), /*any=*/true).ok());
}

TEST_F(RouterTest, SamePathWithDifferentMethodsIsNotADuplicate) {
  add_ok(Method::Get, "/a", 1);
  add_ok(Method::Post, "/a", 2);
  add_ok(Method::Get, "/a", 3, /*any=*/true);
}

TEST_F(RouterTest, SeventeenCapturesFail) {
  std::string pattern;
  for (int i = 0; i < 17; ++i) pattern += "/{p" + std::to_string(i) + "}";
  EXPECT_FALSE(router_.add(Method::Get, pattern, tagged(1)).ok());
}

TEST_F(RouterTest, SixteenCapturesPlusCatchAllFail) {
  std::string pattern;
  for (int i = 0; i < 16; ++i) pattern += "/{p" + std::to_string(i) + "}";
  pattern += "/*";
  EXPECT_FALSE(router_.add(Method::Get, pattern, tagged(1)).ok());
}

TEST_F(RouterTest, EmptyHandlerFails) {
  tether::Status s = router_.add(Method::Get, "/a", Handler());
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.message().empty());
  EXPECT_FALSE(router_.match(Method::Get, "/a", m_));
}

TEST_F(RouterTest, MalformedSegmentsFail) {
  EXPECT_FALSE(router_.add(Method::Get, "/{}", tagged(1)).ok());
  EXPECT_FALSE(router_.add(Method::Get, "/a{b}", tagged(1)).ok());
  EXPECT_FALSE(router_.add(Method::Get, "/a*", tagged(1)).ok());
}

// --- a larger table -------------------------------------------------------------------------

TEST_F(RouterTest, FiftyRouteTableLookups) {
  for (int i = 0; i < 25; ++i) {
    std::string n = std::to_string(i);
    add_ok(Method::Get, "/svc" + n + "/items/{id}", 100 + i);
    add_ok(Method::Post, "/svc" + n + "/status", 200 + i);
  }
  for (int i = 0; i < 25; ++i) {
    std::string n = std::to_string(i);
    std::string path = "/svc" + n + "/items/x" + n;  // params are views into it
    ASSERT_TRUE(router_.match(Method::Get, path, m_)) << i;
    EXPECT_EQ(which(m_), 100 + i);
    EXPECT_EQ(param(m_, "id"), "x" + n);
    ASSERT_TRUE(router_.match(Method::Post, "/svc" + n + "/status", m_)) << i;
    EXPECT_EQ(which(m_), 200 + i);
    EXPECT_FALSE(router_.match(Method::Get, "/svc" + n + "/status", m_)) << i;
    EXPECT_TRUE(m_.path_found);
    EXPECT_EQ(m_.allowed, bit(Method::Post));
  }
  EXPECT_FALSE(router_.match(Method::Get, "/svc25/status", m_));
  EXPECT_FALSE(m_.path_found);
}

}  // namespace
