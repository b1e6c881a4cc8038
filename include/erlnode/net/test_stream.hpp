// An in-memory stream pair for connection tests (like beast's test::stream): what one end
// writes the other reads. fail_count makes the Nth read or write fail, to test error paths;
// close() makes the peer's reads end with eof.
#pragma once

#include <erlnode/net/completion.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include <cstddef>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

namespace erlnode::net {

class test_stream {
 public:
  using executor_type = boost::asio::any_io_executor;

  // fail_count: the operation (reads and writes counted together, from 1) that fails with
  // boost::asio::error::connection_reset.
  explicit test_stream(executor_type ex,
                       std::size_t fail_count = std::numeric_limits<std::size_t>::max())
      : ex_(std::move(ex)), fail_at_(fail_count) {
    in_ = std::make_shared<pipe>();
  }
  // Connects two streams.
  void connect(test_stream& peer) {
    out_ = peer.in_;
    peer.out_ = in_;
  }
  executor_type get_executor() const noexcept { return ex_; }

  // Reads return at most this many bytes (0: no limit), to split packets anywhere.
  void set_read_limit(std::size_t n) noexcept { in_->limit = n; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& bufs, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto h, std::vector<boost::asio::mutable_buffer> b) {
          any_completion<boost::system::error_code, std::size_t> c(std::move(h), ex_);
          if (++ops_ == fail_at_) return c(boost::asio::error::connection_reset, 0);
          std::unique_lock lk(in_->m);
          if (!in_->data.empty() || in_->closed || b.empty()) {
            std::size_t n = in_->take(b);
            bool eof = n == 0 && in_->closed && !b.empty();
            lk.unlock();
            return c(eof ? boost::system::error_code(boost::asio::error::eof)
                         : boost::system::error_code(),
                     n);
          }
          in_->reader = std::move(c);
          in_->rbuf = std::move(b);
        },
        token, buffers_of(bufs));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& bufs, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto h, const ConstBuffers& bufs) {
          any_completion<boost::system::error_code, std::size_t> c(std::move(h), ex_);
          if (++ops_ == fail_at_) return c(boost::asio::error::connection_reset, 0);
          auto out = out_.lock();
          if (!out || closed_) return c(boost::asio::error::broken_pipe, 0);
          std::size_t n = 0;
          any_completion<boost::system::error_code, std::size_t> r;
          std::size_t rn = 0;
          {
            std::lock_guard lk(out->m);
            if (out->closed) return c(boost::asio::error::broken_pipe, 0);
            for (auto it = boost::asio::buffer_sequence_begin(bufs);
                 it != boost::asio::buffer_sequence_end(bufs); ++it) {
              boost::asio::const_buffer b(*it);
              auto* p = static_cast<const unsigned char*>(b.data());
              out->data.insert(out->data.end(), p, p + b.size());
              n += b.size();
            }
            if (out->reader) {
              rn = out->take(out->rbuf);
              r = std::move(out->reader);
            }
          }
          if (r) r(boost::system::error_code(), rn);
          c(boost::system::error_code(), n);
        },
        token, bufs);
  }

  // Ends both directions: our pending read gets operation_aborted, the peer reads eof.
  void close(boost::system::error_code& ec) {
    ec = {};
    close();
  }
  void close() {
    closed_ = true;
    any_completion<boost::system::error_code, std::size_t> r;
    {
      std::lock_guard lk(in_->m);
      in_->closed = true;
      r = std::move(in_->reader);
    }
    if (r) r(boost::asio::error::operation_aborted, 0);
    if (auto out = out_.lock()) {
      any_completion<boost::system::error_code, std::size_t> pr;
      {
        std::lock_guard lk(out->m);
        out->closed = true;
        pr = std::move(out->reader);
      }
      if (pr) pr(boost::asio::error::eof, 0);
    }
  }

 private:
  struct pipe {
    std::mutex m;
    std::deque<unsigned char> data;
    bool closed = false;
    any_completion<boost::system::error_code, std::size_t> reader;
    std::vector<boost::asio::mutable_buffer> rbuf;
    std::size_t limit = 0;
    // Fills the buffers in order (a scatter read), up to the limit.
    std::size_t take(const std::vector<boost::asio::mutable_buffer>& bs) {
      std::size_t total = 0;
      for (auto b : bs) {
        std::size_t n = std::min(b.size(), data.size());
        if (limit) n = std::min(n, limit - total);
        auto* p = static_cast<unsigned char*>(b.data());
        std::copy(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n), p);
        data.erase(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
        total += n;
        if (n < b.size()) break;
      }
      return total;
    }
  };
  // The non-empty buffers of a sequence.
  template <class B>
  static std::vector<boost::asio::mutable_buffer> buffers_of(const B& bufs) {
    std::vector<boost::asio::mutable_buffer> v;
    for (auto it = boost::asio::buffer_sequence_begin(bufs);
         it != boost::asio::buffer_sequence_end(bufs); ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size()) v.push_back(b);
    }
    return v;
  }

  executor_type ex_;
  std::size_t fail_at_;
  std::size_t ops_ = 0;
  bool closed_ = false;
  std::shared_ptr<pipe> in_;
  std::weak_ptr<pipe> out_;
};

}  // namespace erlnode::net
