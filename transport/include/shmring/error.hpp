// Errors of set-up calls (creating, connecting, listening). Data-path calls
// return shmring::Status instead.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace shmring {

// A set-up call failed. what() names the operation and the object; code() is
// the errno behind it when there is one (ECONNREFUSED, ENOENT, EACCES, ...),
// or EPROTO for a peer that broke the handshake or the layout.
class Error : public std::system_error {
 public:
  Error(int errno_value, std::string what)
      : std::system_error(errno_value, std::generic_category()), what_(std::move(what)) {}
  // The sentence as given (std::system_error would append the errno text a
  // second time: the sentences here already say it where it helps).
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

}  // namespace shmring
