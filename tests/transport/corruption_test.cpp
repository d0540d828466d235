// A buggy or hostile peer writes garbage into shared memory: every field it
// can touch must end in Status::corrupt (or a refused attach) with a sentence
// saying what was wrong — never a crash, never a read outside the segment.
// Run under ASan to make "never outside the segment" checkable. A bad
// segment refused when it is attached: channel_test.cpp.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "channel.hpp"
#include "endpoint_core.hpp"
#include "layout.hpp"
#include "shmring/shmring.hpp"
#include "channels.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using detail::ControlBlock;
using detail::UniqueFd;
using testing::small_ring_without_spin;
namespace frame = detail::frame;
using testing::bytes_of;

// A pair plus raw access to the a->b ring, which b reads.
struct CorruptiblePair {
  CorruptiblePair() : pair(make_pair(small_ring_without_spin())) {}
  ControlBlock& control() { return *pair.a.core().control_for_tests(); }
  std::byte* ring_a_to_b() { return pair.a.core().ring_for_tests(0); }
  void put_header(std::uint64_t offset, std::uint64_t header) { std::memcpy(ring_a_to_b() + offset, &header, 8); }
  void put_u64(std::uint64_t offset, std::uint64_t v) { std::memcpy(ring_a_to_b() + offset, &v, 8); }

  // b receives; expect corrupt and a reason containing `words`.
  void expect_reader_finds(const std::string& words) {
    std::vector<std::byte> got;
    EXPECT_EQ(pair.b.try_recv(got), Status::corrupt);
    EXPECT_EQ(pair.b.state(), EndpointState::corrupt);
    EXPECT_NE(pair.b.reason().find(words), std::string::npos) << pair.b.reason();
    // The peer learns at once: the channel is aborted with the reason.
    EXPECT_EQ(pair.a.state(), EndpointState::aborted);
    EXPECT_NE(pair.a.reason().find("corrupt data found"), std::string::npos) << pair.a.reason();
    EXPECT_EQ(pair.b.try_recv(got), Status::corrupt);  // stays corrupt
    EXPECT_EQ(pair.b.send(bytes_of("x")), Status::corrupt);
  }

  Pair pair;
};

TEST(Corruption, header_with_a_wrong_position_tag) {
  CorruptiblePair sut;
  sut.put_header(0, frame::encode(8, 4, frame::kFirst | frame::kLast));
  sut.expect_reader_finds("position tag");
}

TEST(Corruption, header_with_unknown_flags) {
  CorruptiblePair sut;
  sut.put_header(0, frame::encode(0, 4, frame::kFirst | frame::kLast) | (std::uint64_t{0x80} << 32));
  sut.expect_reader_finds("unknown flags");
}

TEST(Corruption, frame_length_beyond_the_frame_limit) {
  CorruptiblePair sut;
  sut.put_header(0, frame::encode(0, 0xFFFFFFF0u, frame::kFirst | frame::kLast));
  sut.expect_reader_finds("has length 4294967280");
}

TEST(Corruption, frame_running_past_the_rings_end) {
  CorruptiblePair sut;
  // Move both sides to offset 4064 (32 bytes before the end) with real traffic.
  std::vector<std::byte> got;
  const std::string m(1000, 'm');  // footprint 1008
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(sut.pair.a.try_send(bytes_of(m)), Status::ok);
    ASSERT_EQ(sut.pair.b.try_recv(got), Status::ok);
  }
  const std::string n(24, 'n');  // footprint 32: 4032 + 32 = 4064
  ASSERT_EQ(sut.pair.a.try_send(bytes_of(n)), Status::ok);
  ASSERT_EQ(sut.pair.b.try_recv(got), Status::ok);
  sut.put_header(4064, frame::encode(4064, 100, frame::kFirst | frame::kLast));  // 108 bytes > 32 left
  sut.expect_reader_finds("bytes a frame may hold there");
}

TEST(Corruption, padding_frame_of_the_wrong_length) {
  CorruptiblePair sut;
  sut.put_header(0, frame::encode(0, 64, frame::kPad));  // must reach the end: 4088
  sut.expect_reader_finds("padding frame");
}

TEST(Corruption, continuation_fragment_with_no_message_started) {
  CorruptiblePair sut;
  sut.put_header(0, frame::encode(0, 4, frame::kLast));
  sut.expect_reader_finds("continuation fragment");
}

TEST(Corruption, first_fragment_shorter_than_its_length_prefix) {
  CorruptiblePair sut;
  sut.put_header(0, frame::encode(0, 4, frame::kFirst));
  sut.expect_reader_finds("shorter than its length prefix");
}

TEST(Corruption, fragmented_message_announcing_more_than_the_maximum) {
  CorruptiblePair sut;
  sut.put_u64(8, std::uint64_t{1} << 40);
  sut.put_header(0, frame::encode(0, 16, frame::kFirst));
  sut.expect_reader_finds("more than the channel's maximum");
}

TEST(Corruption, new_message_starting_inside_a_fragmented_one) {
  CorruptiblePair sut;
  sut.put_u64(8, 100);  // announces 100 bytes, carries 8
  sut.put_header(0, frame::encode(0, 16, frame::kFirst));
  sut.put_header(24, frame::encode(24, 4, frame::kFirst | frame::kLast));
  sut.expect_reader_finds("new message started");
}

TEST(Corruption, fragments_adding_up_to_more_than_announced) {
  CorruptiblePair sut;
  sut.put_u64(8, 10);  // announces 10 bytes, carries 8
  sut.put_header(0, frame::encode(0, 16, frame::kFirst));
  sut.put_header(24, frame::encode(24, 8, frame::kLast));
  sut.expect_reader_finds("more than the announced");
}

