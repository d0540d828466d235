// RingWriter / RingReader on plain memory, one thread: the frame format,
// padding at the wrap, the zeroed next slot, room accounting and parking flags.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "layout.hpp"
#include "ring.hpp"

namespace shmring::detail {
namespace {

struct RingFixture {
  explicit RingFixture(std::uint64_t bytes) : ring_bytes(bytes) {
    data.reset(static_cast<std::byte*>(std::aligned_alloc(4096, bytes)));
    std::memset(data.get(), 0, bytes);
    view = RingView{data.get(), bytes, &control, max_frame_payload_for(bytes), "test ring"};
    writer = RingWriter(view);
    reader = RingReader(view);
  }

  bool write(const std::string& s) {
    std::byte* p = writer.try_reserve(s.size());
    EXPECT_FALSE(writer.faulted()) << writer.fault();
    if (p == nullptr) return false;
    std::memcpy(p, s.data(), s.size());
    writer.commit(s.size(), frame::kFirst | frame::kLast);
    return true;
  }

  std::string read() {
    FrameView f;
    const auto r = reader.peek(f);
    EXPECT_EQ(r, RingReader::Peek::frame) << reader.fault();
    if (r != RingReader::Peek::frame) return "<none>";
    std::string s(reinterpret_cast<const char*>(f.payload), f.length);
    reader.release();
    return s;
  }

  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::uint64_t ring_bytes;
  std::unique_ptr<std::byte, Free> data;
  RingControl control{};
  RingView view;
  RingWriter writer;
  RingReader reader;
};

TEST(Ring, frames_are_eight_byte_aligned_and_carry_their_length) {
  RingFixture sut(4096);
  ASSERT_TRUE(sut.write("abc"));
  ASSERT_TRUE(sut.write("defghijklm"));
  EXPECT_EQ(sut.writer.tail(), frame::footprint(3) + frame::footprint(10));
  EXPECT_EQ(frame::footprint(3), 16u);
  EXPECT_EQ(frame::footprint(10), 24u);
  EXPECT_EQ(sut.read(), "abc");
  EXPECT_EQ(sut.read(), "defghijklm");
  EXPECT_EQ(sut.reader.head(), sut.writer.tail());
}

TEST(Ring, frame_that_does_not_fit_before_the_end_starts_at_offset_zero_after_padding) {
  RingFixture sut(4096);
  const std::string filler(1000, 'f');  // footprint 1008
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sut.write(filler));
    EXPECT_EQ(sut.read(), filler);
  }
  // 3024 used; 1072 to the end. A 1016-byte frame (footprint 1024) fits, the next does not.
  const std::string big(1016, 'b');
  ASSERT_TRUE(sut.write(big));
  EXPECT_EQ(sut.read(), big);
  ASSERT_TRUE(sut.write(big));  // 48 bytes left: padded, lands at offset 0
  FrameView f;
  ASSERT_EQ(sut.reader.peek(f), RingReader::Peek::frame);
  EXPECT_EQ(f.payload, sut.data.get() + kFrameHeaderBytes);  // contiguous, at the start
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.payload), f.length), big);
  sut.reader.release();
  EXPECT_EQ(sut.reader.head(), 4096u + frame::footprint(1016));  // position counts laps
}

TEST(Ring, writer_refuses_when_full_and_accepts_after_the_reader_releases) {
  RingFixture sut(4096);
  const std::string m(500, 'm');  // footprint 512
  int n = 0;
  while (sut.write(m)) ++n;
  EXPECT_EQ(n, 7);  // 8 * 512 = 4096, but one header slot must stay free
  EXPECT_EQ(sut.read(), m);
  EXPECT_TRUE(sut.write(m));
}

TEST(Ring, stale_bytes_of_an_earlier_lap_never_look_like_a_frame) {
  RingFixture sut(4096);
  // Plant what a frame at position 16 would look like, as if left by a previous lap.
  const std::uint64_t forged = frame::encode(16, 4, frame::kFirst | frame::kLast);
  std::memcpy(sut.data.get() + 16, &forged, sizeof forged);
  ASSERT_TRUE(sut.write("12345678"));  // footprint 16: the next slot is offset 16
  EXPECT_EQ(sut.read(), "12345678");
  FrameView f;
  EXPECT_EQ(sut.reader.peek(f), RingReader::Peek::empty);  // the writer zeroed it
}

TEST(Ring, reader_asks_for_a_wake_only_when_parked) {
  RingFixture sut(4096);
  EXPECT_FALSE(sut.writer.reader_needs_wake());
  EXPECT_TRUE(sut.reader.announce_parked());  // nothing there: really sleeps
  ASSERT_TRUE(sut.write("x"));
  EXPECT_TRUE(sut.writer.reader_needs_wake());
  EXPECT_FALSE(sut.writer.reader_needs_wake());  // one park, one ring
  EXPECT_FALSE(sut.reader.announce_parked());    // data there: does not sleep
}

TEST(Ring, writer_parks_only_while_there_is_no_room) {
  RingFixture sut(4096);
  const std::string m(1000, 'm');
  while (sut.write(m)) {
  }
  EXPECT_TRUE(sut.writer.announce_parked(1000));
  EXPECT_EQ(sut.read(), m);
  EXPECT_EQ(sut.read(), m);  // two frames: the next one needs padding at the end too
  EXPECT_TRUE(sut.reader.writer_needs_wake());
  EXPECT_FALSE(sut.reader.writer_needs_wake());
  EXPECT_FALSE(sut.writer.announce_parked(1000));
  EXPECT_FALSE(sut.writer.faulted());
}

TEST(Ring, reader_rejects_a_header_with_the_wrong_position_tag) {
  RingFixture sut(4096);
  const std::uint64_t wrong = frame::encode(4096, 4, frame::kFirst | frame::kLast);  // tag of the next lap
  std::memcpy(sut.data.get(), &wrong, sizeof wrong);
  FrameView f;
  EXPECT_EQ(sut.reader.peek(f), RingReader::Peek::fault);
  EXPECT_NE(sut.reader.fault().find("position tag"), std::string::npos) << sut.reader.fault();
}

TEST(Ring, writer_rejects_a_head_beyond_its_tail) {
  RingFixture sut(4096);
  const std::string m(1000, 'm');
  while (sut.write(m)) {
  }
  sut.control.head.store(1u << 20);
  EXPECT_EQ(sut.writer.try_reserve(1000), nullptr);
  EXPECT_NE(sut.writer.fault().find("head"), std::string::npos) << sut.writer.fault();
}

}  // namespace
}  // namespace shmring::detail
