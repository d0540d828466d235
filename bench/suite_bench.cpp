// The benchmark suite: shmring against every transport a user would pick
// instead, in one run, on this machine. Names are
//
//   rt/<transport>/<mode>/<bytes>       round trip: p50/p99/p99.9 per round trip
//   stream/<transport>/<mode>/<bytes>   one way: messages/s and bytes/s
//
// <mode> is spin (poll without sleeping) or block (sleep in the kernel).
// Sizes come from --sizes=8,64,... (default: 8 B to 1 MiB in powers of 4,
// plus 4 MiB, larger than shmring's 1 MiB ring, to show fragmentation).
// bench/suite.py runs this, repeats it, and turns the JSON into tables and
// charts; scripts/bench is the command to use.
#include <benchmark/benchmark.h>
#include <sys/utsname.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bench_support.hpp"
#include "links.hpp"

namespace shmring::bench {
namespace {

struct Kind {
  const char* name;
  std::function<Link(bool spin, std::size_t bytes)> make;
  bool spin;
  bool block;
  bool sized = true;  // false: carries no payload (eventfd), measured once at 8 B
};

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"shmring-threads", [](bool s, std::size_t) { return shmring_pair(s); }, true, true},
      {"shmring-processes", [](bool s, std::size_t) { return shmring_processes(s); }, true, true},
      {"unix-socketpair", [](bool s, std::size_t) { return socketpair_link(s); }, true, true},
      {"pipe", [](bool s, std::size_t) { return pipe_link(s); }, true, true},
      {"tcp-loopback", [](bool s, std::size_t) { return tcp_link(s); }, true, true},
      {"eventfd", [](bool s, std::size_t) { return eventfd_link(s); }, true, true, false},
      {"boost-message-queue", [](bool s, std::size_t n) { return boost_mq_link(s, n); }, true, true},
      {"moodycamel-rwqueue", [](bool s, std::size_t) { return queue_link<RwQueue>(s); }, true, false},
      {"moodycamel-blockingqueue", [](bool s, std::size_t) { return queue_link<BlockingQueue>(s); }, true, true},
  };
  return k;
}

void round_trip(benchmark::State& state, const Kind& kind, bool spin) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  if (spin && !two_cpus_allowed()) return state.SkipWithError(kNeedsTwoCpus);
  try {
    Link link = kind.make(spin, n);
    PeerRunner peer(link, [n](End& e) { echo(e, n); });
    pin_to_cpu(0);
    std::vector<std::byte> out(n, kData), in(n);
    Samples samples;
    samples.start();
    for (auto _ : state) {
      link.near->send(out.data(), n);
      link.near->recv(in.data(), n);
      samples.add();
    }
    out[0] = kStop;
    link.near->send(out.data(), n);
    link.near->recv(in.data(), n);
    peer.join();
    samples.report(state);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  unpin();
}

