// --targets FILE: every line form, escapes, @file bodies, errors with file, line and column,
// and the serialized requests.
#include "tether/load/targets.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using tether::load::load_targets;
using tether::load::parse_targets;
using tether::load::PreparedRequests;
using tether::load::RequestHead;
using tether::load::serialize_targets;
using tether::load::TargetsParse;
using tether::load::TargetSpec;

// A fresh directory for the test's files, removed at the end.
class LoadTargets : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("tether_load_targets_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  TargetsParse parse(std::string_view text) { return parse_targets(text, "t.txt", dir_); }

  // The error of a file that must not parse.
  std::string error_of(std::string_view text) {
    TargetsParse p = parse(text);
    EXPECT_FALSE(p.ok()) << text;
    EXPECT_TRUE(p.targets.empty());
    return p.error;
  }

  fs::path dir_;
};

TEST_F(LoadTargets, EveryLineForm) {
  TargetsParse p = parse(
      "# a comment\n"
      "\n"
      "GET /\n"
      "   \t\n"
      "  # an indented comment\n"
      "GET /search?q=a%20b&x=1\n"
      "POST /api/items {\"name\": \"x\"}\n"
      "  DELETE\t/api/items/7  \n"
      "GET http://example.com:8080/status\n"
      "OPTIONS http://example.com?x\n"
      "M-SEARCH! /odd-but-a-token\n"
      "get /lowercase-kept\n"
      "PUT /trailing-blanks-kept body  \n"
      "PATCH /x \t  spaced body\n"
      "GET /crlf\r\n"
      "GET /last-line-without-newline");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.targets.size(), 12u);
  const TargetSpec& get = p.targets[0];
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.target, "/");
  EXPECT_FALSE(get.has_body);
  EXPECT_EQ(get.line, 3u);
  EXPECT_TRUE(get.authority.empty());
  EXPECT_EQ(p.targets[1].target, "/search?q=a%20b&x=1");
  EXPECT_EQ(p.targets[1].line, 6u);
  EXPECT_EQ(p.targets[2].method, "POST");
  EXPECT_TRUE(p.targets[2].has_body);
  EXPECT_EQ(p.targets[2].body, "{\"name\": \"x\"}");
  EXPECT_EQ(p.targets[3].method, "DELETE");
  EXPECT_EQ(p.targets[3].target, "/api/items/7");
  EXPECT_FALSE(p.targets[3].has_body);  // trailing blanks after the target are no body
  EXPECT_EQ(p.targets[4].target, "http://example.com:8080/status");
  EXPECT_EQ(p.targets[4].authority, "example.com:8080");
  EXPECT_EQ(p.targets[5].authority, "example.com");
  EXPECT_EQ(p.targets[6].method, "M-SEARCH!");
  EXPECT_EQ(p.targets[7].method, "get");
  EXPECT_EQ(p.targets[8].body, "body  ");
  EXPECT_EQ(p.targets[9].body, "spaced body");
  EXPECT_EQ(p.targets[10].target, "/crlf");
  EXPECT_FALSE(p.targets[10].has_body);
  EXPECT_EQ(p.targets[11].target, "/last-line-without-newline");
  EXPECT_EQ(p.targets[11].line, 16u);
}

TEST_F(LoadTargets, Escapes) {
  TargetsParse p = parse(
      "POST /a line1\\nline2\\tTab\\r\\n\n"
      "POST /b back\\\\slash\n"
      "POST /c \\x20leading space and \\x40 and \\x00nul \\xff\\xFe\n"
      "POST /d \\x40not-a-file\n"
      "POST /e # not a comment\n"
      "POST /f \\\\n\n");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.targets.size(), 6u);
  EXPECT_EQ(p.targets[0].body, "line1\nline2\tTab\r\n");
  EXPECT_EQ(p.targets[1].body, "back\\slash");
  EXPECT_EQ(p.targets[2].body, std::string(" leading space and @ and \0nul \xff\xfe", 32));
  EXPECT_EQ(p.targets[3].body, "@not-a-file");
  EXPECT_EQ(p.targets[4].body, "# not a comment");
  EXPECT_EQ(p.targets[5].body, "\\n");
}

