#include <erlnode/dist/message.hpp>
#include <erlnode/etf.hpp>
#include <erlnode/net/connection.hpp>

#include "dist_header.hpp"
#include "send_queue.hpp"

#include <cstring>

namespace erlnode::net {

namespace {
std::atomic<std::uint64_t> next_connection_id{1};
}  // namespace

struct connection_base::write_batch {
  detail::send_queue::batch b;
};

connection_base::connection_base(strand_type strand, connection_settings s,
                                 std::weak_ptr<connection_owner> o)
    : strand_(std::move(strand)),
      settings_(std::move(s)),
      owner_(std::move(o)),
      hs_(std::make_unique<dist::handshake>(settings_.handshake)),
      out_cache_(std::make_unique<dist::atom_cache_sender>()),
      in_cache_(std::make_unique<dist::atom_cache_receiver>()),
      reasm_(std::make_unique<detail::reassembler>(settings_.max_reassembly_memory)),
      id_(next_connection_id.fetch_add(1)) {
  batch_ = std::make_unique<write_batch>();
  if (settings_.handshake.role == dist::handshake_role::initiator)
    peer_ = settings_.handshake.peer_node;
}

connection_base::~connection_base() = default;

void connection_base::close(std::error_code why, std::string detail) {
  boost::asio::post(strand_, [self = shared_from_this(), why, detail = std::move(detail)] {
    self->fail(why, detail);
  });
}

std::vector<std::uint8_t>& connection_base::handshake_output() { return hs_->output(); }

std::size_t connection_base::handshake_feed(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return 0;
  return hs_->feed(bytes);
}

result<void> connection_base::handshake_start() { return hs_->start(); }

connection_base::hs_state connection_base::handshake_events(bool& decided) {
  decided = false;
  while (auto ev = hs_->poll()) {
    if (auto* d = std::get_if<dist::need_status_decision>(&*ev)) {
      auto o = owner_.lock();
      peer_ = d->peer_node;
      auto st = (o && !d->dynamic_name) ? o->on_peer_name(*this, *d)
                                        : dist::handshake_status::not_allowed;
      (void)hs_->decide(st);
      decided = true;
    } else if (std::get_if<dist::need_alive_decision>(&*ev)) {
      auto o = owner_.lock();
      (void)hs_->answer_alive(o && o->on_alive(*this));
      decided = true;
    } else if (auto* done = std::get_if<dist::handshake_done>(&*ev)) {
      peer_ = done->peer_node;
      if (auto a = atom::make(peer_)) peer_atom_ = *a;
      flags_ = done->negotiated_flags;
      peer_creation_ = done->peer_creation;
      this_node_ = std::move(done->this_node);
      this_creation_ = done->this_creation;
      return hs_state::done;
    } else if (auto* f = std::get_if<dist::handshake_failed>(&*ev)) {
      hs_fail_code_ = f->err.code;
      hs_fail_detail_ = f->reason;
      return hs_state::failed;
    }
  }
  if (hs_->is_done()) return hs_state::done;
  if (hs_->has_failed()) {
    if (!hs_fail_code_) hs_fail_code_ = make_error_code(node_errc::handshake_failed);
    return hs_state::failed;
  }
  return hs_state::running;
}

void connection_base::became_up() {
  using dist::flag::dist_hdr_atom_cache;
  using dist::flag::fragments;
  detail::wire_mode mode = detail::wire_mode::pass_through;
  if (flags_ & fragments)
    mode = detail::wire_mode::fragments;
  else if (flags_ & dist_hdr_atom_cache)
    mode = detail::wire_mode::header;
  detail::send_queue::limits lim;
  lim.max_bytes = settings_.send_queue_limit;
  lim.fragment_size = settings_.fragment_size;
  queue_ = std::make_unique<detail::send_queue>(
      mode, lim,
      [c = out_cache_.get(), refs = std::vector<dist::header_ref>()](
          std::span<const atom> a, std::vector<std::uint8_t>& out) mutable {
        // Cache slots are assigned here, in write order (see send_queue.hpp), under the
        // queue's lock. At most 255 atoms (message_atoms), so append_header_refs cannot
        // refuse them.
        refs.clear();
        for (atom x : a) refs.push_back(c->reference(x));
        (void)dist::append_header_refs(out, refs);
      });
  read_since_tick_ = true;
  up_.store(true, std::memory_order_release);
  if (auto o = owner_.lock()) o->on_up(*this);
}

namespace {
// Binary payloads this large are sent from the binary itself (no copy into the message);
// smaller ones are copied: a few more bytes copied cost less than more pieces per write.
constexpr std::size_t ref_min = 16u << 10;

// Moves `iov`'s bytes into m (own bytes appended to m.data, large binary payloads as refs).
// encode_iov's buffers alternate: its own bytes (one contiguous vector, each payload is
// preceded by its header there), then a payload, then own bytes again. Returns false if the
// buffers do not look like that (then the caller copies everything).
bool take_iov(const etf::iov_encoding& iov, const term& payload, detail::out_message& m) {
  const auto bufs = iov.buffers();
  const std::uint8_t* own_next = bufs.empty() ? nullptr : bufs[0].data();
  for (std::size_t i = 0; i < bufs.size(); ++i)
    if (i % 2 == 0) {
      if (bufs[i].data() != own_next) return false;
      own_next += bufs[i].size();
    }
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    const auto b = bufs[i];
    if (i % 2 == 0 || b.size() < ref_min) {
      m.data.insert(m.data.end(), b.begin(), b.end());
    } else {
      m.refs.push_back({m.data.size(), b.data(), b.size()});
      m.ref_bytes += b.size();
    }
  }
  if (!m.refs.empty()) m.keep = payload;
  return true;
}

std::error_code encode_message(const term& control, const term* payload, dist::dflags flags,
                               detail::out_message& m, detail::message_atoms& atoms,
                               etf::iov_encoding& iov) {
  etf::encode_options o;
  o.minor_version = 2;
  const bool header = (flags & (dist::flag::dist_hdr_atom_cache | dist::flag::fragments)) != 0;
  if (header) {
    o.version_byte = false;
    if (flags & dist::flag::dist_hdr_atom_cache) o.atom_ref = [&](atom a) { return atoms.ref(a); };
  }
  if (!etf::encode_to(control, m.data, o)) return make_error_code(node_errc::bad_term);
  m.ctl_size = m.data.size();
  if (!payload) return {};
  // The payload through encode_iov, so that large binaries are not copied. A payload without
  // any is copied once (into data), like encode_to would write it.
  if (!etf::encode_iov(*payload, iov, o)) return make_error_code(node_errc::bad_term);
  if (iov.buffers().size() == 1) {
    const auto b = iov.buffers()[0];
    m.data.insert(m.data.end(), b.begin(), b.end());
  } else if (!take_iov(iov, *payload, m)) {
    m.refs.clear();
    m.ref_bytes = 0;
    m.keep = term();
    m.data.resize(m.ctl_size);
    for (auto b : iov.buffers()) m.data.insert(m.data.end(), b.begin(), b.end());
  }
  iov.clear();
  return {};
}

// Per-thread encoding scratch: a sent message costs no allocation once these have grown (the
// queue copies the bytes into its chunk). Large messages are moved out instead of copied.
struct encode_scratch {
  detail::out_message m;
  detail::message_atoms atoms;
  etf::iov_encoding iov;
};
thread_local encode_scratch scratch;
constexpr std::size_t scratch_keep = 256u << 10;

detail::out_message& scratch_message(std::uint64_t sender) {
  auto& m = scratch.m;
  m.data.clear();
  m.atoms.clear();
  m.refs.clear();
  m.ref_bytes = 0;
  m.keep = term();
  m.ctl_size = 0;
  m.sender = sender;
  scratch.atoms.clear();
  return m;
}
}  // namespace

