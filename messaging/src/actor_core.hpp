// The state behind an Actor: what any thread may touch (mailbox, flags,
// exit info) and what only the actor's thread touches (peers, outboxes,
// pending requests, the wait set it parks on).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mailbox.hpp"
#include "shmring/actors.hpp"
#include "shmring/waiting.hpp"

namespace shmring::actors::detail {

// A local ask waiting for its reply.
struct AskState {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::vector<std::byte> reply;            // the reply frame
  // Or why there is none. Kept as reason + text and turned into a
  // RequestError by the waiting thread: libstdc++'s exception message is a
  // reference-counted string, and sharing one across threads is a race TSan
  // cannot see through (the count lives in the uninstrumented library).
  std::optional<RequestError::Reason> error_reason;
  std::string error_message;
};
void finish_ask(AskState& ask, std::vector<std::byte> reply, std::optional<RequestError> error);

struct Peer {
  Endpoint endpoint;
  std::deque<std::vector<std::byte>> outbox;  // frames waiting for ring room, in order
  std::size_t outbox_bytes = 0;
  bool watching_send = false;  // send_fd() is in the actor's wait set
};

struct PendingRequest {
  PeerId to = kLocal;
  Status lost = Status::ok;  // not ok: the request could not be sent; fail it at once
  std::chrono::steady_clock::time_point deadline;
  ReplyHandler on_reply;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct ActorCore {
  explicit ActorCore(ActorOptions opts) : options(std::move(opts)) {}

  const ActorOptions options;
  Mailbox mailbox;

  // Set before start(); read by the actor's thread afterwards.
  std::unordered_map<std::string, Handler, StringHash, std::equal_to<>> handlers;
  std::function<void(Context&)> on_start;
  std::function<void(PeerId, Status, std::string_view, Context&)> on_peer_lost;
  std::function<void(PeerId, const std::exception&, Context&)> on_unhandled;
  std::function<void(const ExitInfo&)> exit_hook;

  std::mutex early_mutex;                     // guards early_peers
  std::vector<std::pair<PeerId, Endpoint>> early_peers;  // attached before start(): present at on_start
  std::atomic<PeerId> next_peer{1};          // relaxed: only uniqueness matters
  std::atomic<bool> started{false};          // start() once
  std::atomic<bool> ended{false};            // release/acquire: exit info is set before
  std::atomic<bool> stop_requested{false};   // relaxed: the stop mail item carries the wake-up
  std::thread thread;

  std::mutex exit_mutex;  // guards stop_reason and exit_info
  std::string stop_reason;
  ExitInfo exit_info;

  std::atomic<std::uint64_t> handled{0}, unhandled{0}, late_replies{0};  // relaxed: statistics

  // --- the actor's thread only ---
  // The mailbox's counter and every peer's wait fds; made when the thread
  // starts, where a failure to make it fails the actor instead of the thread.
  std::optional<WaitSet> wait_set;
  std::map<PeerId, Peer> peers;
  std::unordered_map<std::uint64_t, PendingRequest> pending;
  std::multimap<std::chrono::steady_clock::time_point, std::uint64_t> deadlines;
  std::uint64_t next_request = 1;
  bool failing = false;
  std::string fail_reason;
  bool stop_now = false;
};

}  // namespace shmring::actors::detail
