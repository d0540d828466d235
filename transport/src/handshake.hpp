// The two messages of the connect handshake (docs/wire-format.md).
//
//   connector -> listener   Hello, with SCM_RIGHTS: [segment memfd,
//                           A's recv wake, A's send wake, B's recv wake, B's send wake]
//   listener -> connector   Reply: accepted, or refused with a sentence
//
// The listener may also send a refusing Reply right after accepting the
// connection (wrong uid) without reading the Hello.
#pragma once

#include <cstdint>

namespace shmring::detail {

inline constexpr std::uint64_t kHandshakeMagic = 0x4b48534e49524853ULL;  // "SHRINSHK"
inline constexpr std::uint32_t kHandshakeVersion = 1;
inline constexpr std::uint32_t kHello = 1;
inline constexpr std::uint32_t kReply = 2;
inline constexpr std::size_t kHelloFds = 5;

struct Hello {
  std::uint64_t magic = kHandshakeMagic;
  std::uint32_t version = kHandshakeVersion;
  std::uint32_t kind = kHello;
};

struct Reply {
  std::uint64_t magic = kHandshakeMagic;
  std::uint32_t version = kHandshakeVersion;
  std::uint32_t kind = kReply;
  std::uint32_t accepted = 0;
  std::uint32_t text_length = 0;
  char text[232] = {};
};

static_assert(sizeof(Hello) == 16);
static_assert(sizeof(Reply) == 256);

}  // namespace shmring::detail
