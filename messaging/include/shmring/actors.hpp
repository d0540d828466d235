// Actors: a thread with a mailbox, fed by any number of endpoints (in-process
// or cross-process) and by local senders, dispatching typed messages to
// handlers.
//
//   shmring::actors::Actor counter({.name = "counter"});
//   counter.on<Add>([&](const Add& a, Context&) { return Sum{total += a.n}; });
//   counter.attach(std::move(endpoint));       // a peer: C++, Python, ...
//   counter.start();
//   Sum s = counter.ref().ask<Sum>(Add{2}, 1s); // from any thread
//
// Rules:
// - Handlers run one at a time on the actor's thread. A handler for a
//   request may return a message: it becomes the reply. Context::reply does
//   the same explicitly (once per request).
// - Sending from a handler never blocks the actor: a message that does not
//   fit the ring waits in the peer's outbox and leaves when there is room.
// - A handler that throws fails the actor. Failure and stop both end the
//   actor the same way: every attached channel is aborted with a reason
//   naming the actor ("actor 'counter' failed: ..."), so every peer learns at
//   once; pending asks fail; the exit is reported to a supervisor.
// - A frame that is not a typed message, or carries an unknown tag, does not
//   fail the actor: a request gets an error reply, the rest is counted (and
//   passed to on_unhandled if set). The channel stays usable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shmring/endpoint.hpp"
#include "shmring/typed.hpp"

namespace shmring::actors {

using typed::Message;

// Which endpoint a message came from. 0 is the local mailbox.
using PeerId = std::uint32_t;
inline constexpr PeerId kLocal = 0;

// Why a request produced no reply.
class RequestError : public std::runtime_error {
 public:
  enum class Reason : std::uint8_t {
    timeout,       // no reply within the timeout
    remote_error,  // the receiver replied with an error (no handler, failure)
    channel_lost,  // the channel ended (peer closed, died, aborted) or the actor stopped
    bad_reply,     // the reply did not decode as the expected type
  };
  RequestError(Reason reason, std::string what) : std::runtime_error(std::move(what)), reason_(reason) {}
  Reason reason() const noexcept { return reason_; }

 private:
  Reason reason_;
};
std::string_view to_string(RequestError::Reason reason);

// A reply or why there is none.
template <Message Rep>
class Result {
 public:
  explicit Result(Rep value) : value_(std::move(value)) {}
  explicit Result(RequestError error) : error_(std::move(error)) {}
  bool ok() const { return value_.has_value(); }
  // The reply; throws the RequestError if there is none.
  Rep& value() {
    if (!value_) throw *error_;
    return *value_;
  }
  const RequestError& error() const { return *error_; }

 private:
  std::optional<Rep> value_;
  std::optional<RequestError> error_;
};

struct ActorOptions {
  std::string name = "actor";  // thread name (first 15 bytes) and in abort reasons
  // Busy-poll this long after the last message before parking (lower latency,
  // one core busy while messages flow). 0 parks at once.
  std::chrono::nanoseconds spin = std::chrono::microseconds(50);
  // A peer whose outbox (messages waiting for ring room) grows beyond this is
  // aborted: it stopped reading.
  std::size_t max_outbox_bytes = std::size_t{64} << 20;
};

// How an actor ended.
struct ExitInfo {
  bool failed = false;
  std::string reason;  // "stopped", "failed: <what>", ...
};

class Actor;
class Context;
namespace detail {
struct ActorCore;
struct AskState;
class Loop;
using Handler = std::function<void(const typed::Envelope&, std::span<const std::byte> frame, Context&)>;
using ReplyHandler =
    std::function<void(std::span<const std::byte> frame, const typed::Envelope*, RequestError*, Context&)>;
}  // namespace detail

// A local handle to an actor's mailbox: copyable, usable from any thread,
// outlives the actor (sends then return false / fail).
class ActorRef {
 public:
  ActorRef() = default;
  explicit ActorRef(std::shared_ptr<detail::ActorCore> core) : core_(std::move(core)) {}

  // Queues a message; false if the actor has ended.
  template <Message M>
  bool tell(const M& message) const {
    msgpack::sbuffer buffer;
    typed::encode(buffer, message);
    return tell_bytes(std::move(buffer), nullptr);
  }
  // Sends a request and waits for the reply. Throws RequestError. Do not ask
  // the actor whose handler is running (it would wait for itself).
  template <Message Rep, Message Req>
  Rep ask(const Req& request, std::chrono::nanoseconds timeout) const {
    msgpack::sbuffer buffer;
    typed::encode(buffer, request, typed::Kind::request, 0);
    return decode_reply<Rep>(ask_bytes(std::move(buffer), timeout));
  }

  bool alive() const;
  const std::string& name() const;
  explicit operator bool() const { return core_ != nullptr; }

