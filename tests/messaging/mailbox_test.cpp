// An actor's mailbox (messaging/src/mailbox.*): any thread pushes, the actor
// pops; its eventfd is rung only while the actor is parked, so local senders
// make no system call while the actor is busy; close() hands every queued
// item back.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "mailbox.hpp"
#include "test_support.hpp"

namespace shmring::actors::detail {
namespace {

using namespace std::chrono_literals;

MailItem letter(const std::string& text) {
  MailItem item;
  item.bytes.write(text.data(), text.size());
  return item;
}

std::string text_of(const MailItem& item) { return std::string(item.bytes.data(), item.bytes.size()); }

bool readable(int fd, std::chrono::milliseconds wait = 0ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) == 1;
}

TEST(Mailbox, one_sender_s_items_come_out_in_order) {
  Mailbox sut;
  for (int i = 0; i < 100; ++i) {
    MailItem item = letter(std::to_string(i));
    ASSERT_TRUE(sut.push(item));
  }
  MailItem out;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(sut.pop(out));
    EXPECT_EQ(text_of(out), std::to_string(i));
  }
  EXPECT_FALSE(sut.pop(out));
}

TEST(Mailbox, a_push_rings_only_while_the_actor_is_parked) {
  Mailbox sut;
  MailItem early = letter("while busy");
  ASSERT_TRUE(sut.push(early));
  EXPECT_FALSE(readable(sut.fd()));                // the actor was not parked: no ring
  EXPECT_FALSE(sut.prepare_park());                // mail is waiting: do not sleep
  MailItem out;
  ASSERT_TRUE(sut.pop(out));
  ASSERT_TRUE(sut.prepare_park());                 // empty: may sleep on fd()
  std::thread sender([&] {
    MailItem late = letter("while parked");
    EXPECT_TRUE(sut.push(late));
  });
  EXPECT_TRUE(readable(sut.fd(), 30'000ms));       // woken
  sender.join();
  sut.end_park();
  EXPECT_FALSE(readable(sut.fd()));                // end_park drained the ring
  ASSERT_TRUE(sut.pop(out));
  EXPECT_EQ(text_of(out), "while parked");
}

TEST(Mailbox, many_senders_racing_a_parking_actor_lose_nothing_and_never_leave_it_asleep) {
  Mailbox sut;
  constexpr int kSenders = 4, kEach = 5000;
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&sut] {
      for (int i = 0; i < kEach; ++i) {
        MailItem item = letter("x");
        EXPECT_TRUE(sut.push(item));
      }
    });
  }
  int received = 0;
  MailItem out;
  while (received < kSenders * kEach) {
    while (sut.pop(out)) ++received;
    if (received == kSenders * kEach || !sut.prepare_park()) continue;
    // The queue was empty and items are still to come: one of them must ring.
    ASSERT_TRUE(readable(sut.fd(), 60'000ms)) << "lost wake-up after " << received << " items";
    sut.end_park();
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(received, kSenders * kEach);
}

TEST(Mailbox, close_refuses_new_items_untouched_and_hands_back_the_queued_ones) {
  Mailbox sut;
  for (const char* text : {"a", "b"}) {
    MailItem item = letter(text);
    ASSERT_TRUE(sut.push(item));
  }
  std::vector<std::string> dropped;
  sut.close([&](MailItem& item) { dropped.push_back(text_of(item)); });
  EXPECT_EQ(dropped, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(sut.closed());
  MailItem refused = letter("too late");
  EXPECT_FALSE(sut.push(refused));
  EXPECT_EQ(text_of(refused), "too late");  // the caller still has it
}

}  // namespace
}  // namespace shmring::actors::detail
