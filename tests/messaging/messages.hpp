// Message types shared by the messaging tests, the interop peer and the
// benchmark. Python peers see each body as a dict (MSGPACK_DEFINE_MAP).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmring/typed.hpp"

namespace shmring::test_messages {

struct Ping {
  static constexpr std::string_view tag = "ping";
  std::uint64_t seq = 0;
  std::string text;
  MSGPACK_DEFINE_MAP(seq, text)
};

struct Pong {
  static constexpr std::string_view tag = "pong";
  std::uint64_t seq = 0;
  MSGPACK_DEFINE_MAP(seq)
};

struct Add {
  static constexpr std::string_view tag = "add";
  std::int64_t a = 0;
  std::int64_t b = 0;
  MSGPACK_DEFINE_MAP(a, b)
};

struct Sum {
  static constexpr std::string_view tag = "sum";
  std::int64_t value = 0;
  MSGPACK_DEFINE_MAP(value)
};

// A view type: text and blob reference the frame in shared memory.
struct Blob {
  static constexpr std::string_view tag = "blob";
  std::string_view text;
  msgpack::type::raw_ref data;
  MSGPACK_DEFINE_MAP(text, data)
};

struct OwnedBlob {
  static constexpr std::string_view tag = "blob";
  std::string text;
  std::vector<char> data;
  MSGPACK_DEFINE_MAP(text, data)
};

// Asks the receiving actor to fail (actor tests, interop).
struct Crash {
  static constexpr std::string_view tag = "crash";
  std::string why;
  MSGPACK_DEFINE_MAP(why)
};

// Interop: C++ asks the Python peer to greet someone.
struct Greet {
  static constexpr std::string_view tag = "greet";
  std::string name;
  MSGPACK_DEFINE_MAP(name)
};

struct Greeting {
  static constexpr std::string_view tag = "greeting";
  std::string text;
  MSGPACK_DEFINE_MAP(text)
};

}  // namespace shmring::test_messages
