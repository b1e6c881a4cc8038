#include <erlnode/dist/handshake.hpp>
#include <erlnode/dist/node_name.hpp>

#include "dist/bytes.hpp"

#include <algorithm>

namespace erlnode::dist {

using detail::cursor;
using detail::put_u16;
using detail::put_u32;
using detail::put_u64;

namespace {
constexpr std::uint8_t tag_name = 'N';      // send_name and send_challenge, version 6
constexpr std::uint8_t tag_old_name = 'n';  // version 5: refused
constexpr std::uint8_t tag_status = 's';
constexpr std::uint8_t tag_reply = 'r';
constexpr std::uint8_t tag_ack = 'a';
constexpr std::string_view named_prefix = "named:";

std::string_view as_text(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
std::string quoted(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q += '\'';
  q += s;
  q += '\'';
  return q;
}
}  // namespace

std::string_view status_text(handshake_status s) noexcept {
  switch (s) {
    case handshake_status::ok:
      return "ok";
    case handshake_status::ok_simultaneous:
      return "ok_simultaneous";
    case handshake_status::nok:
      return "nok";
    case handshake_status::not_allowed:
      return "not_allowed";
    case handshake_status::alive:
      return "alive";
    case handshake_status::named:
      return "named:";
  }
  return "";
}

handshake::handshake(handshake_config cfg) : cfg_(std::move(cfg)) {}

result<void> handshake::start() {
  if (st_ != state::idle) return errc::bad_state;
  const bool initiator = cfg_.role == handshake_role::initiator;
  dynamic_ = (cfg_.this_flags & flag::name_me) != 0;
  bool ok = cfg_.crypto.digest && cfg_.crypto.challenge &&
            (cfg_.length_prefix == 2 || cfg_.length_prefix == 4) && cfg_.max_message_size > 0;
  if (dynamic_) {
    ok = ok && initiator && validate_own_host(cfg_.this_node).has_value();
  } else {
    ok = ok && cfg_.this_creation != 0 && validate_own_name(cfg_.this_node).has_value();
  }
  if (!ok) return errc::invalid_config;
  this_node_ = cfg_.this_node;
  this_creation_ = dynamic_ ? 0 : cfg_.this_creation;
  if (initiator) {
    peer_node_ = cfg_.peer_node;
    std::vector<std::uint8_t> m{tag_name};
    put_u64(m, cfg_.this_flags);
    put_u32(m, this_creation_);
    put_u16(m, static_cast<std::uint16_t>(this_node_.size()));
    m.insert(m.end(), this_node_.begin(), this_node_.end());
    send(m);
    st_ = state::recv_status;
  } else {
    st_ = state::recv_name;
  }
  return {};
}

bool handshake::receiving() const noexcept {
  switch (st_) {
    case state::recv_name:
    case state::recv_alive_reply:
    case state::recv_reply:
    case state::recv_status:
    case state::recv_challenge:
    case state::recv_ack:
      return true;
    default:
      return false;
  }
}

std::size_t handshake::feed(std::span<const std::uint8_t> bytes) {
  std::size_t used = 0;
  const std::size_t prefix = cfg_.length_prefix;
  while (receiving() && used < bytes.size()) {
    const std::size_t avail = bytes.size() - used;
    if (!msg_len_) {
      std::size_t n = std::min(prefix - len_have_, avail);
      std::copy_n(bytes.data() + used, n, len_buf_.data() + len_have_);
      len_have_ += n;
      used += n;
      if (len_have_ < prefix) break;
      std::size_t len = detail::get_be(len_buf_.data(), prefix);
      msg_start_ = consumed_ + used;
      if (len == 0) {
        fail(errc::bad_handshake_message, "empty handshake message");
        break;
      }
      if (len > cfg_.max_message_size) {
        fail(errc::message_too_large,
             "handshake message of " + std::to_string(len) + " bytes exceeds the limit");
        break;
      }
      msg_len_ = len;
      msg_.clear();
    } else {
      std::size_t n = std::min(*msg_len_ - msg_.size(), avail);
      msg_.insert(msg_.end(), bytes.begin() + used, bytes.begin() + used + n);
      used += n;
      if (msg_.size() < *msg_len_) break;
      msg_len_.reset();
      len_have_ = 0;
      std::vector<std::uint8_t> m = std::move(msg_);
      msg_.clear();
      process(m);
    }
  }
  consumed_ += used;
  return used;
}

std::optional<handshake_event> handshake::poll() {
  if (events_.empty()) return std::nullopt;
  handshake_event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void handshake::process(std::span<const std::uint8_t> msg) {
  switch (st_) {
    case state::recv_name:
      return on_name(msg);
    case state::recv_alive_reply:
      return on_alive_reply(msg);
    case state::recv_reply:
      return on_reply(msg);
    case state::recv_status:
      return on_status(msg);
    case state::recv_challenge:
      return on_challenge(msg);
    case state::recv_ack:
      return on_ack(msg);
    default:
      return;
  }
}

void handshake::send(std::span<const std::uint8_t> payload) {
  if (cfg_.length_prefix == 4)
    put_u32(out_, static_cast<std::uint32_t>(payload.size()));
  else
    put_u16(out_, static_cast<std::uint16_t>(payload.size()));
  out_.insert(out_.end(), payload.begin(), payload.end());
}

void handshake::send_status(std::string_view text) {
  std::vector<std::uint8_t> m{tag_status};
  m.insert(m.end(), text.begin(), text.end());
  send(m);
}

void handshake::send_challenge() {
  our_challenge_ = cfg_.crypto.challenge();
  std::vector<std::uint8_t> m{tag_name};
  put_u64(m, cfg_.this_flags);
  put_u32(m, our_challenge_);
  put_u32(m, this_creation_);
  put_u16(m, static_cast<std::uint16_t>(this_node_.size()));
  m.insert(m.end(), this_node_.begin(), this_node_.end());
  send(m);
  st_ = state::recv_reply;
}

void handshake::finish() {
  st_ = state::done;
  handshake_done d;
  d.peer_node = peer_node_;
  d.peer_flags = expand_mandatory_digest(peer_flags_);
  d.negotiated_flags = negotiate(cfg_.this_flags, peer_flags_);
  d.peer_creation = peer_creation_;
  d.this_node = this_node_;
  d.this_creation = this_creation_;
  events_.emplace_back(std::move(d));
}

void handshake::fail(errc e, std::string reason, std::size_t at) {
  st_ = state::failed;
  events_.emplace_back(handshake_failed{error(e, msg_start_ + at), std::move(reason)});
}

// --- acceptor -------------------------------------------------------------------------

void handshake::on_name(std::span<const std::uint8_t> msg) {
  if (msg[0] != tag_name) {
    if (msg[0] == tag_old_name)
      return fail(errc::unsupported_version, "send_name is version 5 ('n'); only 'N' is accepted");
    return fail(errc::bad_handshake_message, "expected send_name ('N')");
  }
  cursor c(msg, 1);
  if (!c.has(14))
    return fail(errc::truncated, "send_name shorter than its fixed fields", msg.size());
  peer_flags_ = c.be(8);
  peer_creation_ = static_cast<std::uint32_t>(c.be(4));
  std::size_t nlen = c.be(2);
  if (!c.has(nlen))
    return fail(errc::truncated, "send_name name runs past the message", msg.size());
  peer_node_ = std::string(as_text(c.take(nlen)));
  const bool peer_dynamic = (peer_flags_ & flag::name_me) != 0;
  if (!validate_peer_name(peer_node_, peer_dynamic))
    return fail(errc::bad_node_name, "invalid node name " + quoted(peer_node_) + " in send_name",
                15);
  if (missing_flags(peer_flags_, cfg_.required_flags)) {
    send_status(status_text(handshake_status::not_allowed));
    return fail(errc::missing_mandatory_flags,
                "connection attempt from node " + quoted(peer_node_) +
                    " rejected since it cannot handle " +
                    describe_missing_flags(peer_flags_, cfg_.required_flags),
                1);
  }
  if (cfg_.cookie_for && !peer_dynamic) {
    if (auto ck = cfg_.cookie_for(peer_node_); !ck.empty()) cfg_.cookie = std::move(ck);
  }
  st_ = state::await_status;
  events_.emplace_back(need_status_decision{peer_node_, peer_flags_, peer_creation_, peer_dynamic});
}

result<void> handshake::decide(handshake_status s) {
  if (st_ != state::await_status || s == handshake_status::named) return errc::bad_state;
  const bool peer_dynamic = (peer_flags_ & flag::name_me) != 0;
  // A peer asking for a name accepts only "named:" (or a refusal).
  if (peer_dynamic && s != handshake_status::nok && s != handshake_status::not_allowed)
    return errc::bad_state;
  send_status(status_text(s));
  switch (s) {
    case handshake_status::ok:
    case handshake_status::ok_simultaneous:
      send_challenge();
      break;
    case handshake_status::alive:
      st_ = state::recv_alive_reply;
      break;
    default:
      fail(errc::handshake_refused,
           "refused " + quoted(peer_node_) + " with status " + std::string(status_text(s)));
      break;
  }
  return {};
}

result<void> handshake::decide_named(std::string node_name, std::uint32_t creation) {
  if (st_ != state::await_status || !(peer_flags_ & flag::name_me)) return errc::bad_state;
  auto parts = split_node_name(node_name);
  // The initiator checks the host part against the host it sent.
  if (!parts || !validate_peer_name(node_name) || parts->host != peer_node_ || creation == 0 ||
      node_name.size() > 0xffff)
    return errc::invalid_config;
  std::vector<std::uint8_t> m;
  m.reserve(1 + named_prefix.size() + 2 + node_name.size() + 4);
  m.push_back(tag_status);
  m.insert(m.end(), named_prefix.begin(), named_prefix.end());
  put_u16(m, static_cast<std::uint16_t>(node_name.size()));
  m.insert(m.end(), node_name.begin(), node_name.end());
  put_u32(m, creation);
  send(m);
  peer_node_ = std::move(node_name);
  peer_creation_ = creation;
  send_challenge();
  return {};
}

void handshake::on_alive_reply(std::span<const std::uint8_t> msg) {
  auto text = as_text(msg);
  if (text == "strue") return send_challenge();
  if (text == "sfalse")
    return fail(errc::status_alive_refused, quoted(peer_node_) + " keeps its existing connection");
  fail(errc::bad_status, "expected status true or false after alive");
}

void handshake::on_reply(std::span<const std::uint8_t> msg) {
  if (msg[0] != tag_reply || msg.size() != 21)
    return fail(errc::bad_handshake_message, "expected challenge_reply ('r', 21 bytes)");
  cursor c(msg, 1);
  auto their_challenge = static_cast<std::uint32_t>(c.be(4));
  auto got = c.take(16);
  md5_digest want = cfg_.crypto.digest(cfg_.cookie, our_challenge_);
  if (!std::equal(want.begin(), want.end(), got.begin()))
    return fail(errc::bad_digest,
                "connection attempt from node " + quoted(peer_node_) +
                    " rejected: invalid challenge reply (cookie mismatch)",
                5);
  md5_digest ack = cfg_.crypto.digest(cfg_.cookie, their_challenge);
  std::vector<std::uint8_t> m{tag_ack};
  m.insert(m.end(), ack.begin(), ack.end());
  send(m);
  finish();
}

// --- initiator ------------------------------------------------------------------------

void handshake::on_status(std::span<const std::uint8_t> msg) {
  if (msg[0] != tag_status) return fail(errc::bad_handshake_message, "expected status ('s')");
  auto text = as_text(msg.subspan(1));
  if (text.starts_with(named_prefix)) {
    if (!dynamic_) return fail(errc::bad_status, "status named: without a dynamic name request", 1);
    cursor c(msg, 1 + named_prefix.size());
    if (!c.has(2)) return fail(errc::truncated, "named: status truncated", msg.size());
    std::size_t nlen = c.be(2);
    if (!c.has(nlen + 4)) return fail(errc::truncated, "named: status truncated", msg.size());
    std::string name(as_text(c.take(nlen)));
    auto creation = static_cast<std::uint32_t>(c.be(4));
    auto parts = split_node_name(name);
    if (!parts || !validate_peer_name(name) || parts->host != this_node_)
      return fail(errc::bad_node_name, "named: status gives invalid name " + quoted(name), 9);
    this_node_ = std::move(name);
    this_creation_ = creation;
    st_ = state::recv_challenge;
    return;
  }
  if (text == "not_allowed")
    return fail(errc::status_not_allowed, quoted(peer_node_) + " answered not_allowed");
  if (dynamic_)
    return fail(errc::bad_status,
                "status " + std::string(text) + " in reply to a dynamic name request", 1);
  if (text == "ok" || text == "ok_simultaneous") {
    st_ = state::recv_challenge;
  } else if (text == "nok") {
    fail(errc::status_nok, quoted(peer_node_) + " answered nok (simultaneous connect)");
  } else if (text == "alive") {
    st_ = state::await_alive;
    events_.emplace_back(need_alive_decision{peer_node_});
  } else {
    fail(errc::bad_status, "unknown status " + quoted(text), 1);
  }
}

result<void> handshake::answer_alive(bool replace) {
  if (st_ != state::await_alive) return errc::bad_state;
  send_status(replace ? "true" : "false");
  if (replace)
    st_ = state::recv_challenge;
  else
    fail(errc::status_alive_refused, "keeping the existing connection to " + quoted(peer_node_));
  return {};
}

void handshake::on_challenge(std::span<const std::uint8_t> msg) {
  if (msg[0] != tag_name) {
    if (msg[0] == tag_old_name)
      return fail(errc::unsupported_version, "challenge is version 5 ('n'); only 'N' is accepted");
    return fail(errc::bad_handshake_message, "expected challenge ('N')");
  }
  cursor c(msg, 1);
  if (!c.has(18))
    return fail(errc::truncated, "challenge shorter than its fixed fields", msg.size());
  peer_flags_ = c.be(8);
  auto their_challenge = static_cast<std::uint32_t>(c.be(4));
  peer_creation_ = static_cast<std::uint32_t>(c.be(4));
  std::size_t nlen = c.be(2);
  if (!c.has(nlen))
    return fail(errc::truncated, "challenge name runs past the message", msg.size());
  std::string name(as_text(c.take(nlen)));
  if (!cfg_.peer_node.empty() && name != cfg_.peer_node)
    return fail(errc::peer_name_mismatch,
                "dialled " + quoted(cfg_.peer_node) + " but the challenge names " + quoted(name),
                19);
  if (!validate_peer_name(name))
    return fail(errc::bad_node_name, "invalid node name " + quoted(name) + " in challenge", 19);
  peer_node_ = std::move(name);
  if (missing_flags(peer_flags_, cfg_.required_flags))
    return fail(errc::missing_mandatory_flags,
                "connection attempt to node " + quoted(peer_node_) +
                    " aborted since it cannot handle " +
                    describe_missing_flags(peer_flags_, cfg_.required_flags),
                1);
  our_challenge_ = cfg_.crypto.challenge();
  md5_digest d = cfg_.crypto.digest(cfg_.cookie, their_challenge);
  std::vector<std::uint8_t> m{tag_reply};
  put_u32(m, our_challenge_);
  m.insert(m.end(), d.begin(), d.end());
  send(m);
  st_ = state::recv_ack;
}

void handshake::on_ack(std::span<const std::uint8_t> msg) {
  if (msg[0] != tag_ack || msg.size() != 17)
    return fail(errc::bad_handshake_message, "expected challenge_ack ('a', 17 bytes)");
  md5_digest want = cfg_.crypto.digest(cfg_.cookie, our_challenge_);
  if (!std::equal(want.begin(), want.end(), msg.begin() + 1))
    return fail(errc::bad_digest,
                "connection to node " + quoted(peer_node_) +
                    " cancelled: invalid challenge ack (cookie mismatch)",
                1);
  finish();
}

}  // namespace erlnode::dist
