// Mailbox from C++: POST /jobs starts a slow computation and answers at once with a job id;
// the result is posted to the mailbox under that id when it is ready; GET /jobs/{id}?wait_ms=N
// long-polls for it. No global map, no mutex: the mailbox shard is owned by a loop thread.
//
//   build/mailbox_example &   curl -s -XPOST localhost:8081/jobs   ->  {"id":"job-1"}
//                             curl -s 'localhost:8081/jobs/job-1?wait_ms=5000'  ->  the result
#include <chrono>
#include <string>
#include <thread>

#include "tether/tether.hpp"

int main() {
  tether::Server server({.host = "127.0.0.1", .port = 8081});
  uint64_t next_id = 0;  // touched only by the (single) loop thread, like everything in a handler

  server.post("/jobs", [&server, &next_id](tether::Request&, tether::Response res) {
    std::string id = "job-" + std::to_string(++next_id);
    res.send(202, "{\"id\":\"" + id + "\"}", "application/json");
    // The answer above is already on its way; the work continues on the pool and its result
    // is handed to whoever waits for this id (or stored until someone asks).
    server.background([&server, id](std::stop_token st) {
      for (int i = 0; i < 20 && !st.stop_requested(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      // Any thread may post: the mailbox forwards it to the loop that owns the id.
      server.mailbox().post(id, "result of " + id + "\n", nullptr);
    });
  });

  server.get("/jobs/{id}", [&server](tether::Request& req, tether::Response res) {
    auto wait_ms = std::stoul(std::string(req.query("wait_ms").value_or("0")));
    server.mailbox().wait(res, std::string(req.param("id")), std::chrono::milliseconds(wait_ms),
                          [](tether::Response r, tether::MailboxTake take, std::string value) {
                            if (take == tether::MailboxTake::Value)
                              r.send(200, value);
                            else if (take == tether::MailboxTake::TimedOut)
                              r.send(204);
                            else if (take == tether::MailboxTake::Empty)
                              r.send(404, "not ready\n");
                            else
                              r.send(503, "too many waiters\n");
                          });
  });
  return server.run();
}