TEST_F(LoadTargets, BodyFiles) {
  write("item.json", "{\"id\": 7}\n");
  write("sub/bin.dat", std::string("\0\1\2\r\n\\n", 7));
  write("empty.txt", "");
  const fs::path abs = write("elsewhere/abs.txt", "absolute");
  TargetsParse p = parse(
      "PUT /items/7 @item.json\n"
      "PUT /bin @sub/bin.dat   \n"
      "POST /empty @empty.txt\n"
      "POST /abs @" +
      abs.string() + "\n");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.targets.size(), 4u);
  EXPECT_EQ(p.targets[0].body, "{\"id\": 7}\n");  // byte for byte, no escapes
  EXPECT_EQ(p.targets[1].body, std::string("\0\1\2\r\n\\n", 7));
  EXPECT_TRUE(p.targets[2].has_body);
  EXPECT_EQ(p.targets[2].body, "");
  EXPECT_EQ(p.targets[3].body, "absolute");
}

TEST_F(LoadTargets, LoadTargetsReadsRelativeToTheFilesDirectory) {
  write("reqs/payload.txt", "hello");
  const fs::path file = write("reqs/targets.txt", "POST /p @payload.txt\nGET /\n");
  TargetsParse p = load_targets(file);
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.targets.size(), 2u);
  EXPECT_EQ(p.targets[0].body, "hello");

  // Errors name the file as it was given.
  const fs::path bad = write("reqs/bad.txt", "GET /\nGET nope\n");
  p = load_targets(bad);
  EXPECT_EQ(p.error, bad.string() + ":2:5: target must start with '/' or 'http://', found 'nope'");

  p = load_targets(dir_ / "missing.txt");
  EXPECT_EQ(p.error, (dir_ / "missing.txt").string() + ": cannot read: No such file or directory");

  // A file name without a directory reads its bodies from the current directory.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_ / "reqs");
  p = load_targets("targets.txt");
  fs::current_path(cwd);
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.targets[0].body, "hello");
}

TEST_F(LoadTargets, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of("GET /\nG(T /x\n"),
            "t.txt:2:2: method has a character that is not allowed in a token: '('");
  EXPECT_EQ(error_of("G\xC3\xA9T /x"),
            "t.txt:1:2: method has a character that is not allowed in a token: '\\xC3'");
  EXPECT_EQ(error_of("\n\nGET\n"), "t.txt:3:4: missing target after 'GET'");
  EXPECT_EQ(error_of("GET   \n"), "t.txt:1:7: missing target after 'GET'");
  EXPECT_EQ(error_of("GET index.html"),
            "t.txt:1:5: target must start with '/' or 'http://', found 'index.html'");
  EXPECT_EQ(error_of("GET *"), "t.txt:1:5: target must start with '/' or 'http://', found '*'");
  EXPECT_EQ(error_of("GET https://example.com/"),
            "t.txt:1:5: https targets are not supported (only http://): 'https://example.com/'");
  EXPECT_EQ(error_of("GET http:///x"), "t.txt:1:12: target 'http://' has no host");
  EXPECT_EQ(error_of("GET http://"), "t.txt:1:12: target 'http://' has no host");
  EXPECT_EQ(error_of("GET http://u:p@host/"),
            "t.txt:1:12: target has userinfo ('@') in its authority");
  EXPECT_EQ(error_of("GET /a#frag"), "t.txt:1:7: target has a fragment ('#'), which is never sent");
  EXPECT_EQ(error_of("GET /caf\xC3\xA9"),
            "t.txt:1:9: target has a byte that is not visible ASCII: '\\xC3'");
  EXPECT_EQ(error_of("GET /a\x01z"),
            "t.txt:1:7: target has a byte that is not visible ASCII: '\\x01'");
  EXPECT_EQ(error_of("POST /a x\\qy"),
            "t.txt:1:10: unknown escape '\\q' (known: \\n \\t \\r \\\\ \\xHH)");
  EXPECT_EQ(error_of("POST /a x\\"),
            "t.txt:1:10: '\\' at the end of the line (write \\\\ for a backslash)");
  EXPECT_EQ(error_of("POST /a \\x4"), "t.txt:1:9: '\\x' needs two hex digits");
  EXPECT_EQ(error_of("POST /a \\xg0"), "t.txt:1:9: '\\x' needs two hex digits");
  EXPECT_EQ(error_of("POST /a @"), "t.txt:1:9: missing file name after '@'");
  EXPECT_EQ(error_of("POST /a @  "), "t.txt:1:9: missing file name after '@'");
  EXPECT_EQ(error_of("GET /\nGET /\nPOST /a @nope.json\n"),
            "t.txt:3: cannot read body file 'nope.json' (" + (dir_ / "nope.json").string() +
                "): No such file or directory");
  EXPECT_EQ(error_of("POST /a @.\n"),
            "t.txt:1: cannot read body file '.' (" + (dir_ / ".").string() + "): Is a directory");
  EXPECT_EQ(error_of(""), "t.txt: no requests (every line is blank or a comment)");
  EXPECT_EQ(error_of("# only\n\n  \n"), "t.txt: no requests (every line is blank or a comment)");
  // Line numbers count blank and comment lines, and CRLF lines once.
  EXPECT_EQ(error_of("# c\r\n\r\nGET /\r\nGET x\r\n").substr(0, 10), "t.txt:4:5:");
}

