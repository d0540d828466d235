// The actor's thread: drain the mailbox, poll the peers, flush outboxes,
// expire requests; when nothing moves for options.spin, park on one WaitSet
// holding the mailbox's wake-up counter and every peer's wait fds.
#include <pthread.h>

#include "actor_core.hpp"

namespace shmring::actors {

using Clock = std::chrono::steady_clock;
using detail::ActorCore;
using detail::AskState;
using detail::MailItem;
using detail::Peer;

std::string_view to_string(RequestError::Reason reason) {
  switch (reason) {
    case RequestError::Reason::timeout: return "timeout";
    case RequestError::Reason::remote_error: return "remote-error";
    case RequestError::Reason::channel_lost: return "channel-lost";
    case RequestError::Reason::bad_reply: return "bad-reply";
  }
  return "unknown";
}

namespace detail {
void finish_ask(AskState& ask, std::vector<std::byte> reply, std::optional<RequestError> error) {
  {
    std::lock_guard lock(ask.mutex);
    if (ask.done) return;
    ask.done = true;
    ask.reply = std::move(reply);
    if (error) {
      ask.error_reason = error->reason();
      ask.error_message = std::string(error->what());  // a copy of its own, see AskState
    }
  }
  ask.done_cv.notify_all();
}
}  // namespace detail

namespace detail {
namespace {

// The wait set's keys. The loop polls everything after a wake-up, so they
// only have to be distinct (a peer's receive and send fds are both in it).
constexpr std::uint64_t kMailboxKey = ~std::uint64_t{0};
std::uint64_t wait_key(PeerId id, bool send) { return (std::uint64_t{id} << 1) | (send ? 1 : 0); }

}  // namespace

// Everything the actor's thread does, as members over the shared core.
class Loop {
 public:
  Loop(Actor& actor, ActorCore& core) : actor_(actor), c_(core) {}

  void run() {
    Context ctx = make_context(kLocal, typed::Kind::tell, 0, "", nullptr);
    try {
      c_.wait_set.emplace("an actor");
      c_.wait_set->add(c_.mailbox.fd(), kMailboxKey);
      {
        std::lock_guard lock(c_.early_mutex);
        for (auto& [id, endpoint] : c_.early_peers) add_peer(id, std::move(endpoint));
        c_.early_peers.clear();
      }
      if (c_.on_start) c_.on_start(ctx);
      if (!c_.failing) loop();
    } catch (const std::exception& e) {
      fail(std::string("failed: ") + e.what());
    } catch (...) {
      fail("failed: unknown exception");
    }
    finish();
  }

 private:
  Context make_context(PeerId from, typed::Kind kind, std::uint64_t id, std::string_view tag,
                       std::shared_ptr<AskState> ask) {
    Context ctx;
    ctx.actor_ = &actor_;
    ctx.from_ = from;
    ctx.kind_ = kind;
    ctx.id_ = id;
    ctx.tag_ = tag;
    ctx.ask_ = std::move(ask);
    return ctx;
  }

  bool done() const { return c_.failing || c_.stop_now; }

  void fail(std::string reason) {
    if (c_.failing) return;
    c_.failing = true;
    c_.fail_reason = std::move(reason);
  }

  void loop() {
    auto idle_since = Clock::now();
    while (!done()) {
      bool moved = drain_mailbox();
      moved |= poll_peers();
      moved |= flush_outboxes();
      moved |= expire_requests();
      if (done()) break;
      if (moved) {
        idle_since = Clock::now();
        continue;
      }
      if (Clock::now() - idle_since < c_.options.spin) continue;
      park();
      idle_since = Clock::now();
    }
  }

  // --- mailbox -------------------------------------------------------------
  bool drain_mailbox() {
    bool moved = false;
    MailItem item;
    for (int budget = 64; budget > 0 && !done() && c_.mailbox.pop(item); --budget) {
      moved = true;
      switch (item.type) {
        case MailItem::Type::message:
          handle_frame(kLocal, typed::bytes_of(item.bytes), item.ask);
          break;
        case MailItem::Type::attach:
          add_peer(item.peer_id, std::move(item.endpoint));
          break;
        case MailItem::Type::stop: {
          std::lock_guard lock(c_.exit_mutex);
          c_.stop_now = true;
          break;
        }
      }
      item = MailItem{};
    }
    return moved;
  }

