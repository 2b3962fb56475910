// Micro benchmarks of the request path pieces that need no socket: parsing a pipelined
// batch with the llhttp glue, and serializing a response.
#include <benchmark/benchmark.h>

#include <string>

#include "http_parser.hpp"
#include "http_writer.hpp"
#include "request_data.hpp"

namespace {

const std::string kRequest =
    "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";

void BM_ParsePipelined16(benchmark::State& state) {
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += kRequest;
  tether::detail::ParseLimits limits;
  tether::detail::RequestParser parser(limits);
  tether::detail::RequestData data;
  parser.set_target(&data);
  size_t messages = 0;
  for (auto _ : state) {
    const char* p = batch.data();
    const char* end = p + batch.size();
    while (p < end) {
      auto step = parser.execute(p, end);
      if (step.event != tether::detail::ParseEvent::Message) state.SkipWithError("parse failed");
      p = step.next;
      ++messages;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(messages));
}
BENCHMARK(BM_ParsePipelined16);

void BM_SerializeResponse(benchmark::State& state) {
  std::string out;
  out.reserve(4096);
  tether::detail::ResponseParts parts;
  parts.body = "Hello, World!";
  parts.content_type = "text/plain";
  parts.date_line = "Date: Mon, 23 Nov 2026 10:00:00 GMT\r\n";
  parts.server_line = "Server: tether\r\n";
  for (auto _ : state) {
    out.clear();
    tether::detail::append_response(out, parts);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SerializeResponse);

}  // namespace

BENCHMARK_MAIN();
