// Typed messages over a shmring Endpoint, encoded with msgpack-c.
//
// A message type is any struct msgpack-c can pack (MSGPACK_DEFINE_MAP,
// MSGPACK_DEFINE or a hand-written adaptor) that names itself with a tag:
//
//   struct Ping {
//     static constexpr std::string_view tag = "ping";
//     std::uint64_t seq = 0;
//     std::string text;
//     MSGPACK_DEFINE_MAP(seq, text)
//   };
//
// On the wire every message is one frame holding a msgpack array
// [tag, body] or, for requests and replies, [tag, body, kind, id] (see
// docs/wire-format.md, "Typed messages"), so a peer in any language with a
// msgpack codec can read and write it.
//
// Receiving decodes straight from the frame in shared memory: strings and
// binaries are referenced, not copied, while the frame is held. Owning field
// types (std::string, std::vector) copy once into the value; view field types
// (std::string_view, msgpack::type::raw_ref) stay in shared memory and are
// valid until the View is released.
//
// A frame that is not msgpack, not an envelope, has another tag than the one
// expected or a body that does not fit the type is consumed and reported by
// throwing DecodeError (with the raw bytes); the channel stays usable.
// Transport outcomes (would_block, timeout, peer_closed, ...) are Status
// values, as in the transport.
#pragma once

#include <msgpack.hpp>

#include <chrono>
#include <concepts>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "shmring/endpoint.hpp"
#include "shmring/status.hpp"

namespace shmring::typed {

// A type that can travel as a typed message.
template <class T>
concept Message = requires {
  { T::tag } -> std::convertible_to<std::string_view>;
} && std::default_initializable<T>;

template <class T>
struct is_message_variant : std::false_type {};
template <Message... Ts>
struct is_message_variant<std::variant<Ts...>> : std::true_type {};

// What recv/peek accept: one message type, or a std::variant of them (the
// tag picks the alternative).
template <class T>
concept Receivable = Message<T> || is_message_variant<T>::value;

// The envelope's third element. Plain messages ("tell") have none.
enum class Kind : std::uint8_t {
  tell = 0,     // no reply expected
  request = 1,  // the receiver replies with the same id
  reply = 2,    // answers request `id`
  error = 3,    // answers request `id` with a failure; the body is an ErrorBody
};
std::string_view to_string(Kind kind);

// The body of a Kind::error reply.
struct ErrorBody {
  static constexpr std::string_view tag = "shmring.error";
  std::string message;
  MSGPACK_DEFINE_MAP(message)
};

// A received frame that could not be decoded as the expected type. The frame
// was consumed; the channel stays usable.
class DecodeError : public std::runtime_error {
 public:
  DecodeError(std::string what, std::string expected, std::string got_tag, std::span<const std::byte> raw);
  // The expected type, e.g. "'ping' (Ping)" or "one of 'a' (A), 'b' (B)".
  const std::string& expected() const noexcept { return expected_; }
  // The tag the frame carried ("" if it had none).
  const std::string& got_tag() const noexcept { return got_tag_; }
  // The frame as received (at most the first 4 KiB).
  std::span<const std::byte> raw() const noexcept { return raw_; }

