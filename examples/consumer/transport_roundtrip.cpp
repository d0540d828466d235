// Two threads, one shmring channel: the main thread sends numbered messages,
// an echo thread sends each one back; checks every reply and prints the
// mean round trip. Exits 0 on success.
#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "shmring/shmring.hpp"

int main() {
  constexpr int kRoundTrips = 10000;
  shmring::Pair pair = shmring::make_pair();

  std::thread echo([ep = std::move(pair.b)]() mutable {
    std::vector<std::byte> message;
    while (ep.recv(message) == shmring::Status::ok) {
      if (ep.send(message) != shmring::Status::ok) break;
    }
    ep.close();  // the main thread's recv sees the end of the channel if we stop early
  });

  shmring::Endpoint& ep = pair.a;
  std::vector<std::byte> reply;
  int failures = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRoundTrips; ++i) {
    const std::string message = "ping " + std::to_string(i);
    const auto bytes = std::as_bytes(std::span(message));
    shmring::Status s = ep.send(bytes);
    if (s == shmring::Status::ok) s = ep.recv(reply);
    if (s != shmring::Status::ok) {
      std::fprintf(stderr, "round trip %d: %s %s\n", i, std::string(shmring::to_string(s)).c_str(), ep.reason().c_str());
      ++failures;
      break;
    }
    if (std::string(reinterpret_cast<const char*>(reply.data()), reply.size()) != message) ++failures;
  }
  const std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - start;
  ep.close();
  echo.join();

  if (failures != 0) {
    std::printf("transport_roundtrip: FAILED (%d bad round trips)\n", failures);
    return 1;
  }
  std::printf("transport_roundtrip: %d round trips between two threads, mean %.2f us\n", kRoundTrips,
              elapsed.count() / kRoundTrips);
  return 0;
}