void stream(benchmark::State& state, const Kind& kind, bool spin) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  if (spin && !two_cpus_allowed()) return state.SkipWithError(kNeedsTwoCpus);
  try {
    Link link = kind.make(spin, n);
    PeerRunner peer(link, [n](End& e) { sink(e, n); });
    pin_to_cpu(0);
    std::vector<std::byte> out(n, kData), in(n);
    for (auto _ : state) link.near->send(out.data(), n);
    out[0] = kStop;
    link.near->send(out.data(), n);
    link.near->recv(in.data(), n);  // the peer took everything: included in the time
    peer.join();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  unpin();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The floor: two threads bouncing a counter through two cache lines.
void atomic_floor(benchmark::State& state) {
  if (!two_cpus_allowed()) return state.SkipWithError(kNeedsTwoCpus);
  struct alignas(64) Line {
    std::atomic<std::uint64_t> value{0};
  };
  Line ping, pong;
  constexpr std::uint64_t kEnd = ~std::uint64_t{0};
  std::thread echo_thread([&] {
    pin_to_cpu(1);
    for (std::uint64_t expect = 1;; ++expect) {
      std::uint64_t v;
      while ((v = ping.value.load(std::memory_order_acquire)) < expect) cpu_pause();
      if (v == kEnd) return;
      pong.value.store(v, std::memory_order_release);
    }
  });
  pin_to_cpu(0);
  Samples samples;
  std::uint64_t i = 0;
  samples.start();
  for (auto _ : state) {
    ping.value.store(++i, std::memory_order_release);
    while (pong.value.load(std::memory_order_acquire) != i) cpu_pause();
    samples.add();
  }
  ping.value.store(kEnd, std::memory_order_release);
  echo_thread.join();
  unpin();
  samples.report(state);
}

// One thread copying: the bandwidth ceiling for a transport that copies once.
// The destination is offset from the source's page position: same-offset
// copies (4 KiB aliasing) are much slower on some CPUs.
void memcpy_ceiling(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<char> src(n + 8192, 1), dst(n + 8192);
  char* from = src.data() + (4096 - reinterpret_cast<std::uintptr_t>(src.data()) % 4096);
  char* to = dst.data() + (4096 - reinterpret_cast<std::uintptr_t>(dst.data()) % 4096) + 1024;
  for (auto _ : state) {
    std::memcpy(to, from, n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The floor for moving bytes between two cores: one thread copies each
// message into a slot, the other copies it out, and a flag per slot (on its
// own cache line) hands it over. Slots fill 1 MiB, as shmring's default ring
// does, so both see the same working set and the same cross-core traffic,
// without any transport around it. One-thread memcpy (above) copies within
// one core's caches, which a receiver on another core cannot match: it must
// pull every line across.
void cross_core_copy_floor(benchmark::State& state) {
  if (!two_cpus_allowed()) return state.SkipWithError(kNeedsTwoCpus);
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const std::size_t slots = std::max<std::size_t>(2, (std::size_t{1} << 20) / std::max<std::size_t>(n, 1));
  struct alignas(64) Flag {
    std::atomic<std::uint64_t> full{0};  // 0: the writer's; otherwise the message number, the reader's
  };
  std::vector<Flag> flags(slots);
  std::vector<std::byte> area(slots * n + 64);
  std::byte* base = area.data() + (64 - reinterpret_cast<std::uintptr_t>(area.data()) % 64) % 64;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    pin_to_cpu(1);
    std::vector<std::byte> out(n);
    for (std::uint64_t next = 1;; ++next) {
      Flag& f = flags[(next - 1) % slots];
      // Acquire pairs with the writer's release: the slot's bytes are there.
      while (f.full.load(std::memory_order_acquire) != next) {
        if (done.load(std::memory_order_relaxed)) return;  // set once every slot was taken: nothing more comes
        cpu_pause();
      }
      std::memcpy(out.data(), base + ((next - 1) % slots) * n, n);
      benchmark::DoNotOptimize(out.data());
      // Release: our reads of the slot happen before the writer reuses it.
      f.full.store(0, std::memory_order_release);
    }
  });
  pin_to_cpu(0);
  const std::vector<std::byte> in(n, kData);
  std::uint64_t sent = 0;
  for (auto _ : state) {
    ++sent;
    Flag& f = flags[(sent - 1) % slots];
    while (f.full.load(std::memory_order_acquire) != 0) cpu_pause();  // acquire: the reader is done with it
    std::memcpy(base + ((sent - 1) % slots) * n, in.data(), n);
    f.full.store(sent, std::memory_order_release);  // release: publishes the bytes just copied
  }
  // Wait until the reader took everything (in the time, as for the transports).
  for (std::size_t i = 0; i < slots; ++i) {
    while (flags[i].full.load(std::memory_order_acquire) != 0) cpu_pause();
  }
  done.store(true, std::memory_order_relaxed);  // relaxed: it publishes nothing, the flags did
  reader.join();
  unpin();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// shmring's batched publication: 32 messages per send_batch.
void shmring_batched_stream(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  if (!two_cpus_allowed()) return state.SkipWithError(kNeedsTwoCpus);
  auto [a, b] = make_pair(shmring_options(true));
  std::thread reader([&b] {
    pin_to_cpu(1);
    std::span<const std::byte> view;
    while (b.peek(view) == Status::ok) {
      benchmark::DoNotOptimize(view.data());
      b.release();
    }
  });
  pin_to_cpu(0);
  constexpr std::size_t kBatch = 32;
  const std::vector<std::byte> m(n, kData);
  const std::vector<std::span<const std::byte>> batch(kBatch, std::span<const std::byte>(m));
  for (auto _ : state) {
    std::size_t sent = 0;
    if (a.send_batch(batch, sent) != Status::ok) state.SkipWithError("send_batch failed");
  }
  a.close();
  reader.join();
  unpin();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * state.range(0));
}

// abort() to a receiver parked in recv() returning: the wake-up path of a
// supervisor ending a channel.
void abort_to_blocked_receiver(benchmark::State& state) {
  for (auto _ : state) {
    auto [a, b] = make_pair(shmring_options(false));
    std::atomic<std::uint64_t> returned{0};
    std::thread receiver([&b, &returned] {
      std::vector<std::byte> m;
      (void)b.recv(m);
      returned.store(TickClock::now(), std::memory_order_release);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // parked by now
    const std::uint64_t t0 = TickClock::now();
    a.abort("benchmark");
    receiver.join();
    state.SetIterationTime(static_cast<double>(returned.load() - t0) * TickClock::ns_per_tick() * 1e-9);
  }
}

// A peer process killed with SIGKILL to a receiver parked in recv() returning
// peer_died: the kernel's hang-up of the lifeline socket.
void peer_death_to_blocked_receiver(benchmark::State& state) {
  static int counter = 0;
  for (auto _ : state) {
    const std::string path = default_socket_dir() + "/death-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    Listener listener(path, shmring_options(false));
    const pid_t child = fork_process([&path] {
      Endpoint ep = connect(path, shmring_options(false));
      for (;;) ::pause();
    });
    Endpoint ep = listener.accept();
    std::atomic<std::uint64_t> returned{0};
    std::thread receiver([&ep, &returned] {
      std::vector<std::byte> m;
      (void)ep.recv(m);
      returned.store(TickClock::now(), std::memory_order_release);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::uint64_t t0 = TickClock::now();
    ::kill(child, SIGKILL);
    receiver.join();
    reap(child);
    state.SetIterationTime(static_cast<double>(returned.load() - t0) * TickClock::ns_per_tick() * 1e-9);
  }
}

std::vector<std::int64_t> parse_sizes(int& argc, char** argv) {
  std::vector<std::int64_t> sizes = {8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288, 1 << 20, 4 << 20};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--sizes=", 0) != 0) continue;
    sizes.clear();
    std::stringstream list(arg.substr(8));
    for (std::string item; std::getline(list, item, ',');) sizes.push_back(std::stoll(item));
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];  // hide it from Google Benchmark
    --argc;
    break;
  }
  return sizes;
}

std::string first_line_with(const char* path, const std::string& key) {
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    if (line.rfind(key, 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "?";
}

void record_machine() {
  utsname u{};
  ::uname(&u);
  benchmark::AddCustomContext("cpu_model", first_line_with("/proc/cpuinfo", "model name"));
  benchmark::AddCustomContext("online_cpus", std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)));
  benchmark::AddCustomContext("kernel", std::string(u.sysname) + " " + u.release);
  benchmark::AddCustomContext("compiler", SHMRING_COMPILER);
}

void register_all(const std::vector<std::int64_t>& sizes) {
  benchmark::RegisterBenchmark("rt/atomic-floor/spin/8", atomic_floor)->Arg(8)->UseRealTime();
  benchmark::RegisterBenchmark("wake/shmring-abort/block/0", abort_to_blocked_receiver)->UseManualTime()->Iterations(50);
  benchmark::RegisterBenchmark("wake/shmring-peer-death/block/0", peer_death_to_blocked_receiver)->UseManualTime()->Iterations(20);
  for (const Kind& kind : kinds()) {
    for (const bool spin : {true, false}) {
      if ((spin && !kind.spin) || (!spin && !kind.block)) continue;
      const std::string mode = spin ? "spin" : "block";
      for (const std::int64_t n : kind.sized ? sizes : std::vector<std::int64_t>{8}) {
        const std::string suffix = std::string(kind.name) + "/" + mode + "/" + std::to_string(n);
        benchmark::RegisterBenchmark(("rt/" + suffix).c_str(), round_trip, kind, spin)->Arg(n)->UseRealTime();
        benchmark::RegisterBenchmark(("stream/" + suffix).c_str(), stream, kind, spin)->Arg(n)->UseRealTime();
      }
    }
  }
  for (const std::int64_t n : sizes) {
    benchmark::RegisterBenchmark(("stream/shmring-threads-batched/spin/" + std::to_string(n)).c_str(), shmring_batched_stream)
        ->Arg(n)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("stream/memcpy/one-thread/" + std::to_string(n)).c_str(), memcpy_ceiling)->Arg(n)->UseRealTime();
    benchmark::RegisterBenchmark(("stream/copy-floor/two-threads/" + std::to_string(n)).c_str(), cross_core_copy_floor)
        ->Arg(n)
        ->UseRealTime();
  }
}

}  // namespace
}  // namespace shmring::bench

int main(int argc, char** argv) {
  const auto sizes = shmring::bench::parse_sizes(argc, argv);
  shmring::bench::register_all(sizes);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  shmring::bench::record_machine();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
