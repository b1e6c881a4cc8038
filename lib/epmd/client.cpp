// epmd client operations as coroutines; each owns its socket and a deadline timer that closes
// the socket when the operation takes too long.
#include <erlnode/epmd/client.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdlib>
#include <memory>

namespace erlnode::epmd {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

class client_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.epmd.client"; }
  std::string message(int c) const override {
    switch (static_cast<client_errc>(c)) {
      case client_errc::name_taken:
        return "epmd refused the registration: name taken";
      case client_errc::not_registered:
        return "node not registered with epmd";
      case client_errc::bad_reply:
        return "malformed reply from epmd";
      case client_errc::port_mismatch:
        return "epmd reported another port than the one dialled";
      case client_errc::bad_request:
        return "epmd request cannot be encoded (invalid name?)";
    }
    return "unknown epmd client error";
  }
};

// Socket plus deadline; shared so the timer's handler never outlives what it closes.
struct op_state {
  explicit op_state(const asio::any_io_executor& ex) : sock(ex), timer(ex) {}
  tcp::socket sock;
  asio::steady_timer timer;
  bool timed_out = false;
};

std::shared_ptr<op_state> start_op(const asio::any_io_executor& ex,
                                   std::chrono::milliseconds timeout) {
  auto st = std::make_shared<op_state>(ex);
  st->timer.expires_after(timeout);
  st->timer.async_wait([w = std::weak_ptr<op_state>(st)](const error_code& ec) {
    if (ec) return;
    if (auto st = w.lock()) {
      st->timed_out = true;
      error_code ignored;
      st->sock.close(ignored);
    }
  });
  return st;
}

// Once the deadline closed the socket, report that rather than the resulting abort.
error_code fix(const op_state& st, error_code ec) {
  return st.timed_out ? error_code(asio::error::timed_out) : ec;
}

asio::awaitable<error_code> connect_and_send(op_state& st, const client_options& o,
                                             const request& req) {
  auto bytes = encode(req);
  if (!bytes) co_return client_errc::bad_request;
  error_code ec;
  tcp::resolver resolver(st.sock.get_executor());
  const std::string service = std::to_string(o.port);
  auto eps = co_await resolver.async_resolve(o.host, service,
                                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fix(st, ec);
  if (st.timed_out) co_return error_code(asio::error::timed_out);
  co_await asio::async_connect(st.sock, eps, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fix(st, ec);
  st.sock.set_option(tcp::no_delay(true), ec);
  co_await asio::async_write(st.sock, asio::buffer(*bytes),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return fix(st, ec);
}

// Feeds `parser` until it completes (or, for replies that end at the close, until eof).
template <class Parser>
asio::awaitable<error_code> read_reply(op_state& st, Parser& parser, bool until_eof) {
  std::array<std::uint8_t, 1024> buf;
  for (;;) {
    error_code ec;
    std::size_t n = co_await st.sock.async_read_some(asio::buffer(buf),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof && until_eof) co_return error_code{};
    if (ec) co_return fix(st, ec);
    std::span<const std::uint8_t> in(buf.data(), n);
    auto r = parser.feed(in);
    if (!r) co_return client_errc::bad_reply;
    if (*r == status::complete) co_return error_code{};
  }
}

}  // namespace

const boost::system::error_category& client_category() noexcept {
  static const client_category_impl c;
  return c;
}

std::uint16_t port_from_env() noexcept {
  if (const char* p = std::getenv("ERL_EPMD_PORT")) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end != p && *end == '\0' && v > 0 && v <= 65535) return static_cast<std::uint16_t>(v);
  }
  return default_port;
}

namespace detail {

asio::awaitable<std::pair<error_code, registration>> register_node(client_options o,
                                                                   node_info node) {
  auto ex = co_await asio::this_coro::executor;
  auto st = start_op(ex, o.timeout);
  // (Named locals, not temporaries, around co_await: GCC 12 mishandles the latter.)
  const request req = alive2_request{std::move(node)};
  error_code ec = co_await connect_and_send(*st, o, req);
  if (ec) co_return std::pair{ec, registration{}};
  alive2_reply_parser parser;
  ec = co_await read_reply(*st, parser, false);
  if (ec) co_return std::pair{ec, registration{}};
  st->timer.cancel();
  if (st->timed_out) co_return std::pair{error_code(asio::error::timed_out), registration{}};
  const auto& rep = parser.get();
  if (rep.result != 0)
    co_return std::pair{make_error_code(client_errc::name_taken), registration{}};
  co_return std::pair{error_code{}, registration(std::move(st->sock), rep.creation, rep.extended)};
}

asio::awaitable<std::pair<error_code, node_info>> port_please(client_options o, std::string name) {
  auto ex = co_await asio::this_coro::executor;
  auto st = start_op(ex, o.timeout);
  const request req = port_please2_request{std::move(name)};
  error_code ec = co_await connect_and_send(*st, o, req);
  if (ec) co_return std::pair{ec, node_info{}};
  port2_reply_parser parser;
  ec = co_await read_reply(*st, parser, false);
  if (ec) co_return std::pair{ec, node_info{}};
  st->timer.cancel();
  if (parser.get().result != 0 || !parser.get().node)
    co_return std::pair{make_error_code(client_errc::not_registered), node_info{}};
  co_return std::pair{error_code{}, *parser.get().node};
}

asio::awaitable<std::pair<error_code, std::vector<name_entry>>> names(client_options o) {
  auto ex = co_await asio::this_coro::executor;
  auto st = start_op(ex, o.timeout);
  std::vector<name_entry> none;
  const request req = names_request{};
  error_code ec = co_await connect_and_send(*st, o, req);
  if (ec) co_return std::pair{ec, none};
  text_reply_parser parser;
  ec = co_await read_reply(*st, parser, true);
  if (ec) co_return std::pair{ec, none};
  st->timer.cancel();
  if (!parser.finish()) co_return std::pair{make_error_code(client_errc::bad_reply), none};
  if (parser.get().epmd_port != o.port)
    co_return std::pair{make_error_code(client_errc::port_mismatch), none};
  auto list = parse_names(parser.get().text);
  if (!list) co_return std::pair{make_error_code(client_errc::bad_reply), none};
  co_return std::pair{error_code{}, std::move(*list)};
}

}  // namespace detail
}  // namespace erlnode::epmd
