// Envelope parsing and the small non-template parts of the typed layer.
#include "shmring/typed.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace shmring::typed {

std::string_view to_string(Kind kind) {
  switch (kind) {
    case Kind::tell: return "tell";
    case Kind::request: return "request";
    case Kind::reply: return "reply";
    case Kind::error: return "error";
  }
  return "unknown";
}

DecodeError::DecodeError(std::string what, std::string expected, std::string got_tag, std::span<const std::byte> raw)
    : std::runtime_error(std::move(what)),
      expected_(std::move(expected)),
      got_tag_(std::move(got_tag)),
      raw_(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(raw.size(), 4096))) {}

namespace detail {

std::string type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

std::string describe(std::string_view tag, const std::type_info& type) {
  std::string out = "'";
  out += tag;
  out += "' (";
  out += type_name(type);
  out += ")";
  return out;
}

void throw_bad_body(std::string_view tag, const std::string& expected, const char* why,
                    std::span<const std::byte> frame) {
  std::string what = "body of '";
  what += tag;
  what += "' does not fit ";
  what += expected;
  what += ": ";
  what += why;
  throw DecodeError(std::move(what), expected, std::string(tag), frame);
}

void throw_wrong_tag(std::string_view tag, const std::string& expected, std::span<const std::byte> frame) {
  std::string what = "expected ";
  what += expected;
  what += ", got a message tagged '";
  what += tag;
  what += "'";
  throw DecodeError(std::move(what), expected, std::string(tag), frame);
}

msgpack::sbuffer& scratch_buffer() {
  thread_local msgpack::sbuffer buffer(256);
  return buffer;
}

namespace {

// Strings, binaries and extension payloads point into the frame instead of
// being copied into the zone: the frame outlives the object (View holds it).
bool reference_payloads(msgpack::type::object_type, std::size_t, void*) { return true; }

const char* type_word(msgpack::type::object_type t) {
  switch (t) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "a float";
    case msgpack::type::STR: return "a string";
    case msgpack::type::BIN: return "a binary";
    case msgpack::type::ARRAY: return "an array";
    case msgpack::type::MAP: return "a map";
    case msgpack::type::EXT: return "an extension value";
  }
  return "an unknown value";
}

}  // namespace

Envelope parse(std::span<const std::byte> frame, msgpack::object_handle& holder,
               const std::function<std::string()>& expected_fn) {
  auto fail = [&](const std::string& why) -> DecodeError {
    const std::string expected = expected_fn();
    return DecodeError("expected " + expected + ", but the frame " + why, expected, "", frame);
  };
  // Each element of a container takes at least one byte, so no honest frame
  // declares more elements (or longer strings) than it has bytes; the limit
  // keeps a corrupt header from making msgpack-c allocate gigabytes.
  const std::size_t n = frame.size();
  const msgpack::unpack_limit limit(n, n, n, n, n, 64);
  std::size_t offset = 0;
  try {
    msgpack::unpack(holder, reinterpret_cast<const char*>(frame.data()), n, offset, reference_payloads, nullptr,
                    limit);
  } catch (const std::exception& e) {
    throw fail(std::string("is not valid msgpack (") + e.what() + ")");
  }
  if (offset != n) {
    throw fail("has " + std::to_string(n - offset) + " bytes after its msgpack value");
  }
  const msgpack::object& root = holder.get();
  if (root.type != msgpack::type::ARRAY || (root.via.array.size != 2 && root.via.array.size != 4)) {
    throw fail(std::string("holds ") + type_word(root.type) +
               (root.type == msgpack::type::ARRAY ? " of " + std::to_string(root.via.array.size) + " elements" : "") +
               ", not a typed message [tag, body] or [tag, body, kind, id]");
  }
  const msgpack::object* items = root.via.array.ptr;
  if (items[0].type != msgpack::type::STR) {
    throw fail(std::string("has ") + type_word(items[0].type) + " where the tag string belongs");
  }
  Envelope env;
  env.tag = std::string_view(items[0].via.str.ptr, items[0].via.str.size);
  env.body = items[1];
  if (root.via.array.size == 4) {
    if (items[2].type != msgpack::type::POSITIVE_INTEGER || items[2].via.u64 > 3 ||
        (items[3].type != msgpack::type::POSITIVE_INTEGER)) {
      const std::string expected = expected_fn();
      throw DecodeError("expected " + expected + ", but the message tagged '" + std::string(env.tag) +
                            "' has a kind/id that is not (0..3, unsigned integer)",
                        expected, std::string(env.tag), frame);
    }
    env.kind = static_cast<Kind>(items[2].via.u64);
    env.id = items[3].via.u64;
  }
  return env;
}

}  // namespace detail
}  // namespace shmring::typed
