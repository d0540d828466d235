// Typed messages over real channels: round trips, zero-copy views, variants,
// decode errors that leave the channel usable, and random bytes.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "messages.hpp"
#include "shmring/shmring.hpp"
#include "shmring/typed.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using namespace test_messages;
using typed::DecodeError;
using typed::Kind;

TEST(Typed, a_struct_round_trips_blocking_nonblocking_and_with_timeouts) {
  auto [a, b] = make_pair();
  ASSERT_EQ(typed::send(a, Ping{7, "seven"}), Status::ok);
  ASSERT_EQ(typed::try_send(a, Ping{8, "eight"}), Status::ok);
  ASSERT_EQ(typed::send_for(a, Ping{9, "nine"}, 1s), Status::ok);

  Ping p;
  ASSERT_EQ(typed::recv(b, p), Status::ok);
  EXPECT_EQ(p.seq, 7u);
  EXPECT_EQ(p.text, "seven");
  ASSERT_EQ(typed::try_recv(b, p), Status::ok);
  EXPECT_EQ(p.seq, 8u);
  ASSERT_EQ(typed::recv_for(b, p, 1s), Status::ok);
  EXPECT_EQ(p.text, "nine");

  EXPECT_EQ(typed::try_recv(b, p), Status::would_block);
  EXPECT_EQ(typed::recv_for(b, p, 5ms), Status::timeout);
  a.send_eof();
  EXPECT_EQ(typed::recv(b, p), Status::peer_closed);
}

TEST(Typed, requests_and_replies_carry_kind_and_id) {
  auto [a, b] = make_pair();
  ASSERT_EQ(typed::send(a, Add{2, 3}, Kind::request, 41), Status::ok);
  typed::View<Add> v;
  ASSERT_EQ(typed::peek(b, v), Status::ok);
  EXPECT_EQ(v.kind(), Kind::request);
  EXPECT_EQ(v.id(), 41u);
  EXPECT_EQ(v->a + v->b, 5);
  v.release();
  ASSERT_EQ(typed::send(b, Sum{5}, Kind::reply, 41), Status::ok);
  typed::View<Sum> r;
  ASSERT_EQ(typed::peek(a, r), Status::ok);
  EXPECT_EQ(r.kind(), Kind::reply);
  EXPECT_EQ(r.id(), 41u);
  EXPECT_EQ(r->value, 5);
}

TEST(Typed, a_view_references_the_frame_in_shared_memory) {
  auto [a, b] = make_pair();
  const std::string text = "referenced, not copied";
  const std::vector<char> data(1000, 'x');
  ASSERT_EQ(typed::send(a, OwnedBlob{text, data}), Status::ok);

  typed::View<Blob> view;
  ASSERT_EQ(typed::peek(b, view), Status::ok);
  EXPECT_EQ(view->text, text);
  ASSERT_EQ(view->data.size, data.size());
  // The endpoint still holds the frame: peeking again yields the same bytes,
  // and the view's string and binary lie inside them.
  std::span<const std::byte> frame;
  ASSERT_EQ(b.peek(frame), Status::ok);
  const auto* lo = reinterpret_cast<const char*>(frame.data());
  const auto* hi = lo + frame.size();
  EXPECT_TRUE(view->text.data() >= lo && view->text.data() + view->text.size() <= hi);
  EXPECT_TRUE(view->data.ptr >= lo && view->data.ptr + view->data.size <= hi);
  view.release();
  EXPECT_EQ(b.try_peek(frame), Status::would_block);
}

TEST(Typed, a_variant_picks_the_alternative_by_tag) {
  using Any = std::variant<Ping, Pong, Add>;
  auto [a, b] = make_pair();
  ASSERT_EQ(typed::send(a, Pong{1}), Status::ok);
  ASSERT_EQ(typed::send(a, Add{1, 2}), Status::ok);
  ASSERT_EQ(typed::send(a, Ping{3, "p"}), Status::ok);
  Any m;
  ASSERT_EQ(typed::recv(b, m), Status::ok);
  EXPECT_EQ(std::get<Pong>(m).seq, 1u);
  ASSERT_EQ(typed::recv(b, m), Status::ok);
  EXPECT_EQ(std::get<Add>(m).b, 2);
  ASSERT_EQ(typed::recv(b, m), Status::ok);
  EXPECT_EQ(std::get<Ping>(m).text, "p");
}

