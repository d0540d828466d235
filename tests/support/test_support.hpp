// Helpers shared by shmring's C++ tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <span>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace shmring::testing {

// Ends the whole test program with a message if a test hangs: tests that
// could deadlock run under one, so a lost wake-up fails loudly instead of
// stalling CI. It bounds a hang, it does not time the code.
//
// It uses alarm()/SIGALRM rather than a thread on purpose: a test that forks
// must have no other threads at fork time (a forked child of a multi-threaded
// process can deadlock on a lock another thread held), and alarms are not
// inherited by children.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit, const char* what = "test") : started_(std::chrono::steady_clock::now()) {
    what_ = what;
    struct sigaction sa {};
    sa.sa_handler = &Watchdog::fire;
    ::sigaction(SIGALRM, &sa, &previous_handler_);
    previous_left_ = ::alarm(static_cast<unsigned>(limit.count()));
  }
  // Gives the test's own limit (PerTestWatchdog) back, less the time spent here.
  ~Watchdog() {
    ::alarm(0);
    ::sigaction(SIGALRM, &previous_handler_, nullptr);
    if (previous_left_ > 0) {
      const auto spent = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
      const long left = static_cast<long>(previous_left_) - static_cast<long>(spent.count());
      ::alarm(static_cast<unsigned>(left > 0 ? left : 1));
    }
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  static void fire(int) {
    static const char prefix[] = "watchdog: still running after its limit (deadlock or lost wake-up): ";
    (void)!::write(2, prefix, sizeof prefix - 1);
    (void)!::write(2, what_, std::strlen(what_));
    (void)!::write(2, "\n", 1);
    std::_Exit(99);
  }
  static inline const char* what_ = "test";
  std::chrono::steady_clock::time_point started_;
  struct sigaction previous_handler_ {};
  unsigned previous_left_ = 0;
};

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
inline std::string text_of(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// FNV-1a: a cheap checksum to prove payloads arrive intact.
inline std::uint64_t checksum(std::span<const std::byte> data) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::byte b : data) h = (h ^ static_cast<std::uint8_t>(b)) * 1099511628211ULL;
  return h;
}

// Runs `body` in a forked child and returns its pid. The child exits with
// body's return value and never returns into the test framework.
inline pid_t fork_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 100;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return pid;
}

// The eventfds this process holds (what a peer that received them by
// SCM_RIGHTS could tamper with), found in /proc/self/fd.
inline std::vector<int> open_eventfds() {
  std::vector<int> fds;
  for (int fd = 0; fd < 1024; ++fd) {
    char link[64];
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    const auto n = ::readlink(proc.c_str(), link, sizeof link - 1);
    if (n <= 0) continue;
    link[n] = '\0';
    if (std::strcmp(link, "anon_inode:[eventfd]") == 0) fds.push_back(fd);
  }
  return fds;
}

// Every test of a binary that includes this header is bounded: SIGALRM after
// the test's limit names it and ends the process with status 99 (a signal
// handler needs no lock and no GIL, so it works in the spawner's tests too,
// and it starts no thread: TSan refuses threads started after a fork of a
// multi-threaded process). A Watchdog inside a test sets its own limit for its
// scope and gives the test's back after. A forked child inherits no alarm. The
// limit is SHMRING_TEST_LIMIT_SECONDS, else 600 s (sanitizer builds run stress
// tests many times slower).
class PerTestWatchdog : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& test) override {
    std::snprintf(name_, sizeof name_, "%s.%s", test.test_suite_name(), test.name());
    struct sigaction sa {};
    sa.sa_handler = &PerTestWatchdog::fire;
    ::sigaction(SIGALRM, &sa, nullptr);
    ::alarm(static_cast<unsigned>(limit().count()));
  }
  void OnTestEnd(const ::testing::TestInfo&) override { ::alarm(0); }

 private:
  static std::chrono::seconds limit() {
    const char* env = std::getenv("SHMRING_TEST_LIMIT_SECONDS");
    const long v = env != nullptr ? std::strtol(env, nullptr, 10) : 0;
    return std::chrono::seconds(v > 0 ? v : 600);
  }
  static void fire(int) {
    static const char prefix[] = "watchdog: still running after its limit (deadlock or lost wake-up?): ";
    (void)!::write(2, prefix, sizeof prefix - 1);
    (void)!::write(2, name_, std::strlen(name_));
    (void)!::write(2, "\n", 1);
    std::_Exit(99);
  }
  static inline char name_[256] = "test";
};

// Registered once per test binary, before main() runs the tests.
inline const bool per_test_watchdog_installed = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new PerTestWatchdog);
  return true;
}();

// Waits for a child; returns its exit code, or 128+signal if it was killed.
inline int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A fresh 0700 directory for sockets, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shmring-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Sizes of the stress tests: smaller under the sanitizers, which run 5-50x slower.
inline std::size_t stress_scale(std::size_t full) {
#if defined(__SANITIZE_THREAD__)
  return full / 20;
#elif defined(__SANITIZE_ADDRESS__)
  return full / 5;
#else
  return full;
#endif
}

}  // namespace shmring::testing