std::error_code connection_base::send(const term& control, const term* payload,
                                      std::uint64_t sender, send_wait wait) {
  if (!up_.load(std::memory_order_acquire)) return make_error_code(node_errc::not_connected);
  auto& m = scratch_message(sender);
  if (auto ec = encode_message(control, payload, flags_, m, scratch.atoms, scratch.iov)) return ec;
  m.atoms.assign(scratch.atoms.list().begin(), scratch.atoms.list().end());
  const bool blocking = wait == send_wait::blocking && !strand_.running_in_this_thread();
  bool ok;
  if (m.data.size() > scratch_keep)
    ok = blocking ? queue_->push_blocking(std::move(m)) : (queue_->push(std::move(m)), true);
  else
    ok = queue_->push_copy(m, blocking);
  m.keep = term();  // the queue holds its own copy
  if (!ok) return make_error_code(node_errc::closed);
  kick_writer();
  return {};
}

void connection_base::async_send(const term& control, const term* payload, std::uint64_t sender,
                                 any_completion<std::error_code> done) {
  if (!up_.load(std::memory_order_acquire)) {
    done(make_error_code(node_errc::not_connected));
    return;
  }
  auto& m = scratch_message(sender);
  if (auto ec = encode_message(control, payload, flags_, m, scratch.atoms, scratch.iov)) {
    done(ec);
    return;
  }
  m.atoms.assign(scratch.atoms.list().begin(), scratch.atoms.list().end());
  if (m.data.size() > scratch_keep)
    queue_->push_async(std::move(m), std::move(done));
  else
    queue_->push_async_copy(m, std::move(done));
  m.keep = term();
  kick_writer();
}

