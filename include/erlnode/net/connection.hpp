// One distribution connection to one peer, over any stream (TCP now, TLS later).
//
// connection_base holds everything that does not depend on the stream: the handshake state
// machine (dist::handshake), packet parsing (ticks, 112 pass-through, 131,68 headers with the
// peer's atom cache, 131,69/70 fragments), message encoding with our atom cache, the bounded
// send queue and the tick logic. connection<NextLayer> adds the I/O, like
// beast::websocket::stream<NextLayer>. All I/O and all owner callbacks run on the connection's
// strand; send() and close() may be called from any thread.
#pragma once

#include <erlnode/dist/handshake.hpp>
#include <erlnode/dist/header.hpp>
#include <erlnode/net/byte_buffer.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/node_error.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace erlnode::net {

namespace detail {
class send_queue;
class reassembler;
}  // namespace detail

class connection_base;

struct connection_settings {
  dist::handshake_config handshake;  // role, names, flags, cookie, crypto, length prefix
  std::chrono::milliseconds net_ticktime{60'000};
  std::size_t send_queue_limit = 8u << 20;
  std::size_t max_reassembly_memory = 1u << 30;
  std::size_t fragment_size = 64u << 10;
};

// What a connection tells its owner (the node). Called on the connection's strand.
class connection_owner {
 public:
  virtual ~connection_owner() = default;
  // Acceptor: the peer introduced itself. Return the status to answer (ok, nok, ...).
  virtual dist::handshake_status on_peer_name(connection_base& c,
                                              const dist::need_status_decision& d) = 0;
  // Initiator: the peer already has a connection to us ("alive"): replace it?
  virtual bool on_alive(connection_base& c) = 0;
  virtual void on_up(connection_base& c) = 0;
  // One message from the peer: its control tuple and the message, if the op carries one.
  virtual void on_message(connection_base& c, term control, std::optional<term> payload) = 0;
  // The connection is gone (before or after on_up). `detail` says why, for the log.
  virtual void on_down(connection_base& c, std::error_code why, const std::string& detail) = 0;
};

struct connection_stats {
  std::uint64_t bytes_in = 0, bytes_out = 0, messages_in = 0, messages_out = 0;
  std::size_t queue_bytes = 0, queue_packets = 0;
};

enum class send_wait {
  never,     // queue regardless of the bound
  blocking,  // block the calling thread while the queue is over its bound
};

class connection_base : public std::enable_shared_from_this<connection_base> {
 public:
  using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
  connection_base(strand_type strand, connection_settings s, std::weak_ptr<connection_owner> o);
  virtual ~connection_base();
  connection_base(const connection_base&) = delete;
  connection_base& operator=(const connection_base&) = delete;

  // Runs the handshake, then the connection, until it closes.
  virtual void start() = 0;
  // Closes (any thread); the owner gets on_down(why) once.
  void close(std::error_code why, std::string detail = {});

  // Encodes and queues a control message (and its payload), any thread. `sender` keeps the
  // order of one sender's messages (0: none). Fails with node_errc::not_connected before the
  // handshake is done or after close.
  std::error_code send(const term& control, const term* payload, std::uint64_t sender = 0,
                       send_wait wait = send_wait::never);
  // Like send, waiting asynchronously for room in the send queue.
  void async_send(const term& control, const term* payload, std::uint64_t sender,
                  any_completion<std::error_code> done);

  bool is_up() const noexcept { return up_.load(std::memory_order_acquire); }
  // After the handshake:
  const std::string& peer_name() const noexcept { return peer_; }
  atom peer_atom() const noexcept { return peer_atom_; }
  dist::dflags flags() const noexcept { return flags_; }
  std::uint32_t peer_creation() const noexcept { return peer_creation_; }
  // Our own name and creation as the handshake ended: the configured ones, or those a peer
  // gave in a "named:" status (a dynamic-name request).
  const std::string& this_node() const noexcept { return this_node_; }
  std::uint32_t this_creation() const noexcept { return this_creation_; }
  // Before: the name dialled (initiator) or "" (acceptor).
  dist::handshake_role role() const noexcept { return settings_.handshake.role; }
  connection_stats stats() const;
  const strand_type& strand() const noexcept { return strand_; }
  // Test hook: stop sending ticks (the peer then drops us after its net_ticktime).
  void pause_ticks(bool paused) noexcept { ticks_paused_.store(paused); }
  // Owner's tag (the node keeps its table key here).
  std::uint64_t id() const noexcept { return id_; }

