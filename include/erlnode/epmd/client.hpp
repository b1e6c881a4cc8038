// Asio epmd client: register a node (for as long as a handle lives), look up a node's port and
// versions, list names. Every operation has a timeout and takes a completion token
// (use_awaitable, a callback, use_future); completions are `void(error_code, T)`.
#pragma once

#include <erlnode/epmd/protocol.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace erlnode::epmd {

// Errors the client reports besides Asio's (connection_refused, timed_out, eof, ...).
enum class client_errc {
  name_taken = 1,  // ALIVE2 refused: the name is registered already
  not_registered,  // PORT_PLEASE2: no such node
  bad_reply,       // the reply does not parse
  port_mismatch,   // NAMES reply names another port than the one dialled
  bad_request,     // the request cannot be encoded (invalid name, ...)
};
const boost::system::error_category& client_category() noexcept;
inline boost::system::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

// ERL_EPMD_PORT if set and valid, else 4369 (what erl does).
std::uint16_t port_from_env() noexcept;

struct client_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = port_from_env();
  std::chrono::milliseconds timeout{5000};  // for the whole operation
};

// A live registration: the open connection to epmd. Closing it (or destroying the handle)
// unregisters the node.
class registration {
 public:
  registration() = default;
  registration(boost::asio::ip::tcp::socket s, std::uint32_t creation, bool extended)
      : sock_(std::make_unique<boost::asio::ip::tcp::socket>(std::move(s))),
        creation_(creation),
        extended_(extended) {}
  registration(registration&&) noexcept = default;
  registration& operator=(registration&& o) noexcept {
    close();
    sock_ = std::move(o.sock_);
    creation_ = o.creation_;
    extended_ = o.extended_;
    return *this;
  }
  ~registration() { close(); }

  // The creation epmd assigned (32-bit from ALIVE2_X_RESP, 1..3 from an old epmd).
  std::uint32_t creation() const noexcept { return creation_; }
  bool extended() const noexcept { return extended_; }
  bool is_open() const noexcept { return sock_ && sock_->is_open(); }
  void close() noexcept {
    if (sock_) {
      boost::system::error_code ec;
      sock_->close(ec);
      sock_.reset();
    }
  }
  // The socket, e.g. to notice when epmd goes away (a read completes with an error).
  boost::asio::ip::tcp::socket* socket() noexcept { return sock_.get(); }

 private:
  std::unique_ptr<boost::asio::ip::tcp::socket> sock_;
  std::uint32_t creation_ = 0;
  bool extended_ = true;
};

namespace detail {
using boost::system::error_code;
boost::asio::awaitable<std::pair<error_code, registration>> register_node(client_options o,
                                                                          node_info node);
boost::asio::awaitable<std::pair<error_code, node_info>> port_please(client_options o,
                                                                     std::string name);
boost::asio::awaitable<std::pair<error_code, std::vector<name_entry>>> names(client_options o);

// Runs `op` (an awaitable yielding pair<error_code, T>) on `ex` and completes the token.
template <class T, class Token>
auto run_op(boost::asio::any_io_executor ex, boost::asio::awaitable<std::pair<error_code, T>> op,
            Token&& token) {
  return boost::asio::async_initiate<Token, void(error_code, T)>(
      [ex](auto handler, boost::asio::awaitable<std::pair<error_code, T>> op) mutable {
        boost::asio::co_spawn(
            ex, std::move(op),
            [h = std::move(handler)](std::exception_ptr e, std::pair<error_code, T> r) mutable {
              if (e) r.first = boost::asio::error::fault;  // (only on bad_alloc and the like)
              std::move(h)(r.first, std::move(r.second));
            });
      },
      token, std::move(op));
}
}  // namespace detail

// Registers `node` (node.name is the alive part). Completes with the registration handle;
// name_taken if the name is in use.
template <class Token>
auto async_register_node(boost::asio::any_io_executor ex, node_info node, client_options o,
                         Token&& token) {
  return detail::run_op<registration>(ex, detail::register_node(std::move(o), std::move(node)),
                                      std::forward<Token>(token));
}

// Looks up `name` (the alive part). not_registered if epmd does not know it.
template <class Token>
auto async_port_please(boost::asio::any_io_executor ex, std::string name, client_options o,
                       Token&& token) {
  return detail::run_op<node_info>(ex, detail::port_please(std::move(o), std::move(name)),
                                   std::forward<Token>(token));
}

// Lists the registered names.
template <class Token>
auto async_names(boost::asio::any_io_executor ex, client_options o, Token&& token) {
  return detail::run_op<std::vector<name_entry>>(ex, detail::names(std::move(o)),
                                                 std::forward<Token>(token));
}

}  // namespace erlnode::epmd

template <>
struct boost::system::is_error_code_enum<erlnode::epmd::client_errc> : std::true_type {};