connection_stats connection_base::stats() const {
  connection_stats s;
  s.bytes_in = bytes_in_.load();
  s.bytes_out = bytes_out_.load();
  s.messages_in = msgs_in_.load();
  s.messages_out = msgs_out_.load();
  if (up_.load() && queue_) {
    s.queue_bytes = queue_->bytes();
    s.queue_packets = queue_->packets();
  }
  return s;
}

void connection_base::kick_writer() {
  if (writing_.exchange(true, std::memory_order_acq_rel)) return;
  boost::asio::post(strand_, [w = weak_from_this()] {
    if (auto s = w.lock()) s->write_some();
  });
}

bool connection_base::next_write(std::vector<boost::asio::const_buffer>& bufs) {
  if (!queue_ || !queue_->next_batch(batch_->b)) return false;
  batch_->b.for_each_buffer([&](const std::uint8_t* p, std::size_t n) { bufs.emplace_back(p, n); });
  return true;
}

void connection_base::write_done(std::size_t n) {
  note_written(n, batch_->b.messages);
  queue_->batch_done(batch_->b);
}

bool connection_base::output_pending() const { return queue_ && !queue_->empty(); }

void connection_base::note_read(std::size_t n) noexcept {
  bytes_in_.fetch_add(n, std::memory_order_relaxed);
  read_since_tick_ = true;
}

void connection_base::note_written(std::size_t n, std::size_t messages) noexcept {
  bytes_out_.fetch_add(n, std::memory_order_relaxed);
  msgs_out_.fetch_add(messages, std::memory_order_relaxed);
  wrote_since_tick_ = true;
}

bool connection_base::on_tick_interval() {
  if (!wrote_since_tick_ && !ticks_paused_.load()) {
    queue_->push_tick();
    kick_writer();
  }
  wrote_since_tick_ = false;
  silent_intervals_ = read_since_tick_ ? 0 : silent_intervals_ + 1;
  read_since_tick_ = false;
  if (silent_intervals_ >= 4) {
    fail(make_error_code(node_errc::tick_timeout),
         "net_tick_timeout: nothing received for " +
             std::to_string(settings_.net_ticktime.count()) + " ms");
    return false;
  }
  return true;
}

