// The C++ side of the Python interop tests: an actor that serves Add, and on
// a Ping asks its peer to Greet (a request from C++ to Python), then tells
// the peer what it got. Crash fails it on purpose. It ends when its peer goes.
//
//   interop_peer listen <socket-path>    accept one connection
//   interop_peer connect <socket-path>   connect to a listener
// Exit status: 0 after a clean end, 1 if the actor failed, 2 on bad usage.
#include <cstdio>
#include <cstring>
#include <string>

#include "messages.hpp"
#include "shmring/actors.hpp"
#include "shmring/shmring.hpp"

using namespace shmring;
using namespace shmring::test_messages;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "listen") != 0 && std::strcmp(argv[1], "connect") != 0)) {
    std::fprintf(stderr, "usage: %s listen|connect <socket-path>\n", argv[0]);
    return 2;
  }
  Endpoint endpoint;
  try {
    if (std::strcmp(argv[1], "listen") == 0) {
      Listener listener(argv[2]);
      std::printf("listening\n");
      std::fflush(stdout);
      endpoint = listener.accept();
    } else {
      endpoint = connect(argv[2]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interop_peer: %s\n", e.what());
    return 2;
  }

  actors::Actor actor(actors::ActorOptions{.name = "cpp-peer"});
  actor.on<Add>([](const Add& m, actors::Context&) { return Sum{m.a + m.b}; });
  actor.on<Ping>([](const Ping& p, actors::Context& ctx) {
    ctx.request<Greeting>(ctx.from(), Greet{p.text}, 10s,
                          [seq = p.seq](actors::Result<Greeting>& r, actors::Context& reply_ctx) {
                            // Appended, not operator+: GCC 12 warns falsely (-Wrestrict) on that.
                            std::string text = r.ok() ? "got: " : "no greeting: ";
                            text += r.ok() ? std::string_view(r.value().text) : std::string_view(r.error().what());
                            (void)reply_ctx.send(reply_ctx.from(), Greeting{text});
                            (void)reply_ctx.send(reply_ctx.from(), Pong{seq});
                          });
  });
  actor.on<Crash>([](const Crash& c, actors::Context&) -> void { throw std::runtime_error(c.why); });
  actor.on_peer_lost([](actors::PeerId, Status, std::string_view, actors::Context& ctx) { ctx.stop("peer gone"); });
  actor.attach(std::move(endpoint));
  actor.start();
  const actors::ExitInfo exit = actor.join();
  std::printf("actor ended: %s\n", exit.reason.c_str());
  return exit.failed ? 1 : 0;
}