  void add_peer(PeerId id, Endpoint endpoint) {
    Peer& peer = c_.peers[id];
    peer.endpoint = std::move(endpoint);
    c_.wait_set->add(peer.endpoint.recv_fd(), wait_key(id, false));
  }

  // --- peers ---------------------------------------------------------------
  bool poll_peers() {
    bool moved = false;
    for (auto it = c_.peers.begin(); it != c_.peers.end() && !done();) {
      const PeerId id = it->first;
      Endpoint& ep = it->second.endpoint;
      ++it;  // handle_frame may remove this peer (a send to it failed)
      for (int budget = 64; budget > 0 && !done(); --budget) {
        std::span<const std::byte> frame;
        const Status st = ep.try_peek(frame);
        if (st == Status::would_block) break;
        moved = true;
        if (st != Status::ok) {
          lose_peer(id, st);
          break;
        }
        handle_frame(id, frame, nullptr);
        if (!c_.peers.contains(id)) break;
        ep.release();
      }
    }
    return moved;
  }

  void lose_peer(PeerId id, Status why) {
    auto it = c_.peers.find(id);
    if (it == c_.peers.end()) return;
    Peer peer = std::move(it->second);
    c_.peers.erase(it);
    c_.wait_set->remove(peer.endpoint.recv_fd());
    if (peer.watching_send) c_.wait_set->remove(peer.endpoint.send_fd());
    const std::string reason = peer.endpoint.reason();
    const std::string what = "channel to peer " + std::to_string(id) + " ended (" + std::string(to_string(why)) +
                             (reason.empty() ? "" : ": " + reason) + ")";
    // Requests waiting on that peer will never be answered.
    for (auto p = c_.pending.begin(); p != c_.pending.end();) {
      if (p->second.to == id) {
        auto on_reply = std::move(p->second.on_reply);
        p = c_.pending.erase(p);
        RequestError error(RequestError::Reason::channel_lost, what);
        Context ctx = make_context(id, typed::Kind::tell, 0, "", nullptr);
        call_user([&] { on_reply({}, nullptr, &error, ctx); }, "a reply callback");
      } else {
        ++p;
      }
    }
    if (c_.on_peer_lost) {
      Context ctx = make_context(id, typed::Kind::tell, 0, "", nullptr);
      call_user([&] { c_.on_peer_lost(id, why, reason, ctx); });
    }
    // Leaving the scope closes our side (a no-op if it already ended).
  }

  // Runs user code; an exception fails the actor.
  template <class F>
  void call_user(F&& f, std::string_view where = "a callback") {
    try {
      f();
    } catch (const std::exception& e) {
      fail("failed: " + std::string(where) + " threw: " + e.what());
    } catch (...) {
      fail("failed: " + std::string(where) + " threw an unknown exception");
    }
  }