void connection_base::fail(std::error_code why, std::string detail) {
  if (down_) return;
  down_ = true;
  up_.store(false, std::memory_order_release);
  close_stream();
  if (queue_) queue_->close();
  if (auto o = owner_.lock()) o->on_down(*this, why, detail);
}

std::error_code connection_base::refuse(node_errc e, std::string what) {
  auto ec = make_error_code(e);
  fail(ec, std::move(what));
  return ec;
}

std::error_code connection_base::deliver(std::span<const std::uint8_t> b, bool with_version,
                                         std::span<const atom> atoms,
                                         const std::shared_ptr<const void>& owner) {
  etf::decode_options o;
  o.atom_cache = atoms;
  auto c = etf::decode_prefix(b, with_version, o, owner);
  if (!c) return refuse(node_errc::bad_term, "corrupted control term: " + c.error().message());
  std::optional<term> payload;
  auto rest = b.subspan(c->consumed);
  if (!rest.empty()) {
    auto m = etf::decode_prefix(rest, with_version, o, owner);
    if (!m) return refuse(node_errc::bad_term, "corrupted message term: " + m.error().message());
    if (m->consumed != rest.size())
      return refuse(node_errc::bad_term, "bytes after the message term");
    payload = std::move(m->value);
  }
  msgs_in_.fetch_add(1, std::memory_order_relaxed);
  if (auto ow = owner_.lock()) ow->on_message(*this, std::move(c->value), std::move(payload));
  return {};
}

std::error_code connection_base::on_packet(std::span<const std::uint8_t> p,
                                           const std::shared_ptr<const void>& keep) {
  if (p.empty()) return {};  // a tick
  auto h = dist::parse_header(p, *in_cache_, dist::uses_headers(flags_));
  if (!h)
    return refuse(node_errc::bad_header, "corrupted distribution header: " + h.error().message());
  const auto rest = p.subspan(h->payload_offset);
  switch (h->kind) {
    case dist::header_kind::pass_through:
      return deliver(rest, true, {}, keep);
    case dist::header_kind::normal:
      return deliver(rest, false, h->atoms, keep);
    case dist::header_kind::fragment_start:
    case dist::header_kind::fragment_cont: {
      auto r = h->kind == dist::header_kind::fragment_start
                   ? reasm_->start(h->sequence_id, h->fragment_id, std::move(h->atoms), rest)
                   : reasm_->next(h->sequence_id, h->fragment_id, rest);
      if (!r)
        return refuse(static_cast<node_errc>(r.error().code.value()), "fragment sequence error");
      if (!*r) return {};
      auto c = std::move(**r);
      return deliver(*c.data, false, c.atoms, c.data);
    }
  }
  return {};
}

namespace {
std::uint64_t get_u64(const std::uint8_t* p) noexcept {
  std::uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | p[i];
  return x;
}
}  // namespace

std::span<std::uint8_t> connection_base::in_place_fragment(const std::uint8_t* p, std::size_t have,
                                                           std::size_t len) {
  // 131, 70, sequence id, fragment id, then payload: the continuation's header has no atom
  // cache part, so the payload's place is known from 18 bytes.
  constexpr std::size_t head = 18;
  if (!(flags_ & dist::flag::fragments) || have < head || have >= len || p[0] != 131 || p[1] != 70)
    return {};
  const std::uint64_t seq = get_u64(p + 2);
  auto r = reasm_->reserve_next(seq, get_u64(p + 10), len - head);
  if (!r) return {};  // the normal path reports it once the packet is in
  std::memcpy(r->data(), p + head, have - head);
  in_place_seq_ = seq;
  return r->subspan(have - head);
}

bool connection_base::reassembling() const noexcept { return reasm_->in_flight_sequences() > 0; }

std::error_code connection_base::in_place_done() {
  auto c = reasm_->commit_next(in_place_seq_);
  if (!c) return {};
  return deliver(*c->data, false, c->atoms, c->data);
}

}  // namespace erlnode::net
