// shmring::Endpoint forwards to detail::EndpointCore; make_pair builds an
// in-process channel.
#include "shmring/endpoint.hpp"

#include "endpoint_core.hpp"
#include "platform.hpp"

namespace shmring {

using std::chrono::nanoseconds;

namespace {
constexpr nanoseconds kForever{-1};
nanoseconds non_negative(nanoseconds t) { return t.count() < 0 ? nanoseconds{0} : t; }
}  // namespace

std::string_view to_string(EndpointState s) {
  switch (s) {
    case EndpointState::open: return "open";
    case EndpointState::send_closed: return "send-closed";
    case EndpointState::peer_closed: return "peer-closed";
    case EndpointState::closed: return "closed";
    case EndpointState::aborted: return "aborted";
    case EndpointState::peer_died: return "peer-died";
    case EndpointState::corrupt: return "corrupt";
  }
  return "unknown";
}

Endpoint::Endpoint() = default;
Endpoint::Endpoint(std::unique_ptr<detail::EndpointCore> core) : core_(std::move(core)) {}
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;
Endpoint::~Endpoint() = default;

Status Endpoint::send(std::span<const std::byte> m) { return core_->send_until(m, kForever); }
Status Endpoint::try_send(std::span<const std::byte> m) { return core_->try_send(m); }
Status Endpoint::send_for(std::span<const std::byte> m, nanoseconds t) { return core_->send_until(m, non_negative(t)); }

Status Endpoint::send_batch(std::span<const std::span<const std::byte>> m, std::size_t& sent) {
  return core_->send_batch(m, sent, true);
}
Status Endpoint::try_send_batch(std::span<const std::span<const std::byte>> m, std::size_t& sent) {
  return core_->send_batch(m, sent, false);
}
Status Endpoint::try_reserve(std::size_t n, std::span<std::byte>& out) { return core_->try_reserve(n, out); }
Status Endpoint::reserve(std::size_t n, std::span<std::byte>& out) { return core_->reserve_until(n, out, kForever); }
Status Endpoint::reserve_for(std::size_t n, std::span<std::byte>& out, nanoseconds t) {
  return core_->reserve_until(n, out, non_negative(t));
}
void Endpoint::commit(std::size_t n, bool flush) { core_->commit(n, flush); }
void Endpoint::flush() { core_->flush(); }
bool Endpoint::has_pending_send() const { return core_->has_pending_send(); }
Status Endpoint::try_flush_pending() { return core_->try_flush_pending(); }
Status Endpoint::flush_pending_for(std::chrono::nanoseconds timeout) { return core_->flush_pending_until(timeout); }

Status Endpoint::recv(std::vector<std::byte>& out) { return core_->recv_until(out, kForever); }
Status Endpoint::try_recv(std::vector<std::byte>& out) { return core_->try_recv(out); }
Status Endpoint::recv_for(std::vector<std::byte>& out, nanoseconds t) { return core_->recv_until(out, non_negative(t)); }
Status Endpoint::try_peek(std::span<const std::byte>& out) { return core_->try_peek(out); }
Status Endpoint::peek(std::span<const std::byte>& out) { return core_->peek_until(out, kForever); }
Status Endpoint::peek_for(std::span<const std::byte>& out, nanoseconds t) { return core_->peek_until(out, non_negative(t)); }
void Endpoint::release() { core_->release(); }

void Endpoint::send_eof() { core_->send_eof(); }
void Endpoint::close() { core_->close(); }
void Endpoint::abort(std::string_view reason) { core_->abort(reason); }
AbortHandle Endpoint::abort_handle() const { return core_->abort_handle(); }

AbortHandle::AbortHandle(std::shared_ptr<detail::ChannelResources> channel, int side)
    : channel_(std::move(channel)), side_(side) {}

void AbortHandle::abort(std::string_view reason) const {
  if (channel_) detail::abort_channel(*channel_, side_, reason);
}
EndpointState Endpoint::state() const { return core_->state(); }
std::string Endpoint::reason() const { return core_->reason(); }

int Endpoint::fileno() const { return core_->fileno(); }
int Endpoint::recv_fd() const { return core_->recv_fd(); }
int Endpoint::send_fd() const { return core_->send_fd(); }
bool Endpoint::prepare_recv_wait() { return core_->prepare_recv_wait(); }
bool Endpoint::prepare_send_wait(std::size_t bytes) { return core_->prepare_send_wait(bytes); }

void Endpoint::set_return_on_signal(bool on) { core_->set_return_on_signal(on); }

const ChannelOptions& Endpoint::options() const { return core_->options(); }
std::size_t Endpoint::max_frame_payload() const { return core_->max_frame_payload(); }
int Endpoint::side() const { return core_->side(); }
std::int32_t Endpoint::peer_pid() const { return core_->peer_pid(); }

Pair make_pair(const ChannelOptions& options) {
  auto channel = detail::create_channel(options);
  channel->memory.reset();  // nobody else needs it: the mapping keeps the memory
  channel->control()->pid[1] = channel->control()->pid[0];
  const std::int32_t pid = detail::current_pid();
  Pair pair;
  pair.a = Endpoint(std::make_unique<detail::EndpointCore>(channel, 0, options, detail::UniqueFd(), pid));
  pair.b = Endpoint(std::make_unique<detail::EndpointCore>(channel, 1, options, detail::UniqueFd(), pid));
  return pair;
}

}  // namespace shmring
