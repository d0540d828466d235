#include "mailbox.hpp"

#include <thread>

namespace shmring::actors::detail {

bool Mailbox::push(MailItem& item) {
  // seq_cst increment, then the closed check: either close() sees us in
  // pushing_ and waits, or we see closed_ and back out (Dekker pair with
  // close()'s store to closed_ and load of pushing_).
  pushing_.fetch_add(1, std::memory_order_seq_cst);
  if (closed_.load(std::memory_order_seq_cst)) {
    pushing_.fetch_sub(1, std::memory_order_release);
    return false;
  }
  queue_.enqueue(std::move(item));
  // The fence orders the enqueue before reading parked_; prepare_park has the
  // mirror fence between setting parked_ and looking at the queue. So either
  // the actor sees the item, or we see it parked and ring.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (parked_.load(std::memory_order_relaxed)) wake_.ring();
  // release: the enqueue happens-before close() finishing its wait.
  pushing_.fetch_sub(1, std::memory_order_release);
  return true;
}

bool Mailbox::prepare_park() {
  parked_.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // see push()
  if (queue_.size_approx() != 0) {
    parked_.store(false, std::memory_order_relaxed);  // only the actor's thread reads it as a decision
    return false;
  }
  return true;
}

void Mailbox::end_park() {
  parked_.store(false, std::memory_order_relaxed);  // a late ring costs one spurious wake-up, nothing more
  wake_.drain();
}

void Mailbox::close(const std::function<void(MailItem&)>& drop) {
  closed_.store(true, std::memory_order_seq_cst);  // see push()
  // acquire: pairs with push()'s release decrement, so its item is visible.
  while (pushing_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  MailItem item;
  while (queue_.try_dequeue(item)) drop(item);
}

}  // namespace shmring::actors::detail