 private:
  std::string expected_;
  std::string got_tag_;
  std::vector<std::byte> raw_;
};

// A parsed envelope. body and tag reference the frame and the zone behind the
// object handle: valid while both live.
struct Envelope {
  std::string_view tag;
  msgpack::object body;
  Kind kind = Kind::tell;
  std::uint64_t id = 0;
};

namespace detail {

// The demangled C++ type name, for error messages.
std::string type_name(const std::type_info& type);

// "'tag' (Type)". Message texts are built out of line: shorter code at each
// call site (and GCC 12 warns falsely on some inlined string concatenations).
std::string describe(std::string_view tag, const std::type_info& type);
template <Message T>
std::string describe() {
  return describe(std::string_view(T::tag), typeid(T));
}
[[noreturn]] void throw_bad_body(std::string_view tag, const std::string& expected, const char* why,
                                 std::span<const std::byte> frame);
[[noreturn]] void throw_wrong_tag(std::string_view tag, const std::string& expected, std::span<const std::byte> frame);
template <class V>
struct VariantDescription;
template <Message... Ts>
struct VariantDescription<std::variant<Ts...>> {
  static std::string get() {
    std::string out = "one of ";
    ((out += describe<Ts>(), out += ", "), ...);
    out.resize(out.size() - 2);
    return out;
  }
};
template <Receivable T>
std::string describe_receivable() {
  if constexpr (Message<T>) {
    return describe<T>();
  } else {
    return VariantDescription<T>::get();
  }
}

// Parses a frame into an envelope, referencing strings and binaries in the
// frame instead of copying them. Throws DecodeError naming what `expected()`
// says (called only then: describing a type demangles its name, too slow for
// every message).
Envelope parse(std::span<const std::byte> frame, msgpack::object_handle& holder,
               const std::function<std::string()>& expected);

// Converts an envelope's body into T (the tag already matched).
template <Message T>
void convert_body(const Envelope& env, std::span<const std::byte> frame, T& out) {
  try {
    env.body.convert(out);
  } catch (const std::exception& e) {
    throw_bad_body(env.tag, describe<T>(), e.what(), frame);
  }
}

template <class V, std::size_t I = 0>
bool convert_variant(const Envelope& env, std::span<const std::byte> frame, V& out) {
  if constexpr (I == std::variant_size_v<V>) {
    return false;
  } else {
    using Alt = std::variant_alternative_t<I, V>;
    if (env.tag == std::string_view(Alt::tag)) {
      convert_body(env, frame, out.template emplace<I>());
      return true;
    }
    return convert_variant<V, I + 1>(env, frame, out);
  }
}

template <Message... Ts>
constexpr bool tags_unique() {
  constexpr std::string_view tags[] = {std::string_view(Ts::tag)...};
  for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
    for (std::size_t j = i + 1; j < sizeof...(Ts); ++j) {
      if (tags[i] == tags[j]) return false;
    }
  }
  return true;
}
template <class V>
struct VariantTagsUnique;
template <Message... Ts>
struct VariantTagsUnique<std::variant<Ts...>> : std::bool_constant<tags_unique<Ts...>()> {};

// Decodes an envelope whose kind the caller accepts into T.
template <Receivable T>
void decode_into(const Envelope& env, std::span<const std::byte> frame, T& out) {
  if constexpr (Message<T>) {
    if (env.tag != std::string_view(T::tag)) throw_wrong_tag(env.tag, describe<T>(), frame);
    convert_body(env, frame, out);
  } else {
    static_assert(VariantTagsUnique<T>::value, "the alternatives of a message variant need distinct tags");
    if (!convert_variant(env, frame, out)) throw_wrong_tag(env.tag, describe_receivable<T>(), frame);
  }
}

// The encoder's buffer: one per thread, reused, so sending allocates nothing
// once it has grown to the largest message.
msgpack::sbuffer& scratch_buffer();

}  // namespace detail

// Encodes `value` as one frame's bytes into `out` (cleared first).
template <Message T>
void encode(msgpack::sbuffer& out, const T& value, Kind kind = Kind::tell, std::uint64_t id = 0) {
  out.clear();
  msgpack::packer<msgpack::sbuffer> pk(out);
  pk.pack_array(kind == Kind::tell ? 2 : 4);
  const std::string_view tag(T::tag);
  pk.pack_str(static_cast<std::uint32_t>(tag.size()));
  pk.pack_str_body(tag.data(), static_cast<std::uint32_t>(tag.size()));
  pk.pack(value);
  if (kind != Kind::tell) {
    pk.pack(static_cast<std::uint8_t>(kind));
    pk.pack(id);
  }
}

inline std::span<const std::byte> bytes_of(const msgpack::sbuffer& buffer) {
  return std::as_bytes(std::span<const char>(buffer.data(), buffer.size()));
}

// --- sending ---------------------------------------------------------------
// As Endpoint::send / try_send / send_for, with the value encoded first.
template <Message T>
[[nodiscard]] Status send(Endpoint& ep, const T& value, Kind kind = Kind::tell, std::uint64_t id = 0) {
  msgpack::sbuffer& buffer = detail::scratch_buffer();
  encode(buffer, value, kind, id);
  return ep.send(bytes_of(buffer));
}
template <Message T>
[[nodiscard]] Status try_send(Endpoint& ep, const T& value, Kind kind = Kind::tell, std::uint64_t id = 0) {
  msgpack::sbuffer& buffer = detail::scratch_buffer();
  encode(buffer, value, kind, id);
  return ep.try_send(bytes_of(buffer));
}
template <Message T>
[[nodiscard]] Status send_for(Endpoint& ep, const T& value, std::chrono::nanoseconds timeout, Kind kind = Kind::tell,
                              std::uint64_t id = 0) {
  msgpack::sbuffer& buffer = detail::scratch_buffer();
  encode(buffer, value, kind, id);
  return ep.send_for(bytes_of(buffer), timeout);
}