 protected:
  // Called by the I/O layer, on the strand.
  std::vector<std::uint8_t>& handshake_output();
  // Feeds handshake bytes; returns bytes used. Afterwards check handshake_state().
  std::size_t handshake_feed(std::span<const std::uint8_t> bytes);
  enum class hs_state { running, done, failed };
  // Handles pending handshake events (decisions, done, failure). Returns the state and
  // whether a decision was made (then feed the rest again).
  hs_state handshake_events(bool& decided);
  result<void> handshake_start();
  // Called once the handshake is done: creates the send queue, tells the owner.
  void became_up();
  // One packet (without its 4-byte length; empty = tick). `owner` keeps `p` alive.
  std::error_code on_packet(std::span<const std::uint8_t> p,
                            const std::shared_ptr<const void>& owner);
  // A fragment continuation of `len` bytes (without its length), of which `have` are at p:
  // moves them into the reassembly buffer and returns where the rest of the packet goes, so
  // it can be read there directly. Empty: not such a packet (or not a valid one; the normal
  // path then reports it). Then fill the span, and call in_place_done.
  std::span<std::uint8_t> in_place_fragment(const std::uint8_t* p, std::size_t have,
                                            std::size_t len);
  std::error_code in_place_done();
  // A fragmented message is partly received.
  bool reassembling() const noexcept;
  // On the strand: the tick timer fired. Returns false if the peer timed out.
  bool on_tick_interval();
  void note_read(std::size_t n) noexcept;
  void note_written(std::size_t n, std::size_t messages) noexcept;
  // Ends the connection (on the strand): the I/O layer's close_stream, then on_down.
  void fail(std::error_code why, std::string detail);
  virtual void close_stream() = 0;
  // Starts the writer on the strand unless it is running (any thread).
  void kick_writer();
  virtual void write_some() = 0;
  // The next gather write (false: nothing to write; the writer then goes idle), and its end.
  bool next_write(std::vector<boost::asio::const_buffer>& bufs);
  void write_done(std::size_t n);
  bool output_pending() const;
  std::atomic<bool> writing_{false};
  struct write_batch;
  std::unique_ptr<write_batch> batch_;
  std::error_code refuse(node_errc e, std::string what);
  std::error_code deliver(std::span<const std::uint8_t> b, bool with_version,
                          std::span<const atom> atoms, const std::shared_ptr<const void>& owner);
  std::uint64_t in_place_seq_ = 0;
  // A failed handshake: write out the refusal first, then fail_handshake().
  void fail_handshake() { fail(hs_fail_code_, hs_fail_detail_); }
  std::error_code hs_fail_code_;
  std::string hs_fail_detail_;
  std::chrono::milliseconds tick_interval() const noexcept { return settings_.net_ticktime / 4; }

  strand_type strand_;
  connection_settings settings_;
  std::weak_ptr<connection_owner> owner_;
  std::unique_ptr<dist::handshake> hs_;
  std::unique_ptr<detail::send_queue> queue_;
  std::unique_ptr<dist::atom_cache_sender> out_cache_;
  std::unique_ptr<dist::atom_cache_receiver> in_cache_;
  std::unique_ptr<detail::reassembler> reasm_;
  std::atomic<bool> up_{false};
  std::atomic<bool> ticks_paused_{false};
  bool down_ = false;
  std::string peer_;
  atom peer_atom_;
  dist::dflags flags_ = 0;
  std::uint32_t peer_creation_ = 0;
  std::string this_node_;
  std::uint32_t this_creation_ = 0;
  std::uint64_t id_;
  // Liveness (strand only).
  bool read_since_tick_ = false, wrote_since_tick_ = false;
  int silent_intervals_ = 0;
  // Stats.
  std::atomic<std::uint64_t> bytes_in_{0}, bytes_out_{0}, msgs_in_{0}, msgs_out_{0};
};

// GCC 12 flags Asio 1.74's awaitable frame allocator (a false positive in its recycling
// allocator) at the end of every coroutine.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// The connection over a concrete stream. NextLayer: an AsyncReadStream + AsyncWriteStream
// (boost::asio::ip::tcp::socket, an ssl::stream, or test_stream).
template <class NextLayer>
class connection final : public connection_base {
 public:
  template <class... Args>
  connection(strand_type strand, connection_settings s, std::weak_ptr<connection_owner> o,
             Args&&... stream_args)
      : connection_base(std::move(strand), std::move(s), std::move(o)),
        stream_(std::forward<Args>(stream_args)...),
        setup_timer_(strand_),
        tick_timer_(strand_) {}

  NextLayer& next_layer() noexcept { return stream_; }

  void start() override {
    auto self = std::static_pointer_cast<connection>(shared_from_this());
    boost::asio::co_spawn(strand_, run(self), boost::asio::detached);
  }

 private:
  using awaitable = boost::asio::awaitable<void>;