TEST(Corruption, last_fragment_ending_a_message_too_short) {
  CorruptiblePair sut;
  sut.put_u64(8, 100);
  sut.put_header(0, frame::encode(0, 16, frame::kFirst));
  sut.put_header(24, frame::encode(24, 8, frame::kLast));
  sut.expect_reader_finds("last fragment ends");
}

TEST(Corruption, peer_closing_in_the_middle_of_a_fragmented_message) {
  CorruptiblePair sut;
  sut.put_u64(8, 100);
  sut.put_header(0, frame::encode(0, 16, frame::kFirst));
  sut.control().state.fetch_or(detail::state::side_bits(0, detail::state::kSendClosed));
  sut.expect_reader_finds("in the middle of a fragmented message");
}

TEST(Corruption, readers_head_outside_the_writers_range) {
  CorruptiblePair sut;
  const std::string m(1000, 'm');
  while (sut.pair.a.try_send(bytes_of(m)) == Status::ok) {
  }
  sut.control().ring[0].head.store(123456789);
  EXPECT_EQ(sut.pair.a.try_send(bytes_of(m)), Status::corrupt);
  EXPECT_NE(sut.pair.a.reason().find("head"), std::string::npos) << sut.pair.a.reason();
  EXPECT_EQ(sut.pair.b.state(), EndpointState::aborted);
}

TEST(Corruption, readers_head_misaligned) {
  CorruptiblePair sut;
  const std::string m(1000, 'm');
  while (sut.pair.a.try_send(bytes_of(m)) == Status::ok) {
  }
  sut.control().ring[0].head.store(1001);
  EXPECT_EQ(sut.pair.a.try_send(bytes_of(m)), Status::corrupt);
}

TEST(Corruption, abort_reason_with_a_huge_length_is_clamped) {
  CorruptiblePair sut;
  sut.control().abort.length = 0xFFFFFFFF;
  sut.control().abort.stage.store(2);
  std::memset(sut.control().abort.text, 'z', sizeof sut.control().abort.text);
  sut.control().state.fetch_or(detail::state::kAborted);
  const std::string reason = sut.pair.b.reason();
  EXPECT_LT(reason.size(), 300u);
  EXPECT_NE(reason.find("zzz"), std::string::npos);
}

TEST(Corruption, random_garbage_at_the_readers_position_never_crashes) {
  std::mt19937_64 rng(42);
  int corrupt = 0;
  for (int i = 0; i < 2000; ++i) {
    CorruptiblePair sut;
    // Random words where the next headers and payloads would be.
    for (std::uint64_t off = 0; off < 256; off += 8) sut.put_u64(off, rng());
    if (i % 2 == 0) sut.put_header(0, (rng() & ~(std::uint64_t{0xFFFFFF} << 40)) | (std::uint64_t{1} << 32));
    std::vector<std::byte> got;
    Status st;
    do {
      st = sut.pair.b.try_recv(got);
    } while (st == Status::ok);
    EXPECT_TRUE(st == Status::corrupt || st == Status::would_block) << to_string(st);
    corrupt += st == Status::corrupt;
  }
  EXPECT_GT(corrupt, 1900);  // a random word is almost never a valid header
}

// Issue 14.8: state words no transition produces are forged. They used to
// read as a clean peer_closed although nobody closed.
void forge_state(CorruptiblePair& sut, std::uint64_t bits) { sut.control().state.fetch_or(bits); }

TEST(Corruption, state_word_with_the_peer_receive_closed_but_still_sending) {
  CorruptiblePair sut;
  forge_state(sut, detail::state::side_bits(0, detail::state::kRecvClosed));  // a is side 0
  EXPECT_EQ(sut.pair.b.try_send(bytes_of("x")), Status::corrupt);
  EXPECT_NE(sut.pair.b.reason().find("not one the protocol can produce"), std::string::npos) << sut.pair.b.reason();
  EXPECT_EQ(sut.pair.a.state(), EndpointState::aborted);
}

TEST(Corruption, state_word_with_unknown_bits) {
  CorruptiblePair sut;
  forge_state(sut, std::uint64_t{1} << 40);
  std::vector<std::byte> got;
  EXPECT_EQ(sut.pair.b.try_recv(got), Status::corrupt);
  EXPECT_EQ(sut.pair.b.state(), EndpointState::corrupt);
}

TEST(Corruption, state_word_saying_we_closed_when_we_did_not) {
  CorruptiblePair sut;
  using namespace detail::state;
  forge_state(sut, side_bits(1, kSendClosed | kRecvClosed));  // b is side 1 and never closed
  EXPECT_EQ(sut.pair.b.state(), EndpointState::corrupt);
  EXPECT_EQ(sut.pair.b.try_send(bytes_of("x")), Status::corrupt);
  EXPECT_NE(sut.pair.b.reason().find("this side stopped"), std::string::npos) << sut.pair.b.reason();
}

TEST(Corruption, a_real_close_still_reads_as_peer_closed) {
  CorruptiblePair sut;
  ASSERT_EQ(sut.pair.a.send(bytes_of("last")), Status::ok);
  sut.pair.a.close();
  std::vector<std::byte> got;
  EXPECT_EQ(sut.pair.b.try_recv(got), Status::ok);
  EXPECT_EQ(sut.pair.b.try_recv(got), Status::peer_closed);
  EXPECT_EQ(sut.pair.b.try_send(bytes_of("x")), Status::peer_closed);
  EXPECT_EQ(sut.pair.b.state(), EndpointState::peer_closed);
}

}  // namespace
}  // namespace shmring