 private:
  friend class Context;
  friend class Actor;
  // The reply frame of an ask, owned.
  struct ReplyFrame {
    std::vector<std::byte> bytes;
  };
  bool tell_bytes(msgpack::sbuffer&& bytes, std::shared_ptr<detail::AskState> ask) const;
  ReplyFrame ask_bytes(msgpack::sbuffer&& bytes, std::chrono::nanoseconds timeout) const;
  template <Message Rep>
  static Rep decode_reply(const ReplyFrame& frame);
  static RequestError reply_error(const typed::Envelope& env, std::span<const std::byte> frame);
  static void deliver_local_reply(const std::shared_ptr<detail::AskState>& ask, std::span<const std::byte> frame);

  std::shared_ptr<detail::ActorCore> core_;
};

// A request answered after its handler returned (see Context::defer_reply).
struct DeferredReply {
  PeerId to = kLocal;
  std::uint64_t id = 0;
  std::shared_ptr<detail::AskState> ask;
  std::string tag;  // the request's tag, for error messages
};

// What a handler gets besides the message: where it came from, and the ways
// to answer and to talk to peers. Valid during the handler call only.
class Context {
 public:
  Actor& self() { return *actor_; }
  PeerId from() const { return from_; }
  bool is_request() const { return kind_ == typed::Kind::request; }

  // Answers the current request (once; later calls are ignored).
  template <Message R>
  void reply(const R& value) {
    if (!is_request() || replied_) return;
    replied_ = true;
    send_reply(value, typed::Kind::reply);
  }
  void reply_error(std::string_view message) {
    if (!is_request() || replied_) return;
    replied_ = true;
    send_reply(typed::ErrorBody{std::string(message)}, typed::Kind::error);
  }
  bool replied() const { return replied_; }
  // Takes over the current request: answer it later, from this actor's
  // thread, with Actor::reply(deferred, value). A request that was neither
  // answered nor deferred gets an error reply when its handler returns.
  DeferredReply defer_reply();

  // Sends to a peer without waiting (queued if its ring is full). ok, or
  // the channel's final status if it has ended, or closed if `to` is unknown.
  template <Message M>
  Status send(PeerId to, const M& message);

  // Sends a request to a peer; `on_reply(Result<Rep>&)` or
  // `on_reply(Result<Rep>&, Context&)` runs on this actor's thread when the
  // reply comes, the timeout passes or the channel ends (the Context is for
  // sending more; its from() is the peer asked).
  template <Message Rep, Message Req, class F>
  void request(PeerId to, const Req& message, std::chrono::nanoseconds timeout, F&& on_reply);

  // Ends the actor after this handler (graceful: not a failure).
  void stop(std::string_view reason = "stopped");

 private:
  friend class Actor;
  friend class detail::Loop;
  template <Message R>
  void send_reply(const R& value, typed::Kind kind);

  Actor* actor_ = nullptr;
  std::string_view tag_;
  PeerId from_ = kLocal;
  typed::Kind kind_ = typed::Kind::tell;
  std::uint64_t id_ = 0;
  std::shared_ptr<detail::AskState> ask_;  // a local ask awaiting the reply
  bool replied_ = false;
};

class Actor {
 public:
  explicit Actor(ActorOptions options = {});
  ~Actor();  // stop() and join()
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

  // --- set-up, before start() -------------------------------------------
  // handler(const M&, Context&) -> void, or a message (the reply to a request).
  template <Message M, class F>
  Actor& on(F&& handler);
  Actor& on_start(std::function<void(Context&)> hook);
  // A peer's channel ended (EOF, death, abort, corruption); it is detached.
  Actor& on_peer_lost(std::function<void(PeerId, Status, std::string_view reason, Context&)> hook);
  // A frame that is not a typed message or has no handler (after the error
  // reply to requests). Default: counted in stats().unhandled.
  Actor& on_unhandled(std::function<void(PeerId, const std::exception& why, Context&)> hook);

  // --- any thread, any time ---------------------------------------------
  // Adds a peer; its messages arrive in this mailbox. Returns its id (ids are
  // never reused). After the actor ended, the endpoint is aborted at once.
  PeerId attach(Endpoint endpoint);
  ActorRef ref() const;
  void start();
  void stop(std::string_view reason = "stopped");  // asynchronous; join() waits
  ExitInfo join();
  bool running() const;
  const std::string& name() const;

  // Answers a deferred request; call from this actor's thread (a handler,
  // a request callback).
  template <Message R>
  void reply(const DeferredReply& to, const R& value);
  void reply_error(const DeferredReply& to, std::string_view message);

  struct Stats {
    std::uint64_t handled = 0;
    std::uint64_t unhandled = 0;   // unknown tags and undecodable frames
    std::uint64_t late_replies = 0;  // replies after their request timed out
  };
  Stats stats() const;

  // Called once, from the actor's thread, after it ended and its channels
  // were aborted (supervisors use it).
  void set_exit_hook(std::function<void(const ExitInfo&)> hook);

