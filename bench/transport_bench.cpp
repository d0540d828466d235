// Transport benchmark: shmring against the floor (a bare two-thread atomic
// ping-pong) and against a Unix socketpair, in one run on one machine.
//
//   RoundTrip/*   one 64-byte message there and back; p50/p99/p999 per round
//                 trip from a calibrated TSC, plus Google Benchmark's mean
//   Stream/*      one-way throughput, messages/s and bytes/s
//
// The two sides run on different CPUs (pinned). scripts/bench runs this and
// prints the table with the ratios the design targets.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "shmring/shmring.hpp"

namespace shmring::bench {
namespace {

constexpr std::chrono::seconds kSpinForever{3600};

ChannelOptions spinning() {
  ChannelOptions o;
  o.spin_budget = kSpinForever;  // never park: the spinning round trip
  return o;
}

ChannelOptions parking() {
  ChannelOptions o;
  o.spin_budget = std::chrono::nanoseconds{0};  // park at once: the eventfd round trip
  return o;
}

// --- the floor: two threads bouncing a counter through two cache lines ----------

void RoundTrip_AtomicFloor(benchmark::State& state) {
  struct alignas(64) Line {
    std::atomic<std::uint64_t> value{0};
  };
  Line ping, pong;
  constexpr std::uint64_t kStop = ~std::uint64_t{0};
  std::thread echo([&] {
    pin_to_cpu(1);
    for (std::uint64_t expect = 1;; ++expect) {
      std::uint64_t v;
      while ((v = ping.value.load(std::memory_order_acquire)) < expect) cpu_pause();
      if (v == kStop) return;
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
  ping.value.store(kStop, std::memory_order_release);
  echo.join();
  unpin();
  samples.report(state);
}

// --- shmring round trips ----------------------------------------------------------

void echo_until_closed(Endpoint& ep) {
  std::vector<std::byte> m;
  while (ep.recv(m) == Status::ok && ep.send(m) == Status::ok) {
  }
}

void ping(benchmark::State& state, Endpoint& ep) {
  std::vector<std::byte> out(static_cast<std::size_t>(state.range(0)));
  std::vector<std::byte> in;
  Samples samples;
  samples.start();
  for (auto _ : state) {
    if (ep.send(out) != Status::ok || ep.recv(in) != Status::ok) {
      state.SkipWithError("channel failed");
      break;
    }
    samples.add();
  }
  samples.report(state);
}

void shmring_round_trip_threads(benchmark::State& state, const ChannelOptions& options) {
  auto [a, b] = make_pair(options);
  std::thread echo([&b] {
    pin_to_cpu(1);
    echo_until_closed(b);
  });
  pin_to_cpu(0);
  ping(state, a);
  a.close();
  echo.join();
  unpin();
}

void RoundTrip_Shmring_Spin(benchmark::State& state) { shmring_round_trip_threads(state, spinning()); }
void RoundTrip_Shmring_Parked(benchmark::State& state) { shmring_round_trip_threads(state, parking()); }

void RoundTrip_Shmring_Spin_Processes(benchmark::State& state) {
  auto pair = make_pair(spinning());
  const pid_t child = fork_process([&pair] {
    pin_to_cpu(1);
    echo_until_closed(pair.b);
  });
  pin_to_cpu(0);
  ping(state, pair.a);
  pair.a.close();
  reap(child);
  unpin();
}

// --- Unix socketpair round trip ---------------------------------------------------------

bool read_exactly(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const auto r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_all(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const auto r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

void RoundTrip_UnixSocketpair(benchmark::State& state) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  std::thread echo([fd = fds[1], size] {
    pin_to_cpu(1);
    std::vector<char> m(size);
    while (read_exactly(fd, m.data(), size) && write_all(fd, m.data(), size)) {
    }
  });
  pin_to_cpu(0);
  std::vector<char> m(size);
  Samples samples;
  samples.start();
  for (auto _ : state) {
    if (!write_all(fds[0], m.data(), size) || !read_exactly(fds[0], m.data(), size)) {
      state.SkipWithError("socket failed");
      break;
    }
    samples.add();
  }
  samples.report(state);
  ::shutdown(fds[0], SHUT_RDWR);
  echo.join();
  ::close(fds[0]);
  ::close(fds[1]);
  unpin();
}

// --- streaming --------------------------------------------------------------------

void set_throughput(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void Stream_Shmring(benchmark::State& state) {
  auto [a, b] = make_pair(spinning());
  std::thread reader([&b] {
    pin_to_cpu(1);
    std::span<const std::byte> view;
    while (b.peek(view) == Status::ok) {
      benchmark::DoNotOptimize(view.data());
      b.release();
    }
  });
  pin_to_cpu(0);
  const std::vector<std::byte> m(static_cast<std::size_t>(state.range(0)), std::byte{1});
  for (auto _ : state) {
    if (a.send(m) != Status::ok) state.SkipWithError("send failed");
  }
  a.close();  // the reader drains everything, then sees EOF: included in the time
  reader.join();
  unpin();
  set_throughput(state);
}

// Batched publication: 32 messages per send_batch call.
void Stream_Shmring_Batched(benchmark::State& state) {
  auto [a, b] = make_pair(spinning());
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
  const std::vector<std::byte> m(static_cast<std::size_t>(state.range(0)), std::byte{1});
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

void Stream_UnixSocketpair(benchmark::State& state) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  std::thread reader([fd = fds[1], size] {
    pin_to_cpu(1);
    std::vector<char> m(size);
    while (read_exactly(fd, m.data(), size)) {
    }
  });
  pin_to_cpu(0);
  const std::vector<char> m(size, 1);
  for (auto _ : state) {
    if (!write_all(fds[0], m.data(), size)) state.SkipWithError("write failed");
  }
  ::shutdown(fds[0], SHUT_WR);
  reader.join();
  ::close(fds[0]);
  ::close(fds[1]);
  unpin();
  set_throughput(state);
}

// Single-thread memcpy of the same size, the bandwidth ceiling for one copy.
// The destination is offset by 1 KiB from the source's page position: copies
// between buffers at the same offset in a page (4 KiB aliasing) run several
// times slower on some CPUs and would make the ceiling look low.
void Stream_Memcpy(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  std::vector<char> src(size + 8192, 1);
  std::vector<char> dst(size + 8192);
  char* from = src.data() + (4096 - reinterpret_cast<std::uintptr_t>(src.data()) % 4096);
  char* to = dst.data() + (4096 - reinterpret_cast<std::uintptr_t>(dst.data()) % 4096) + 1024;
  for (auto _ : state) {
    std::memcpy(to, from, size);
    benchmark::ClobberMemory();
  }
  set_throughput(state);
}

BENCHMARK(RoundTrip_AtomicFloor)->Arg(8)->UseRealTime();
BENCHMARK(RoundTrip_Shmring_Spin)->Arg(64)->UseRealTime();
BENCHMARK(RoundTrip_Shmring_Spin_Processes)->Arg(64)->UseRealTime();
BENCHMARK(RoundTrip_Shmring_Parked)->Arg(64)->UseRealTime();
BENCHMARK(RoundTrip_UnixSocketpair)->Arg(64)->UseRealTime();
BENCHMARK(Stream_Shmring)->Arg(64)->Arg(65536)->UseRealTime();
BENCHMARK(Stream_Shmring_Batched)->Arg(64)->UseRealTime();
BENCHMARK(Stream_UnixSocketpair)->Arg(64)->Arg(65536)->UseRealTime();
BENCHMARK(Stream_Memcpy)->Arg(65536)->UseRealTime();

}  // namespace
}  // namespace shmring::bench

BENCHMARK_MAIN();