  // --- dispatch --------------------------------------------------------------
  void handle_frame(PeerId from, std::span<const std::byte> frame, const std::shared_ptr<AskState>& ask) {
    msgpack::object_handle holder;
    typed::Envelope env;
    try {
      env = typed::detail::parse(frame, holder, [this] { return "a typed message for actor '" + c_.options.name + "'"; });
    } catch (const typed::DecodeError& e) {
      unhandled(from, e);
      if (ask) detail::finish_ask(*ask, {}, RequestError(RequestError::Reason::remote_error, e.what()));
      return;
    }
    if (env.kind == typed::Kind::reply || env.kind == typed::Kind::error) {
      deliver_reply(from, frame, env);
      return;
    }
    auto handler = c_.handlers.find(env.tag);
    Context ctx = make_context(from, env.kind, env.id, env.tag, ask);
    if (handler == c_.handlers.end()) {
      const std::runtime_error why("actor '" + c_.options.name + "' has no handler for '" + std::string(env.tag) + "'");
      ctx.reply_error(why.what());
      unhandled(from, why);
      return;
    }
    try {
      handler->second(env, frame, ctx);
      c_.handled.fetch_add(1, std::memory_order_relaxed);
    } catch (const typed::DecodeError& e) {
      ctx.reply_error(e.what());
      unhandled(from, e);
      return;
    } catch (const std::exception& e) {
      fail("failed: the handler for '" + std::string(env.tag) + "' threw: " + e.what());
    } catch (...) {
      fail("failed: the handler for '" + std::string(env.tag) + "' threw an unknown exception");
    }
    if (c_.failing) {
      // A local ask in flight learns why at once (a remote one through the abort).
      if (ask) {
        detail::finish_ask(*ask, {}, RequestError(RequestError::Reason::channel_lost,
                                                  "actor '" + c_.options.name + "' " + c_.fail_reason));
      }
      return;
    }
    if (ctx.is_request() && !ctx.replied()) {
      ctx.reply_error("the handler for '" + std::string(env.tag) + "' in actor '" + c_.options.name +
                      "' did not reply");
    }
  }

  void unhandled(PeerId from, const std::exception& why) {
    c_.unhandled.fetch_add(1, std::memory_order_relaxed);
    if (c_.on_unhandled) {
      Context ctx = make_context(from, typed::Kind::tell, 0, "", nullptr);
      call_user([&] { c_.on_unhandled(from, why, ctx); }, "on_unhandled");
    }
  }

