// Checked traffic for the stress and process tests: a deterministic sequence
// of messages of random sizes (1 B to 4x the ring, log-uniform), sent with a
// random mix of the sending calls and received with a random mix of the
// receiving calls. The receiver regenerates each expected message and compares
// checksums, so loss, duplication, reordering and damage are all caught.
#pragma once

#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "shmring/shmring.hpp"
#include "test_support.hpp"

namespace shmring::testing {

struct TrafficPlan {
  std::size_t messages = 1'000'000;
  std::size_t max_size = 16384;
  std::uint64_t seed = 7;
};

// Size and contents of message `i`: both sides compute the same.
inline std::size_t message_size(const TrafficPlan& plan, std::mt19937_64& rng) {
  const double log_max = std::log(static_cast<double>(plan.max_size));
  const double x = std::uniform_real_distribution<double>(0.0, log_max)(rng);
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::exp(x)));
}

inline void fill_message(std::vector<std::byte>& buf, std::size_t size, std::size_t index) {
  buf.resize(size);
  std::uint32_t x = static_cast<std::uint32_t>(index * 2654435761u) | 1u;
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;  // xorshift32: cheap, and every byte depends on the index
    buf[i] = static_cast<std::byte>(x);
  }
}

// Returns the number of messages sent with Status::ok (all of them, or the test fails).
inline std::size_t send_traffic(Endpoint& ep, const TrafficPlan& plan) {
  std::mt19937_64 sizes(plan.seed);
  std::mt19937_64 choice(plan.seed * 31 + 1);
  std::vector<std::byte> buf;
  for (std::size_t i = 0; i < plan.messages; ++i) {
    const std::size_t size = message_size(plan, sizes);
    fill_message(buf, size, i);
    Status st;
    switch (choice() % 4) {
      case 0:
        st = ep.send(buf);
        break;
      case 1:
        while ((st = ep.try_send(buf)) == Status::would_block) std::this_thread::yield();
        break;
      case 2:
        while ((st = ep.send_for(buf, std::chrono::microseconds(50))) == Status::timeout) {
        }
        break;
      default:
        if (size <= ep.max_frame_payload()) {
          std::span<std::byte> slot;
          st = ep.reserve(size, slot);
          if (st == Status::ok) {
            std::memcpy(slot.data(), buf.data(), size);
            ep.commit(size);
          }
        } else {
          st = ep.send(buf);
        }
    }
    if (st != Status::ok) {
      std::fprintf(stderr, "send of message %zu (%zu bytes) failed: %s (%s)\n", i, size,
                   std::string(to_string(st)).c_str(), ep.reason().c_str());
      return i;
    }
  }
  return plan.messages;
}

// Returns the number of messages received intact and in order.
inline std::size_t receive_traffic(Endpoint& ep, const TrafficPlan& plan) {
  std::mt19937_64 sizes(plan.seed);
  std::mt19937_64 choice(plan.seed * 17 + 3);
  std::vector<std::byte> expected;
  std::vector<std::byte> got;
  for (std::size_t i = 0; i < plan.messages; ++i) {
    const std::size_t size = message_size(plan, sizes);
    fill_message(expected, size, i);
    Status st;
    std::uint64_t sum = 0;
    std::size_t n = 0;
    switch (choice() % 4) {
      case 0:
        st = ep.recv(got);
        sum = checksum(got);
        n = got.size();
        break;
      case 1:
        while ((st = ep.try_recv(got)) == Status::would_block) std::this_thread::yield();
        sum = checksum(got);
        n = got.size();
        break;
      case 2:
        while ((st = ep.recv_for(got, std::chrono::microseconds(50))) == Status::timeout) {
        }
        sum = checksum(got);
        n = got.size();
        break;
      default: {
        std::span<const std::byte> view;
        st = ep.peek(view);
        if (st == Status::ok) {
          sum = checksum(view);
          n = view.size();
          ep.release();
        }
      }
    }
    if (st != Status::ok || n != size || sum != checksum(expected)) {
      std::fprintf(stderr, "message %zu: status %s, %zu bytes (expected %zu), checksum %s\n", i,
                   std::string(to_string(st)).c_str(), n, size, sum == checksum(expected) ? "ok" : "WRONG");
      return i;
    }
  }
  return plan.messages;
}

}  // namespace shmring::testing