TEST_F(LoadTargets, Serialize) {
  TargetsParse p = parse(
      "GET /\n"
      "POST /api {\"a\":1}\n"
      "POST /empty @empty\n"
      "GET http://other:81/x\n");
  ASSERT_FALSE(p.ok());  // @empty does not exist yet
  write("empty", "");
  p = parse(
      "GET /\n"
      "POST /api {\"a\":1}\n"
      "POST /empty @empty\n"
      "GET http://other:81/x\n");
  ASSERT_TRUE(p.ok()) << p.error;

  RequestHead head;
  head.host = "localhost:8080";
  head.headers = {{"Accept", "*/*"}, {"X-Trace", "a\tb"}};
  PreparedRequests r = serialize_targets(p.targets, head);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.requests.size(), 4u);
  EXPECT_EQ(r.requests[0],
            "GET / HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\nX-Trace: a\tb\r\n\r\n");
  EXPECT_EQ(r.requests[1],
            "POST /api HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\nX-Trace: a\tb\r\n"
            "Content-Length: 7\r\n\r\n{\"a\":1}");
  EXPECT_EQ(r.requests[2],
            "POST /empty HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\nX-Trace: a\tb\r\n"
            "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(r.requests[3],
            "GET http://other:81/x HTTP/1.1\r\nHost: other:81\r\nAccept: */*\r\nX-Trace: a\tb\r\n"
            "\r\n");

  // A Host header replaces the host (once, in Host's place); absolute-form keeps its own.
  head.headers = {{"host", "example.org"}, {"A", "1"}};
  r = serialize_targets(p.targets, head);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests[0], "GET / HTTP/1.1\r\nHost: example.org\r\nA: 1\r\n\r\n");
  EXPECT_EQ(r.requests[3], "GET http://other:81/x HTTP/1.1\r\nHost: other:81\r\nA: 1\r\n\r\n");

  // A binary body goes out byte for byte.
  TargetSpec bin;
  bin.method = "PUT";
  bin.target = "/bin";
  bin.has_body = true;
  bin.body = std::string("\0\r\n\xff", 4);
  r = serialize_targets({bin}, RequestHead{"h", {}});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests[0],
            std::string("PUT /bin HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n") + bin.body);
}

TEST_F(LoadTargets, SerializeRefusesBadHeads) {
  const std::vector<TargetSpec> one{TargetSpec{}};
  auto error_of_head = [&](RequestHead head) {
    PreparedRequests r = serialize_targets(one, head);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.requests.empty());
    return r.error;
  };
  EXPECT_EQ(error_of_head({"h", {{"Bad Name", "x"}}}), "header name 'Bad Name' is not a token");
  EXPECT_EQ(error_of_head({"h", {{"", "x"}}}), "header name '' is not a token");
  EXPECT_EQ(error_of_head({"h", {{"X", "a\r\nInjected: 1"}}}),
            "header 'X' has a control byte in its value: '\\x0D'");
  EXPECT_EQ(error_of_head({"h", {{"X", std::string("a\0b", 3)}}}),
            "header 'X' has a control byte in its value: '\\x00'");
  EXPECT_EQ(error_of_head({"h", {{"content-length", "5"}}}),
            "header 'content-length' is set by tether-load from the body");
  EXPECT_EQ(error_of_head({"h", {{"Transfer-Encoding", "chunked"}}}),
            "header 'Transfer-Encoding' is set by tether-load from the body");
  EXPECT_EQ(error_of_head({"", {}}), "no Host for target '/' (give a host or a Host header)");
  // No host is fine when every target is absolute-form.
  TargetSpec abs;
  abs.target = "http://a.example/";
  abs.authority = "a.example";
  PreparedRequests r = serialize_targets({abs}, RequestHead{});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.requests[0], "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n");
}

}  // namespace
