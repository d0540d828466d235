// Results of channel operations. The hot path reports outcomes as values,
// never as exceptions: a would-block or a closed peer is an ordinary event.
#pragma once

#include <cstdint>
#include <string_view>

namespace shmring {

enum class Status : std::uint8_t {
  ok,           // done
  would_block,  // try_* only: nothing could be done without waiting; nothing changed
  timeout,      // *_for only: the deadline passed; nothing was sent or consumed
  peer_closed,  // recv: the peer closed its sending side and everything it sent was read (EOF)
                // send: the peer closed its receiving side; the message was not sent
  aborted,      // the channel was aborted (by either side); see Endpoint::reason()
  peer_died,    // the peer process went away without closing (kernel notice)
  corrupt,      // the peer wrote invalid data into shared memory; see Endpoint::reason()
  closed,       // this endpoint was closed locally
  too_large,    // the message exceeds the channel's maximum message size; nothing was sent
  interrupted,  // a signal arrived while parked (only with Endpoint::set_return_on_signal);
                // nothing was sent or consumed
};

constexpr std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::would_block: return "would-block";
    case Status::timeout: return "timeout";
    case Status::peer_closed: return "peer-closed";
    case Status::aborted: return "aborted";
    case Status::peer_died: return "peer-died";
    case Status::corrupt: return "corrupt";
    case Status::closed: return "closed";
    case Status::too_large: return "too-large";
    case Status::interrupted: return "interrupted";
  }
  return "unknown";
}

// True for the statuses after which the operation will never succeed again on
// this endpoint (in that direction).
constexpr bool is_final(Status s) {
  return s == Status::peer_closed || s == Status::aborted || s == Status::peer_died ||
         s == Status::corrupt || s == Status::closed;
}

}  // namespace shmring