  static awaitable run(std::shared_ptr<connection> self) {
    try {
      co_await self->do_handshake();
      if (self->down_) co_return;
      self->became_up();
      self->start_ticks();
      co_await self->read_loop();
    } catch (const boost::system::system_error& e) {
      if (!self->down_)
        self->fail(make_error_code(node_errc::connection_closed), e.code().message());
    }
  }

  awaitable flush_handshake() {
    auto& out = handshake_output();
    if (out.empty()) co_return;
    std::vector<std::uint8_t> bytes;
    bytes.swap(out);
    co_await boost::asio::async_write(stream_, boost::asio::buffer(bytes),
                                      boost::asio::use_awaitable);
    note_written(bytes.size(), 0);
  }

  void arm_setup_timer() {
    setup_timer_.expires_after(settings_.handshake.setup_timeout);
    setup_timer_.async_wait([w = weak()](boost::system::error_code ec) {
      if (ec) return;
      if (auto s = w.lock(); s && !s->is_up() && !s->down_)
        s->fail(make_error_code(node_errc::setup_timeout), "net_setuptime passed");
    });
  }

  using bytes_buffer = detail::byte_buffer;  // not zero-filled: the kernel writes it

  awaitable do_handshake() {
    if (auto r = handshake_start(); !r) {
      fail(make_error_code(node_errc::handshake_failed), r.error().message());
      co_return;
    }
    arm_setup_timer();
    buf_ = std::make_shared<bytes_buffer>(512u << 10);
    for (;;) {
      std::size_t used = handshake_feed(std::span(buf_->data() + begin_, end_ - begin_));
      begin_ += used;
      if (used) arm_setup_timer();  // OTP restarts the timer at each step
      bool decided = false;
      hs_state st = handshake_events(decided);
      co_await flush_handshake();
      if (down_) co_return;
      if (st == hs_state::done) break;
      if (st == hs_state::failed) {
        fail_handshake();
        co_return;
      }
      if (decided) continue;
      compact();
      std::size_t n = co_await stream_.async_read_some(
          boost::asio::buffer(buf_->data() + end_, buf_->size() - end_),
          boost::asio::use_awaitable);
      note_read(n);
      end_ += n;
    }
    setup_timer_.cancel();
  }

  void compact() {
    if (begin_ == 0) return;
    std::size_t left = end_ - begin_;
    if (buf_.use_count() > 1) {  // decoded binaries still point into it: take a new one
      auto nb = std::make_shared<bytes_buffer>(buf_->size());
      std::copy(buf_->begin() + begin_, buf_->begin() + end_, nb->begin());
      buf_ = std::move(nb);
    } else {
      std::memmove(buf_->data(), buf_->data() + begin_, left);
    }
    begin_ = 0;
    end_ = left;
  }

  // Packets below this size are decoded with their binaries copied, so a message kept in a
  // mailbox never pins the whole read buffer for a few bytes; larger ones share it.
  static constexpr std::size_t share_min_packet = 16u << 10;
  // One read takes at most this much beyond what a pending packet lacks: a packet longer than
  // the buffer goes to its own buffer after copying what the last read brought of it.
  static constexpr std::size_t read_chunk = 128u << 10;
  // Fragment continuations of these sizes are read in place (BEAM sends 64 KiB ones); the
  // upper bound limits what a packet's length alone makes us allocate.
  static constexpr std::size_t in_place_min = 16u << 10;
  static constexpr std::size_t in_place_max = 1u << 20;
  static constexpr std::size_t spill_max = 4u << 10;

