// An actor's local mailbox: a lock-free multi-producer queue (moodycamel)
// plus a WakeCounter (the transport's eventfd) rung only when the actor is
// parked, so a local send costs no system call while the actor is busy or
// spinning.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <concurrentqueue/concurrentqueue.h>
#include <msgpack.hpp>

#include "shmring/endpoint.hpp"
#include "shmring/waiting.hpp"

namespace shmring::actors::detail {

struct AskState;

struct MailItem {
  enum class Type : std::uint8_t { message, attach, stop };
  Type type = Type::message;
  msgpack::sbuffer bytes{0};         // message: one encoded frame
  std::shared_ptr<AskState> ask;     // message: a local ask waiting for the reply
  Endpoint endpoint;                 // attach
  std::uint32_t peer_id = 0;         // attach
};

class Mailbox {
 public:
  Mailbox() = default;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread. False (and the item untouched) once the mailbox is closed.
  bool push(MailItem& item);
  // The actor's thread only.
  bool pop(MailItem& item) { return queue_.try_dequeue(item); }

  // Parking, from the actor's thread: prepare_park() returns false if mail
  // arrived (do not sleep); else sleep on fd() and call end_park() after.
  bool prepare_park();
  void end_park();
  int fd() const { return wake_.fd(); }

  // Refuses further pushes, waits for pushes in progress, then hands every
  // queued item to `drop`.
  void close(const std::function<void(MailItem&)>& drop);
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  moodycamel::ConcurrentQueue<MailItem> queue_;
  WakeCounter wake_{"an actor's mailbox"};
  // The orders are explained where they are used (mailbox.cpp): parked_ is
  // paired with the queue by seq_cst fences, closed_ and pushing_ are a
  // seq_cst Dekker pair, pushing_'s release decrement publishes the item.
  std::atomic<bool> parked_{false};
  std::atomic<bool> closed_{false};
  std::atomic<int> pushing_{0};
};

}  // namespace shmring::actors::detail
