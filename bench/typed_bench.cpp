// The cost of the typed layer and of actors, against raw bytes over the same
// kind of channel (an in-process pair, two threads), in one run:
//
//   rt/raw-bytes/threads/<bytes>      Endpoint::send + peek/release, the frame a Ping encodes to
//   rt/typed/threads/<bytes>          typed::send(Ping) + typed::peek<Ping> (decode, no copy)
//   rt/actor-request/threads/<bytes>  a request to an actor over a channel, its reply
//   rt/actor-ask/local/<bytes>        ActorRef::ask from another thread (mailbox + condition variable)
//
// Names follow bench/suite_bench so bench/suite.py reads both; <bytes> is the
// encoded size of the message. Run by scripts/bench.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <thread>

#include "../tests/messaging/messages.hpp"
#include "bench_support.hpp"
#include "shmring/actors.hpp"
#include "shmring/shmring.hpp"

namespace shmring::bench {
namespace {

using namespace std::chrono_literals;
using test_messages::Add;
using test_messages::Ping;
using test_messages::Sum;

const Ping kPing{12345, "small"};

std::size_t encoded_size() {
  msgpack::sbuffer b;
  typed::encode(b, kPing);
  return b.size();
}

// The far side echoes every frame back until the channel ends.
void raw_echo(Endpoint& ep) {
  std::span<const std::byte> frame;
  while (ep.peek(frame) == Status::ok) {
    if (ep.send(frame) != Status::ok) return;
    ep.release();
  }
}

void typed_echo(Endpoint& ep) {
  typed::View<Ping> ping;
  while (typed::peek(ep, ping) == Status::ok) {
    if (typed::send(ep, *ping) != Status::ok) return;
    ping.release();
  }
}

void raw_bytes(benchmark::State& state) {
  auto [near, far] = make_pair();
  msgpack::sbuffer frame;
  typed::encode(frame, kPing);
  std::thread echo([&far = far] { raw_echo(far); });
  pin_to_cpu(0);
  Samples samples;
  samples.start();
  std::span<const std::byte> in;
  for (auto _ : state) {
    if (near.send(typed::bytes_of(frame)) != Status::ok || near.peek(in) != Status::ok) state.SkipWithError("channel");
    benchmark::DoNotOptimize(in.data());
    near.release();
    samples.add();
  }
  near.close();
  echo.join();
  unpin();
  samples.report(state);
}

void typed_round_trip(benchmark::State& state) {
  auto [near, far] = make_pair();
  std::thread echo([&far = far] { typed_echo(far); });
  pin_to_cpu(0);
  Samples samples;
  samples.start();
  typed::View<Ping> in;
  for (auto _ : state) {
    if (typed::send(near, kPing) != Status::ok || typed::peek(near, in) != Status::ok) state.SkipWithError("channel");
    benchmark::DoNotOptimize(in->seq);
    in.release();
    samples.add();
  }
  near.close();
  echo.join();
  unpin();
  samples.report(state);
}

std::unique_ptr<actors::Actor> adder() {
  auto a = std::make_unique<actors::Actor>(actors::ActorOptions{.name = "bench-adder"});
  a->on<Add>([](const Add& m, actors::Context&) { return Sum{m.a + m.b}; });
  return a;
}

void actor_request(benchmark::State& state) {
  auto [near, far] = make_pair();
  auto actor = adder();
  actor->attach(std::move(far));
  actor->start();
  pin_to_cpu(0);
  Samples samples;
  samples.start();
  std::uint64_t id = 0;
  typed::View<Sum> reply;
  for (auto _ : state) {
    ++id;
    if (typed::send(near, Add{1, 2}, typed::Kind::request, id) != Status::ok ||
        typed::peek(near, reply) != Status::ok || reply.id() != id) {
      state.SkipWithError("request");
    }
    reply.release();
    samples.add();
  }
  near.close();
  actor->stop();
  actor->join();
  unpin();
  samples.report(state);
}

void actor_ask(benchmark::State& state) {
  auto actor = adder();
  actor->start();
  actors::ActorRef ref = actor->ref();
  Samples samples;
  samples.start();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ref.ask<Sum>(Add{1, 2}, 10s).value);
    samples.add();
  }
  actor->stop();
  actor->join();
  samples.report(state);
}

}  // namespace
}  // namespace shmring::bench

int main(int argc, char** argv) {
  using namespace shmring::bench;
  // --sizes is bench/suite.py's flag for suite_bench; the sizes here are fixed.
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--sizes=", 8) == 0) argv[i] = const_cast<char*>("--benchmark_color=false");
  }
  const std::string n = std::to_string(encoded_size());
  benchmark::RegisterBenchmark(("rt/raw-bytes/threads/" + n).c_str(), raw_bytes)->UseRealTime();
  benchmark::RegisterBenchmark(("rt/typed/threads/" + n).c_str(), typed_round_trip)->UseRealTime();
  benchmark::RegisterBenchmark(("rt/actor-request/threads/" + n).c_str(), actor_request)->UseRealTime();
  benchmark::RegisterBenchmark(("rt/actor-ask/local/" + n).c_str(), actor_ask)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