  awaitable read_loop() {
    static const std::shared_ptr<const void> no_owner;
    for (;;) {
      std::size_t need = 4;  // bytes the partial packet at begin_ still lacks (with what is there)
      while (end_ - begin_ >= 4) {
        const std::uint8_t* p = buf_->data() + begin_;
        std::size_t len =
            (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
        if (end_ - begin_ >= 4 + len) {
          begin_ += 4 + len;
          const auto& owner = len >= share_min_packet ? buf_ : no_owner;
          if (auto ec = on_packet(std::span(p + 4, len), owner); ec || down_) co_return;
          continue;
        }
        need = 4 + len;
        if (len >= in_place_min && len <= in_place_max) {
          // A large fragment continuation: the rest of it is read straight into the
          // reassembly buffer (no copy through this buffer); what the same read brings of
          // the following packets lands here, at most spill_max of it.
          auto dest = in_place_fragment(p + 4, end_ - begin_ - 4, len);
          if (!dest.empty()) {
            begin_ = end_;
            std::size_t filled = 0;
            while (filled < dest.size()) {
              if (begin_ == end_ && buf_.use_count() == 1) begin_ = end_ = 0;
              if (buf_->size() - end_ < spill_max) compact();
              const std::array<boost::asio::mutable_buffer, 2> to{
                  boost::asio::buffer(dest.data() + filled, dest.size() - filled),
                  boost::asio::buffer(buf_->data() + end_,
                                      std::min(buf_->size() - end_, spill_max))};
              std::size_t n = co_await stream_.async_read_some(to, boost::asio::use_awaitable);
              note_read(n);
              const std::size_t into = std::min(n, dest.size() - filled);
              filled += into;
              end_ += n - into;
            }
            if (auto ec = in_place_done(); ec || down_) co_return;
            need = 4;
            continue;
          }
        }
        if (4 + len <= buf_->size()) break;  // fits once more arrives
        // A packet larger than the buffer: read it into its own buffer, growing as it comes
        // (never trusting the length for the allocation).
        auto big = std::make_shared<bytes_buffer>();
        big->reserve(std::min<std::size_t>(len, 64u << 20));
        big->assign(p + 4, static_cast<const std::uint8_t*>(buf_->data() + end_));
        begin_ = end_ = 0;
        need = 4;
        while (big->size() < len) {
          std::size_t have = big->size();
          std::size_t want =
              std::min<std::size_t>(len - have, std::max<std::size_t>(have, 1u << 20));
          big->resize(have + want);
          std::size_t n = co_await boost::asio::async_read(
              stream_, boost::asio::buffer(big->data() + have, want), boost::asio::use_awaitable);
          note_read(n);
        }
        if (auto ec = on_packet(std::span(big->data(), len), big); ec || down_) co_return;
      }
      // Move the partial packet to the front only when the room after it is too small: with
      // large packets each move is a copy.
      const std::size_t pending = end_ - begin_;
      const std::size_t want = std::max(need - std::min(need, pending), std::size_t{1});
      if (pending == 0 && buf_.use_count() == 1) begin_ = end_ = 0;
      if (buf_->size() - end_ < std::max(want, std::size_t{16} << 10)) compact();
      // While a fragmented message is being reassembled, reads stop at packet boundaries: a
      // large packet that cannot be read in place (a first fragment) is read to its end and
      // no further, and a packet's first bytes are read in small pieces, so the next
      // continuation's payload is read in place rather than through this buffer.
      std::size_t cap = std::max(want, read_chunk);
      if (need >= 4 + in_place_min)
        cap = want;
      else if (reassembling())
        cap = std::max(want, spill_max);
      const std::size_t room = std::min(buf_->size() - end_, cap);
      std::size_t n = co_await stream_.async_read_some(
          boost::asio::buffer(buf_->data() + end_, room), boost::asio::use_awaitable);
      note_read(n);
      end_ += n;
    }
  }

  void start_ticks() {
    tick_timer_.expires_after(tick_interval());
    tick_timer_.async_wait([w = weak()](boost::system::error_code ec) {
      auto s = w.lock();
      if (ec || !s || s->down_) return;
      if (!s->on_tick_interval()) return;
      s->start_ticks();
    });
  }

  void write_some() override {
    for (;;) {
      if (down_) {
        writing_.store(false);
        return;
      }
      bufs_.clear();
      if (next_write(bufs_)) break;
      writing_.store(false, std::memory_order_release);
      // A sender may have queued after next_write looked and before the flag dropped.
      if (!output_pending() || writing_.exchange(true, std::memory_order_acq_rel)) return;
    }
    boost::asio::async_write(
        stream_, bufs_,
        boost::asio::bind_executor(
            strand_, [w = weak()](boost::system::error_code ec, std::size_t n) {
              auto s = w.lock();
              if (!s) return;
              s->write_done(n);
              if (ec) {
                s->writing_.store(false);
                if (!s->down_)
                  s->fail(make_error_code(node_errc::connection_closed), "write: " + ec.message());
                return;
              }
              s->write_some();
            }));
  }

  void close_stream() override {
    boost::system::error_code ec;
    setup_timer_.cancel();
    tick_timer_.cancel();
    if constexpr (requires(NextLayer & s) { s.lowest_layer(); }) {
      stream_.lowest_layer().close(ec);
    } else {
      stream_.close(ec);
    }
  }

  std::weak_ptr<connection> weak() {
    return std::static_pointer_cast<connection>(shared_from_this());
  }

  NextLayer stream_;
  boost::asio::steady_timer setup_timer_;
  boost::asio::steady_timer tick_timer_;
  std::shared_ptr<bytes_buffer> buf_;
  std::size_t begin_ = 0, end_ = 0;
  std::vector<boost::asio::const_buffer> bufs_;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace erlnode::net
