// Channel resources (transport/src/channel.cpp): the segment and eventfds a
// creator makes, and what attaching to a segment someone else made refuses
// (a buggy or hostile peer hands us the fds): each refusal is an Error with
// EPROTO and a sentence, never a mapping we would read out of bounds.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "channel.hpp"
#include "layout.hpp"
#include "shmring/shmring.hpp"
#include "channels.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using detail::ControlBlock;
using detail::UniqueFd;
using testing::small_ring_without_spin;

TEST(CreateChannel, makes_a_private_sealed_memory_file_and_four_nonblocking_eventfds) {
  auto sut = detail::create_channel(small_ring_without_spin());
  struct stat st {};
  ASSERT_EQ(::fstat(sut->memory.get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), sut->control()->segment_bytes);
  const int seals = ::fcntl(sut->memory.get(), F_GET_SEALS);
  EXPECT_TRUE((seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW) && (seals & F_SEAL_SEAL)) << seals;
  for (int s = 0; s < 2; ++s) {
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(detail::is_eventfd(sut->wake[s][r].get()));
      EXPECT_TRUE(detail::is_nonblocking(sut->wake[s][r].get()));
    }
  }
  EXPECT_EQ(sut->ring_bytes, 4096u);
}

struct Handed {
  std::shared_ptr<detail::ChannelResources> creator;
  ControlBlock& control() { return *creator->control(); }

  Handed() : creator(detail::create_channel(small_ring_without_spin())) {}

  // Attach from duplicates of the creator's fds, as a listener would.
  std::shared_ptr<detail::ChannelResources> attach() {
    UniqueFd wake[2][2];
    for (int s = 0; s < 2; ++s)
      for (int r = 0; r < 2; ++r) wake[s][r] = UniqueFd(::dup(creator->wake[s][r].get()));
    return detail::attach_channel(UniqueFd(::dup(creator->memory.get())), wake);
  }

  void expect_attach_refused(const std::string& words) {
    try {
      attach();
      FAIL() << "attached to a bad segment";
    } catch (const Error& e) {
      EXPECT_EQ(e.code().value(), EPROTO);
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }
};

TEST(AttachChannel, a_good_segment_attaches) {
  Handed sut;
  auto res = sut.attach();
  EXPECT_EQ(res->ring_bytes, 4096u);
}

TEST(AttachChannel, refuses_bad_magic) {
  Handed sut;
  sut.control().magic = 0x1234;
  sut.expect_attach_refused("magic");
}

TEST(AttachChannel, refuses_other_layout_version) {
  Handed sut;
  sut.control().layout_version = 99;
  sut.expect_attach_refused("layout version is 99");
}

TEST(AttachChannel, refuses_wrong_control_block_size) {
  Handed sut;
  sut.control().control_bytes = 64;
  sut.expect_attach_refused("control block size");
}

TEST(AttachChannel, refuses_segment_size_that_disagrees_with_the_file) {
  Handed sut;
  sut.control().segment_bytes = 1 << 30;
  sut.expect_attach_refused("segment claims");
}

TEST(AttachChannel, refuses_ring_size_not_a_power_of_two) {
  Handed sut;
  sut.control().ring_bytes = 3000;
  sut.expect_attach_refused("not a power of two");
}

TEST(AttachChannel, refuses_ring_offsets_outside_the_segment) {
  Handed sut;
  sut.control().ring_offset[1] = 1 << 20;
  sut.expect_attach_refused("ring offsets");
}

TEST(AttachChannel, refuses_maximum_message_size_out_of_range) {
  Handed sut;
  sut.control().max_message_bytes = 0;
  sut.expect_attach_refused("maximum message size");
}

TEST(AttachChannel, refuses_memory_that_is_not_sealed) {
  Handed sut;
  UniqueFd unsealed(::memfd_create("not-sealed", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(unsealed.get(), 4096 * 3), 0);
  UniqueFd wake[2][2];
  try {
    detail::attach_channel(std::move(unsealed), wake);
    FAIL() << "attached to an unsealed memory file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not sealed"), std::string::npos) << e.what();
  }
}

TEST(AttachChannel, refuses_wake_descriptor_that_is_not_an_eventfd) {
  Handed sut;
  UniqueFd wake[2][2];
  for (int s = 0; s < 2; ++s)
    for (int r = 0; r < 2; ++r) wake[s][r] = UniqueFd(::dup(sut.creator->wake[s][r].get()));
  wake[1][1] = UniqueFd(::dup(sut.creator->memory.get()));
  try {
    detail::attach_channel(UniqueFd(::dup(sut.creator->memory.get())), wake);
    FAIL() << "accepted a memory file as an eventfd";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an eventfd"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shmring