TEST(Typed, an_unexpected_tag_names_the_expected_type_and_the_channel_stays_usable) {
  auto [a, b] = make_pair();
  ASSERT_EQ(typed::send(a, Pong{1}), Status::ok);
  ASSERT_EQ(typed::send(a, Ping{2, "next"}), Status::ok);
  Ping p;
  try {
    (void)typed::recv(b, p);
    FAIL() << "no DecodeError";
  } catch (const DecodeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'ping'"), std::string::npos) << what;
    EXPECT_NE(what.find("Ping"), std::string::npos) << what;
    EXPECT_NE(what.find("'pong'"), std::string::npos) << what;
    EXPECT_EQ(e.got_tag(), "pong");
    EXPECT_FALSE(e.raw().empty());
  }
  ASSERT_EQ(typed::recv(b, p), Status::ok);
  EXPECT_EQ(p.text, "next");

  std::variant<Ping, Add> m;
  ASSERT_EQ(typed::send(a, Sum{3}), Status::ok);
  try {
    (void)typed::recv(b, m);
    FAIL() << "no DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("one of 'ping'"), std::string::npos) << e.what();
  }
}

TEST(Typed, a_body_that_does_not_fit_the_type_is_a_decode_error) {
  auto [a, b] = make_pair();
  // Right tag, wrong body: a Pong's body under the tag "add" would not
  // parse as numbers a/b if the fields had other types; send a string body.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(2);
  pk.pack(std::string("add"));
  pk.pack(std::string("not a map"));
  ASSERT_EQ(a.send(typed::bytes_of(buf)), Status::ok);
  Add m;
  try {
    (void)typed::recv(b, m);
    FAIL() << "no DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
  }
  EXPECT_EQ(typed::try_recv(b, m), Status::would_block);
}

TEST(Typed, a_large_message_is_fragmented_and_decoded) {
  ChannelOptions options;
  options.ring_bytes = 64 * 1024;
  auto [a, b] = make_pair(options);
  OwnedBlob big{"big", std::vector<char>(3 * 1024 * 1024 + 17)};
  for (std::size_t i = 0; i < big.data.size(); ++i) big.data[i] = static_cast<char>(i * 131);
  std::thread writer([&, &a = a] { EXPECT_EQ(typed::send(a, big), Status::ok); });
  OwnedBlob got;
  ASSERT_EQ(typed::recv_for(b, got, 30s), Status::ok);
  writer.join();
  EXPECT_EQ(got.data, big.data);
}

// Random bytes, and valid messages with random bytes flipped: each frame
// either decodes or throws DecodeError; nothing crashes, nothing is lost, and
// a valid message after each one still decodes.
TEST(Typed, random_and_mutated_frames_never_break_the_channel) {
  auto [a, b] = make_pair();
  std::mt19937_64 rng(12345);
  msgpack::sbuffer valid;
  typed::encode(valid, Ping{99, "valid message"}, Kind::request, 5);
  int decoded = 0, rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> frame;
    if (i % 2 == 0) {
      frame.resize(rng() % 64);
      for (auto& x : frame) x = static_cast<std::byte>(rng());
    } else {
      frame.assign(typed::bytes_of(valid).begin(), typed::bytes_of(valid).end());
      for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
        frame[rng() % frame.size()] = static_cast<std::byte>(rng());
      }
    }
    ASSERT_EQ(a.send(frame), Status::ok);
    ASSERT_EQ(typed::send(a, Pong{static_cast<std::uint64_t>(i)}), Status::ok);
    std::variant<Ping, Pong> m;
    try {
      ASSERT_EQ(typed::recv(b, m), Status::ok);
      ++decoded;
    } catch (const DecodeError& e) {
      EXPECT_GT(std::string(e.what()).size(), 10u);
      ++rejected;
    }
    Pong next;
    ASSERT_EQ(typed::recv(b, next), Status::ok) << "frame " << i;
    ASSERT_EQ(next.seq, static_cast<std::uint64_t>(i));
  }
  EXPECT_GT(rejected, 10000);
  std::printf("random frames: %d decoded, %d rejected\n", decoded, rejected);
}

TEST(Typed, a_frame_claiming_a_huge_array_does_not_allocate_it) {
  auto [a, b] = make_pair();
  // array32 header claiming 2^32-1 elements, then nothing.
  const std::vector<std::byte> frame{std::byte{0xdd}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                     std::byte{0xff}};
  ASSERT_EQ(a.send(frame), Status::ok);
  Ping p;
  EXPECT_THROW((void)typed::recv(b, p), DecodeError);
}

TEST(Typed, transport_outcomes_pass_through_as_status) {
  auto [a, b] = make_pair();
  a.abort("test abort");
  Ping p;
  EXPECT_EQ(typed::recv(b, p), Status::aborted);
  EXPECT_EQ(typed::send(b, Ping{}), Status::aborted);
}

}  // namespace
}  // namespace shmring