 private:
  friend class Context;
  friend class ActorRef;
  friend class detail::Loop;
  using Handler = detail::Handler;
  using ReplyHandler = detail::ReplyHandler;

  template <Message R>
  void send_reply_to(const DeferredReply& to, const R& value, typed::Kind kind);
  void add_handler(std::string_view tag, Handler handler);
  Status send_frame(PeerId to, std::span<const std::byte> frame);
  std::uint64_t add_pending(PeerId to, std::chrono::nanoseconds timeout, ReplyHandler handler);
  void request_not_sent(std::uint64_t id, Status why);
  void request_stop_from_handler(std::string_view reason);

  std::shared_ptr<detail::ActorCore> core_;
};

// --- templates ---------------------------------------------------------------

template <Message M, class F>
Actor& Actor::on(F&& handler) {
  using Returned = std::invoke_result_t<F&, const M&, Context&>;
  add_handler(M::tag, [h = std::forward<F>(handler)](const typed::Envelope& env, std::span<const std::byte> frame,
                                                      Context& ctx) mutable {
    M message{};
    typed::detail::convert_body(env, frame, message);
    if constexpr (std::is_void_v<Returned>) {
      h(message, ctx);
    } else {
      static_assert(Message<Returned>, "a handler returns void or a message (its reply)");
      Returned reply = h(message, ctx);
      ctx.reply(reply);
    }
  });
  return *this;
}

template <Message R>
void Context::send_reply(const R& value, typed::Kind kind) {
  actor_->send_reply_to(DeferredReply{from_, id_, ask_, {}}, value, kind);
}

template <Message R>
void Actor::send_reply_to(const DeferredReply& to, const R& value, typed::Kind kind) {
  msgpack::sbuffer& buffer = typed::detail::scratch_buffer();
  typed::encode(buffer, value, kind, to.id);
  if (to.to == kLocal) {
    if (to.ask) ActorRef::deliver_local_reply(to.ask, typed::bytes_of(buffer));
  } else {
    send_frame(to.to, typed::bytes_of(buffer));
  }
}

template <Message R>
void Actor::reply(const DeferredReply& to, const R& value) {
  send_reply_to(to, value, typed::Kind::reply);
}

template <Message M>
Status Context::send(PeerId to, const M& message) {
  msgpack::sbuffer& buffer = typed::detail::scratch_buffer();
  typed::encode(buffer, message);
  return actor_->send_frame(to, typed::bytes_of(buffer));
}

template <Message Rep, Message Req, class F>
void Context::request(PeerId to, const Req& message, std::chrono::nanoseconds timeout, F&& on_reply) {
  auto handler = [cb = std::forward<F>(on_reply)](std::span<const std::byte> frame, const typed::Envelope* env,
                                                   RequestError* error, Context& ctx) mutable {
    auto deliver = [&](Result<Rep>& result) {
      if constexpr (std::is_invocable_v<F&, Result<Rep>&, Context&>) {
        cb(result, ctx);
      } else {
        cb(result);
      }
    };
    if (error != nullptr) {
      Result<Rep> result(std::move(*error));
      deliver(result);
    } else if (env->kind == typed::Kind::error) {
      Result<Rep> result(ActorRef::reply_error(*env, frame));
      deliver(result);
    } else {
      Rep value{};
      std::optional<RequestError> bad;
      try {
        typed::detail::decode_into(*env, frame, value);
      } catch (const typed::DecodeError& e) {
        bad.emplace(RequestError::Reason::bad_reply, e.what());
      }
      Result<Rep> result = bad ? Result<Rep>(std::move(*bad)) : Result<Rep>(std::move(value));
      deliver(result);
    }
  };
  const std::uint64_t id = actor_->add_pending(to, timeout, std::move(handler));
  msgpack::sbuffer& buffer = typed::detail::scratch_buffer();
  typed::encode(buffer, message, typed::Kind::request, id);
  const Status st = actor_->send_frame(to, typed::bytes_of(buffer));
  if (st != Status::ok) actor_->request_not_sent(id, st);  // on_reply gets channel_lost, after this handler
}

template <Message Rep>
Rep ActorRef::decode_reply(const ReplyFrame& frame) {
  const std::span<const std::byte> bytes(frame.bytes);
  msgpack::object_handle holder;
  typed::Envelope env;
  try {
    env = typed::detail::parse(bytes, holder, &typed::detail::describe<Rep>);
  } catch (const typed::DecodeError& e) {
    throw RequestError(RequestError::Reason::bad_reply, e.what());
  }
  if (env.kind == typed::Kind::error) throw reply_error(env, bytes);
  Rep value{};
  try {
    typed::detail::decode_into(env, bytes, value);
  } catch (const typed::DecodeError& e) {
    throw RequestError(RequestError::Reason::bad_reply, e.what());
  }
  return value;
}

}  // namespace shmring::actors
