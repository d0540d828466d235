// Listener and connect (transport/src/listener.cpp): what a demanding user
// would try: connecting where nobody listens, stale sockets, insecure
// directories, peers of another uid, garbage and stalling peers, event-loop
// style use, and close() from another thread. Real sockets, real forked
// peers.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "handshake.hpp"
#include "platform.hpp"
#include "shmring/shmring.hpp"
#include "channels.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using testing::accept_one;
using testing::bytes_of;
using testing::TempDir;
using testing::text_of;
using testing::Watchdog;

TEST(Listener, connect_to_a_path_nobody_listens_on_fails_fast_with_a_clear_error) {
  TempDir dir;
  try {
    connect(dir.file("nobody.sock"));
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("nothing listens there"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir.file("nobody.sock")), std::string::npos) << e.what();
  }
  { auto fd = detail::listen_unix(dir.file("stale.sock")); }  // a dead listener's leftover
  try {
    connect(dir.file("stale.sock"));
    FAIL() << "connected to a stale socket";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), ECONNREFUSED);
  }
}

TEST(Listener, connect_times_out_when_the_listener_never_accepts) {
  TempDir dir;
  Listener listener(dir.file("idle.sock"));
  try {
    connect(dir.file("idle.sock"), {}, 100ms);
    FAIL() << "handshake completed without accept";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), ETIMEDOUT);
    EXPECT_NE(std::string(e.what()).find("did not answer"), std::string::npos) << e.what();
  }
}

TEST(Listener, a_stale_socket_is_replaced_and_a_live_listener_is_an_error) {
  TempDir dir;
  const std::string path = dir.file("l.sock");
  { auto stale = detail::listen_unix(path); }  // a dead listener's leftover
  Listener first(path);
  try {
    Listener second(path);
    FAIL() << "two listeners on one path";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
  }
  first.close();
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);  // removed on close
}

TEST(Listener, listener_refuses_a_directory_other_users_can_enter) {
  TempDir dir;
  const std::string open_dir = dir.file("open");
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0755), 0);
  try {
    Listener l(open_dir + "/x.sock");
    FAIL() << "listened in a 0755 directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), EACCES);
    EXPECT_NE(std::string(e.what()).find("mode 0755"), std::string::npos) << e.what();
  }
  // A missing directory is created private.
  Listener made(dir.file("fresh") + "/x.sock");
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("fresh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(made.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Reads the listener's reply on a raw connection (bounded wait).
std::string read_reply(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10'000) != 1) return "<no reply>";
  detail::Reply reply;
  const auto n = ::recv(fd, &reply, sizeof reply, 0);
  if (n != static_cast<ssize_t>(sizeof reply)) return "<short reply>";
  return (reply.accepted ? "accepted: " : "refused: ") + std::string(reply.text, std::min<std::size_t>(reply.text_length, 231));
}

TEST(Listener, listener_refuses_a_peer_of_another_uid) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching to another uid needs root; this runs as uid " << ::geteuid();
  TempDir dir;
  Listener listener(dir.file("guarded.sock"));
  // Open the door on purpose, so only the SO_PEERCRED check stands in the way.
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(listener.path().c_str(), 0666), 0);
  Watchdog dog(60s);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = testing::fork_child([&] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 3;
    auto fd = detail::connect_unix(listener.path());
    const std::string reply = read_reply(fd.get());
    if (::write(pipe_fds[1], reply.data(), reply.size()) < 0) return 6;
    // shmring::connect refuses a listener of another uid on its side too.
    try {
      connect(listener.path());
      return 4;
    } catch (const Error& e) {
      return std::string(e.what()).find("runs as uid 0") != std::string::npos ? 0 : 5;
    }
  });
  ::close(pipe_fds[1]);
  while (listener.refused_count() == 0) (void)listener.accept_for(50ms);
  EXPECT_EQ(testing::wait_child(child), 0);
  char buf[512] = {};
  const auto n = ::read(pipe_fds[0], buf, sizeof buf - 1);
  ::close(pipe_fds[0]);
  const std::string reply(buf, n > 0 ? n : 0);
  EXPECT_NE(reply.find("refused: uid 65534"), std::string::npos) << reply;
  EXPECT_NE(listener.last_refusal().find("accepts only its own uid 0"), std::string::npos) << listener.last_refusal();
}

TEST(Listener, garbage_instead_of_a_hello_is_refused_and_the_listener_keeps_serving) {
  TempDir dir;
  Listener listener(dir.file("l.sock"));
  auto raw = detail::connect_unix(listener.path());
  const char junk[16] = "not a hello!!!!";
  ASSERT_EQ(::send(raw.get(), junk, sizeof junk, 0), static_cast<ssize_t>(sizeof junk));
  EXPECT_FALSE(listener.accept_for(100ms).has_value());
  EXPECT_EQ(listener.refused_count(), 1u);
  EXPECT_NE(read_reply(raw.get()).find("refused: "), std::string::npos);
  Watchdog dog(60s);
  const pid_t child = testing::fork_child([&] {
    Endpoint ep = connect(listener.path());
    return ep.send(bytes_of("fine")) == Status::ok ? 0 : 1;
  });
  Endpoint ep = accept_one(listener);
  std::vector<std::byte> got;
  EXPECT_EQ(ep.recv(got), Status::ok);
  EXPECT_EQ(testing::wait_child(child), 0);
}

TEST(Listener, a_peer_that_stalls_in_the_handshake_is_dropped) {
  TempDir dir;
  Listener listener(dir.file("l.sock"), {}, 100ms);
  auto raw = detail::connect_unix(listener.path());  // and then says nothing
  EXPECT_FALSE(listener.accept_for(1s).has_value());
  EXPECT_EQ(listener.refused_count(), 1u);
  EXPECT_NE(listener.last_refusal().find("did not complete the handshake"), std::string::npos);
}

TEST(Listener, event_loop_style_connect_and_accept_never_block) {
  TempDir dir;
  Listener listener(dir.file("l.sock"));
  auto pending = PendingConnection::start(listener.path());
  EXPECT_FALSE(pending.try_finish().has_value());  // no answer yet: the listener has not run
  std::optional<Endpoint> server;
  for (int i = 0; i < 1000 && !server; ++i) {
    pollfd p{listener.fileno(), POLLIN, 0};
    ::poll(&p, 1, 10);
    server = listener.try_accept();
  }
  ASSERT_TRUE(server.has_value());
  std::optional<Endpoint> client;
  for (int i = 0; i < 1000 && !client; ++i) {
    pollfd p{pending.fileno(), POLLIN, 0};
    ::poll(&p, 1, 10);
    client = pending.try_finish();
  }
  ASSERT_TRUE(client.has_value());
  ASSERT_EQ(client->send(bytes_of("same process")), Status::ok);
  std::vector<std::byte> got;
  ASSERT_EQ(server->recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "same process");
}

TEST(Listener, close_from_another_thread_wakes_an_accept_that_waits_forever) {
  TempDir dir;
  Listener listener(dir.file("l.sock"));
  Watchdog dog(60s);
  auto waiting = std::async(std::launch::async, [&] {
    try {
      listener.accept();
      return std::string("accepted nothing but returned");
    } catch (const Error& e) {
      return std::string(e.code().value() == EBADF ? "EBADF: " : "other: ") + e.what();
    }
  });
  EXPECT_EQ(waiting.wait_for(50ms), std::future_status::timeout);  // it does wait
  listener.close();
  const std::string outcome = waiting.get();
  EXPECT_EQ(outcome.rfind("EBADF: ", 0), 0u) << outcome;
}

}  // namespace
}  // namespace shmring
