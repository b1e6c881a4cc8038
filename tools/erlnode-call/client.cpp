#include "client.hpp"

#include <erlnode/dist/flags.hpp>
#include <erlnode/node_error.hpp>
#include "light_crypto.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace erlnode::call_tool {

namespace asio = boost::asio;

hidden_client::hidden_client(asio::any_io_executor ex, client_config c)
    : ex_(ex), cfg_(std::move(c)), self_(atom(cfg_.self_node), 1, 0, cfg_.creation), event_(ex) {}

asio::awaitable<std::optional<client_down>> hidden_client::handshake(asio::ip::tcp::socket s,
                                                                     std::string peer_node) {
  net::connection_settings st;
  auto& h = st.handshake;
  h.role = dist::handshake_role::initiator;
  h.this_node = cfg_.self_node;
  h.this_creation = cfg_.creation;
  h.this_flags = dist::hidden_profile;
  h.required_flags = dist::mandatory_25;
  h.cookie = cfg_.cookie;
  h.peer_node = std::move(peer_node);
  h.length_prefix = 2;
  h.setup_timeout = cfg_.setup_timeout;
  h.crypto = light_crypto();
  boost::system::error_code ig;
  s.set_option(asio::ip::tcp::no_delay(true), ig);
  conn_ = std::make_shared<net::connection<asio::ip::tcp::socket>>(
      asio::make_strand(ex_), std::move(st), weak_from_this(), std::move(s));
  conn_->start();
  while (!up_ && !down_) co_await wait_event();
  co_return down_;
}

std::error_code hidden_client::send_to_name(atom name, const term& msg) {
  if (!conn_ || !up_) return make_error_code(node_errc::not_connected);
  return conn_->send(tuple{6, self_, atom(), name}, &msg, 1);
}

asio::awaitable<std::optional<term>> hidden_client::receive() {
  while (inbox_.empty() && !down_) co_await wait_event();
  if (inbox_.empty()) co_return std::nullopt;
  term t = std::move(inbox_.front());
  inbox_.pop_front();
  co_return t;
}

void hidden_client::close() {
  if (conn_) conn_->close(make_error_code(node_errc::disconnected), "done");
}

asio::awaitable<void> hidden_client::wait_event() {
  event_.expires_at(asio::steady_timer::time_point::max());
  boost::system::error_code ec;
  co_await event_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void hidden_client::wake() { event_.cancel(); }

dist::handshake_status hidden_client::on_peer_name(net::connection_base&,
                                                   const dist::need_status_decision&) {
  return dist::handshake_status::not_allowed;  // we never accept
}

// The peer still has a connection from an earlier client of the same name (erl_call's
// fixed c17): replace it, as ei does.
bool hidden_client::on_alive(net::connection_base&) { return true; }

void hidden_client::on_up(net::connection_base&) {
  up_ = true;
  wake();
}

void hidden_client::on_message(net::connection_base&, term control, std::optional<term> payload) {
  // SEND {2, Cookie, To} and SEND_SENDER {22, From, To}: messages to our only pid. Links,
  // monitors and the rest are not ours to answer (a client lives for one call).
  auto* t = control.get_if<tuple>();
  if (!t || t->size() < 3 || !payload) return;
  auto op = (*t)[0].to_int64();
  if (op != 2 && op != 22) return;
  inbox_.push_back(std::move(*payload));
  wake();
}

void hidden_client::on_down(net::connection_base&, std::error_code why, const std::string& detail) {
  if (!down_) down_ = client_down{why, detail};
  wake();
}

}  // namespace erlnode::call_tool