  void deliver_reply(PeerId from, std::span<const std::byte> frame, const typed::Envelope& env) {
    auto it = c_.pending.find(env.id);
    if (it == c_.pending.end() || it->second.to != from) {
      c_.late_replies.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto on_reply = std::move(it->second.on_reply);
    c_.pending.erase(it);
    Context ctx = make_context(from, typed::Kind::tell, 0, "", nullptr);
    call_user([&] { on_reply(frame, &env, nullptr, ctx); }, "a reply callback");
  }

  // --- sending ---------------------------------------------------------------
  bool flush_outboxes() {
    bool moved = false;
    for (auto it = c_.peers.begin(); it != c_.peers.end();) {
      const PeerId id = it->first;
      Peer& peer = it->second;
      ++it;
      if (peer.outbox.empty() && !peer.endpoint.has_pending_send()) continue;
      const Status st = flush_peer(peer);
      if (st == Status::ok) moved = true;
      if (is_final(st)) {
        lose_peer(id, st);
        moved = true;
      }
    }
    return moved;
  }

  // ok if something left, would_block if nothing could, or a final status.
  static Status flush_peer(Peer& peer) {
    bool sent_any = false;
    if (peer.endpoint.has_pending_send()) {
      const Status st = peer.endpoint.try_flush_pending();
      if (st != Status::ok) return st;
      sent_any = true;
    }
    while (!peer.outbox.empty()) {
      const Status st = peer.endpoint.try_send(peer.outbox.front());
      if (st == Status::would_block) break;
      if (st != Status::ok && st != Status::too_large) return st;
      peer.outbox_bytes -= peer.outbox.front().size();
      peer.outbox.pop_front();
      sent_any = true;
      if (peer.endpoint.has_pending_send()) break;  // a fragmented frame waits for room
    }
    return sent_any ? Status::ok : Status::would_block;
  }

  // --- requests --------------------------------------------------------------
  bool expire_requests() {
    if (c_.deadlines.empty()) return false;
    const auto now = Clock::now();
    bool moved = false;
    while (!c_.deadlines.empty() && c_.deadlines.begin()->first <= now) {
      const std::uint64_t id = c_.deadlines.begin()->second;
      c_.deadlines.erase(c_.deadlines.begin());
      auto it = c_.pending.find(id);
      if (it == c_.pending.end() || it->second.deadline > now) continue;
      auto on_reply = std::move(it->second.on_reply);
      const PeerId to = it->second.to;
      const Status lost = it->second.lost;
      c_.pending.erase(it);
      RequestError error = lost == Status::ok
          ? RequestError(RequestError::Reason::timeout, "no reply to request " + std::to_string(id) + " in time")
          : RequestError(RequestError::Reason::channel_lost, "request " + std::to_string(id) + " to peer " +
                                                                 std::to_string(to) + " not sent: " +
                                                                 std::string(to_string(lost)));
      Context ctx = make_context(to, typed::Kind::tell, 0, "", nullptr);
      call_user([&] { on_reply({}, nullptr, &error, ctx); }, "a reply callback");
      moved = true;
    }
    return moved;
  }

  // --- parking ---------------------------------------------------------------
  void park() {
    // Every wait source must be armed, and found idle, before sleeping.
    for (auto& [id, peer] : c_.peers) {
      if (!peer.endpoint.prepare_recv_wait()) return;
      const bool wants_room = !peer.outbox.empty() || peer.endpoint.has_pending_send();
      if (wants_room) {
        const std::size_t bytes = peer.outbox.empty() ? 1 : std::min(peer.outbox.front().size(),
                                                                        peer.endpoint.max_frame_payload());
        if (!peer.endpoint.prepare_send_wait(bytes)) return;
      }
      if (wants_room != peer.watching_send) {
        if (wants_room) {
          c_.wait_set->add(peer.endpoint.send_fd(), wait_key(id, true));
        } else {
          c_.wait_set->remove(peer.endpoint.send_fd());
        }
        peer.watching_send = wants_room;
      }
    }
    if (!c_.mailbox.prepare_park()) return;
    // Until the earliest request times out. Which sources woke us does not
    // matter: the loop polls all of them next.
    const Deadline until = c_.deadlines.empty() ? Deadline::never() : Deadline::at(c_.deadlines.begin()->first);
    WaitEvent ready[16];
    c_.wait_set->wait(ready, until);
    c_.mailbox.end_park();
  }

  // --- the end ---------------------------------------------------------------
  void finish() {
    ExitInfo info;
    {
      std::lock_guard lock(c_.exit_mutex);
      info.failed = c_.failing;
      info.reason = c_.failing ? c_.fail_reason : (c_.stop_reason.empty() ? "stopped" : c_.stop_reason);
    }
    const std::string said = "actor '" + c_.options.name + "' " + info.reason;
    // A graceful stop lets what was queued leave (briefly), then closes: peers
    // read everything, then EOF. A failure aborts: every peer learns at once.
    if (!info.failed) {
      const Deadline give_up = Deadline::after(std::chrono::milliseconds(100));
      while (!give_up.passed()) {
        bool waiting = false;
        for (auto& [id, peer] : c_.peers) {
          if (peer.outbox.empty() && !peer.endpoint.has_pending_send()) continue;
          if (is_final(flush_peer(peer))) continue;
          waiting |= !peer.outbox.empty() || peer.endpoint.has_pending_send();
        }
        if (!waiting) break;
        std::this_thread::yield();
      }
    }
    for (auto& [id, peer] : c_.peers) {
      if (info.failed) {
        peer.endpoint.abort(said);
      } else {
        peer.endpoint.close();
      }
    }
    c_.peers.clear();
    c_.pending.clear();  // their callbacks belong to the ended actor: not called
    c_.deadlines.clear();
    c_.mailbox.close([&](MailItem& item) {
      if (item.ask) {
        detail::finish_ask(*item.ask, {}, RequestError(RequestError::Reason::channel_lost, said + " before replying"));
      }
      if (item.endpoint) item.endpoint.abort(said);
    });
    c_.wait_set.reset();
    {
      std::lock_guard lock(c_.exit_mutex);
      c_.exit_info = info;
    }
    c_.ended.store(true, std::memory_order_release);  // exit_info is set before anyone sees ended
    if (c_.exit_hook) {
      try {
        c_.exit_hook(info);
      } catch (...) {  // a supervisor's bookkeeping must not take the thread down
      }
    }
  }

  Actor& actor_;
  ActorCore& c_;
};

}  // namespace detail

// --- Actor ---------------------------------------------------------------------

Actor::Actor(ActorOptions options) : core_(std::make_shared<ActorCore>(std::move(options))) {}

Actor::~Actor() {
  stop("stopped");
  join();
}

void Actor::add_handler(std::string_view tag, Handler handler) {
  if (core_->started.load(std::memory_order_relaxed)) throw std::logic_error("Actor::on after start()");
  core_->handlers[std::string(tag)] = std::move(handler);
}

Actor& Actor::on_start(std::function<void(Context&)> hook) {
  core_->on_start = std::move(hook);
  return *this;
}
Actor& Actor::on_peer_lost(std::function<void(PeerId, Status, std::string_view, Context&)> hook) {
  core_->on_peer_lost = std::move(hook);
  return *this;
}
Actor& Actor::on_unhandled(std::function<void(PeerId, const std::exception&, Context&)> hook) {
  core_->on_unhandled = std::move(hook);
  return *this;
}
void Actor::set_exit_hook(std::function<void(const ExitInfo&)> hook) { core_->exit_hook = std::move(hook); }

PeerId Actor::attach(Endpoint endpoint) {
  if (!endpoint) throw std::invalid_argument("Actor::attach: an empty endpoint");
  const PeerId id = core_->next_peer.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(core_->early_mutex);
    // relaxed: start() sets `started` under this mutex too.
    if (!core_->started.load(std::memory_order_relaxed)) {
      core_->early_peers.emplace_back(id, std::move(endpoint));
      return id;
    }
  }
  MailItem item;
  item.type = MailItem::Type::attach;
  item.endpoint = std::move(endpoint);
  item.peer_id = id;
  if (!core_->mailbox.push(item)) item.endpoint.abort("actor '" + core_->options.name + "' has ended");
  return id;
}

ActorRef Actor::ref() const { return ActorRef(core_); }

void Actor::start() {
  {
    std::lock_guard lock(core_->early_mutex);  // attach() decides early/late under it
    if (core_->started.exchange(true, std::memory_order_relaxed)) throw std::logic_error("Actor::start twice");
  }
  core_->thread = std::thread([this, core = core_] {
    const std::string thread_name = core->options.name.substr(0, 15);
    ::pthread_setname_np(::pthread_self(), thread_name.c_str());
    detail::Loop(*this, *core).run();
  });
}

void Actor::stop(std::string_view reason) {
  {
    std::lock_guard lock(core_->exit_mutex);
    if (core_->stop_reason.empty()) core_->stop_reason = std::string(reason);
  }
  if (core_->stop_requested.exchange(true, std::memory_order_relaxed)) return;
  MailItem item;
  item.type = MailItem::Type::stop;
  core_->mailbox.push(item);  // wakes a parked actor; refused only if it has ended
}

void Actor::request_stop_from_handler(std::string_view reason) {
  std::lock_guard lock(core_->exit_mutex);
  if (core_->stop_reason.empty()) core_->stop_reason = std::string(reason);
  core_->stop_now = true;
}

ExitInfo Actor::join() {
  if (core_->thread.joinable()) core_->thread.join();
  std::lock_guard lock(core_->exit_mutex);
  if (!core_->started.load(std::memory_order_relaxed)) return ExitInfo{false, "never started"};
  return core_->exit_info;
}

bool Actor::running() const {
  return core_->started.load(std::memory_order_relaxed) && !core_->ended.load(std::memory_order_acquire);
}
const std::string& Actor::name() const { return core_->options.name; }

Actor::Stats Actor::stats() const {
  return Stats{core_->handled.load(std::memory_order_relaxed), core_->unhandled.load(std::memory_order_relaxed),
               core_->late_replies.load(std::memory_order_relaxed)};
}

void Actor::reply_error(const DeferredReply& to, std::string_view message) {
  send_reply_to(to, typed::ErrorBody{std::string(message)}, typed::Kind::error);
}

Status Actor::send_frame(PeerId to, std::span<const std::byte> frame) {
  auto it = core_->peers.find(to);
  if (it == core_->peers.end()) return Status::closed;
  Peer& peer = it->second;
  if (peer.outbox.empty() && !peer.endpoint.has_pending_send()) {
    const Status st = peer.endpoint.try_send(frame);
    if (st != Status::would_block) return st;  // ok, too_large, or final (noticed by the next poll)
  }
  if (frame.size() > peer.endpoint.options().max_message_bytes) return Status::too_large;
  peer.outbox.emplace_back(frame.begin(), frame.end());
  peer.outbox_bytes += frame.size();
  if (peer.outbox_bytes > core_->options.max_outbox_bytes) {
    peer.endpoint.abort("actor '" + core_->options.name + "': peer " + std::to_string(to) + " stopped reading (" +
                        std::to_string(peer.outbox_bytes) + " bytes waiting)");
    return Status::aborted;  // the next poll detaches it
  }
  return Status::ok;
}

std::uint64_t Actor::add_pending(PeerId to, std::chrono::nanoseconds timeout, ReplyHandler handler) {
  const std::uint64_t id = core_->next_request++;
  const auto deadline = Clock::now() + timeout;
  core_->pending.emplace(id, detail::PendingRequest{to, Status::ok, deadline, std::move(handler)});
  core_->deadlines.emplace(deadline, id);
  return id;
}

void Actor::request_not_sent(std::uint64_t id, Status why) {
  auto it = core_->pending.find(id);
  if (it == core_->pending.end()) return;
  it->second.lost = why;
  it->second.deadline = Clock::now();
  core_->deadlines.emplace(it->second.deadline, id);  // the loop fails it before it parks
}

// --- Context --------------------------------------------------------------------

DeferredReply Context::defer_reply() {
  if (!is_request() || replied_) return DeferredReply{};
  replied_ = true;
  return DeferredReply{from_, id_, ask_, std::string(tag_)};
}

void Context::stop(std::string_view reason) { actor_->request_stop_from_handler(reason); }

// --- ActorRef -------------------------------------------------------------------

bool ActorRef::alive() const { return core_ && !core_->ended.load(std::memory_order_acquire); }
const std::string& ActorRef::name() const {
  static const std::string none;
  return core_ ? core_->options.name : none;
}

bool ActorRef::tell_bytes(msgpack::sbuffer&& bytes, std::shared_ptr<detail::AskState> ask) const {
  if (!core_) return false;
  MailItem item;
  item.type = MailItem::Type::message;
  item.bytes = std::move(bytes);
  item.ask = std::move(ask);
  return core_->mailbox.push(item);
}

ActorRef::ReplyFrame ActorRef::ask_bytes(msgpack::sbuffer&& bytes, std::chrono::nanoseconds timeout) const {
  auto ask = std::make_shared<AskState>();
  if (!tell_bytes(std::move(bytes), ask)) {
    throw RequestError(RequestError::Reason::channel_lost, "actor '" + name() + "' has ended");
  }
  std::unique_lock lock(ask->mutex);
  if (!ask->done_cv.wait_for(lock, timeout, [&] { return ask->done; })) {
    ask->done = true;  // a late reply is dropped
    throw RequestError(RequestError::Reason::timeout, "actor '" + name() + "' did not reply in time");
  }
  if (ask->error_reason) throw RequestError(*ask->error_reason, ask->error_message);
  return ReplyFrame{std::move(ask->reply)};
}

RequestError ActorRef::reply_error(const typed::Envelope& env, std::span<const std::byte> frame) {
  typed::ErrorBody body;
  try {
    env.body.convert(body);
  } catch (const std::exception&) {
    body.message = "(an error reply without a readable message, " + std::to_string(frame.size()) + " bytes)";
  }
  return RequestError(RequestError::Reason::remote_error, body.message);
}

void ActorRef::deliver_local_reply(const std::shared_ptr<detail::AskState>& ask, std::span<const std::byte> frame) {
  detail::finish_ask(*ask, std::vector<std::byte>(frame.begin(), frame.end()), std::nullopt);
}

}  // namespace shmring::actors