// --- receiving, zero-copy --------------------------------------------------
// A decoded message that may reference the frame in shared memory. The
// endpoint's receive side stays held (as with Endpoint::peek) until release()
// or destruction; receive the next message only after that.
template <Receivable T>
class View {
 public:
  View() = default;
  View(const View&) = delete;
  View& operator=(const View&) = delete;
  View(View&& other) noexcept { *this = std::move(other); }
  View& operator=(View&& other) noexcept {
    if (this != &other) {
      release();
      endpoint_ = std::exchange(other.endpoint_, nullptr);
      handle_ = std::move(other.handle_);
      value_ = std::move(other.value_);
      kind_ = other.kind_;
      id_ = other.id_;
    }
    return *this;
  }
  ~View() { release(); }

  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }
  const T& value() const { return value_; }
  Kind kind() const { return kind_; }
  std::uint64_t id() const { return id_; }
  explicit operator bool() const { return endpoint_ != nullptr; }

  // Moves the value out and releases the frame (for owning types).
  T take() {
    T out = std::move(value_);
    release();
    return out;
  }

  // Lets the ring reuse the frame; views inside the value dangle afterwards.
  void release() {
    if (endpoint_ != nullptr) std::exchange(endpoint_, nullptr)->release();
  }

 private:
  template <Receivable U>
  friend Status decode_peeked(Endpoint& ep, Status status, std::span<const std::byte> frame, View<U>& out);

  Endpoint* endpoint_ = nullptr;
  msgpack::object_handle handle_;
  T value_{};
  Kind kind_ = Kind::tell;
  std::uint64_t id_ = 0;
};

// Shared by peek/try_peek/peek_for: decodes a peeked frame into `out`, or
// releases it and throws DecodeError.
template <Receivable T>
Status decode_peeked(Endpoint& ep, Status status, std::span<const std::byte> frame, View<T>& out) {
  // `out` was released by the caller before it peeked (a held view would
  // make the peek return the same frame again).
  if (status != Status::ok) return status;
  try {
    const Envelope env = detail::parse(frame, out.handle_, &detail::describe_receivable<T>);
    detail::decode_into(env, frame, out.value_);
    out.kind_ = env.kind;
    out.id_ = env.id;
  } catch (...) {
    ep.release();  // consumed: the next receive gets the next message
    throw;
  }
  out.endpoint_ = &ep;
  return Status::ok;
}

template <Receivable T>
[[nodiscard]] Status peek(Endpoint& ep, View<T>& out) {
  out.release();
  std::span<const std::byte> frame;
  const Status st = ep.peek(frame);
  return decode_peeked(ep, st, frame, out);
}
template <Receivable T>
[[nodiscard]] Status try_peek(Endpoint& ep, View<T>& out) {
  out.release();
  std::span<const std::byte> frame;
  const Status st = ep.try_peek(frame);
  return decode_peeked(ep, st, frame, out);
}
template <Receivable T>
[[nodiscard]] Status peek_for(Endpoint& ep, View<T>& out, std::chrono::nanoseconds timeout) {
  out.release();
  std::span<const std::byte> frame;
  const Status st = ep.peek_for(frame, timeout);
  return decode_peeked(ep, st, frame, out);
}

// --- receiving into owned values -------------------------------------------
// The value must own its data (no views): the frame is released on return.
template <Receivable T>
[[nodiscard]] Status recv(Endpoint& ep, T& out) {
  View<T> view;
  const Status st = peek(ep, view);
  if (st == Status::ok) out = view.take();
  return st;
}
template <Receivable T>
[[nodiscard]] Status try_recv(Endpoint& ep, T& out) {
  View<T> view;
  const Status st = try_peek(ep, view);
  if (st == Status::ok) out = view.take();
  return st;
}
template <Receivable T>
[[nodiscard]] Status recv_for(Endpoint& ep, T& out, std::chrono::nanoseconds timeout) {
  View<T> view;
  const Status st = peek_for(ep, view, timeout);
  if (st == Status::ok) out = view.take();
  return st;
}

}  // namespace shmring::typed
