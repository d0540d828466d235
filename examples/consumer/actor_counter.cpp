// Typed messages and actors from the installed package (shmring::actors):
// a counter actor serves requests from a peer over a channel and from a
// local thread; a failing handler aborts the channel with its reason.
#include <shmring/actors.hpp>
#include <shmring/shmring.hpp>

#include <chrono>
#include <cstdio>
#include <string>

struct Add {
  static constexpr std::string_view tag = "add";
  std::int64_t n = 0;
  MSGPACK_DEFINE_MAP(n)
};
struct Total {
  static constexpr std::string_view tag = "total";
  std::int64_t value = 0;
  MSGPACK_DEFINE_MAP(value)
};
struct Boom {
  static constexpr std::string_view tag = "boom";
  std::string why;
  MSGPACK_DEFINE_MAP(why)
};

int main() {
  using namespace std::chrono_literals;
  using shmring::actors::Context;

  std::int64_t total = 0;  // touched only by the actor's thread
  shmring::actors::Actor counter({.name = "counter"});
  counter.on<Add>([&](const Add& a, Context&) { return Total{total += a.n}; });
  counter.on<Boom>([](const Boom& b, Context&) -> void { throw std::runtime_error(b.why); });

  auto [client, server] = shmring::make_pair();
  counter.attach(std::move(server));
  counter.start();

  // A peer on the other end of the channel: a request with id 1, its reply.
  if (shmring::typed::send(client, Add{40}, shmring::typed::Kind::request, 1) != shmring::Status::ok) return 1;
  Total reply;
  if (shmring::typed::recv_for(client, reply, 5s) != shmring::Status::ok || reply.value != 40) return 1;

  // A local thread asks through the mailbox.
  const Total local = counter.ref().ask<Total>(Add{2}, 5s);
  std::printf("actor_counter: total %lld after a remote and a local request\n", static_cast<long long>(local.value));

  // A failure ends the actor and aborts its channel: the peer learns why.
  (void)shmring::typed::send(client, Boom{"boom requested"});
  const shmring::actors::ExitInfo exit = counter.join();
  std::vector<std::byte> ignored;
  const shmring::Status st = client.recv_for(ignored, 5s);
  std::printf("actor_counter: peer sees %s: %s\n", std::string(shmring::to_string(st)).c_str(), client.reason().c_str());
  return local.value == 42 && exit.failed && st == shmring::Status::aborted ? 0 : 1;
}
