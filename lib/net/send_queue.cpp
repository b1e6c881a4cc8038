#include "send_queue.hpp"

#include <erlnode/node_error.hpp>

#include <algorithm>

namespace erlnode::net::detail {

namespace {
void put_u32_at(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  v[at] = static_cast<std::uint8_t>(x >> 24);
  v[at + 1] = static_cast<std::uint8_t>(x >> 16);
  v[at + 2] = static_cast<std::uint8_t>(x >> 8);
  v[at + 3] = static_cast<std::uint8_t>(x);
}
void put_u64(std::vector<std::uint8_t>& v, std::uint64_t x) {
  for (int s = 56; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
}
}  // namespace

send_queue::send_queue(wire_mode mode, limits lim, cache_writer cw)
    : mode_(mode), lim_(lim), cw_(std::move(cw)) {
  if (lim_.fragment_size == 0) lim_.fragment_size = 64u << 10;
  if (lim_.max_buffers < 8) lim_.max_buffers = 8;
}

void send_queue::push(out_message m) {
  std::lock_guard lk(m_);
  if (closed_) return;
  if (fast_path_open(m))
    append_raw_locked(m);
  else
    push_locked(std::move(m));
}

bool send_queue::push_copy(const out_message& m, bool blocking) {
  std::unique_lock lk(m_);
  if (blocking) room_.wait(lk, [&] { return closed_ || (has_room(m) && parked_.empty()); });
  if (closed_) return false;
  if (fast_path_open(m))
    append_raw_locked(m);
  else
    push_locked(m);
  return true;
}

namespace {
constexpr std::size_t chunk_size = 64u << 10;
}

bool send_queue::fast_path_open(const out_message& m) const noexcept {
  // Large messages are not copied into chunks: they are items (and their refs stay refs).
  return pending_items_ == 0 && parked_.empty() && m.refs.empty() && m.size() <= chunk_size &&
         !is_big(m);
}

void send_queue::append_raw_locked(const out_message& m) {
  // Worst case of the framing: length, 131 68, and the cache refs (flags + one full entry per
  // atom).
  const std::size_t need = m.data.size() + 16 + m.atoms.size() * 260;
  item* tail = q_.empty() ? nullptr : q_.back().get();
  if (!tail || !tail->raw.buf || tail->raw.buf->size() + need > tail->raw.buf->capacity()) {
    auto it = std::make_shared<item>();
    if (!free_chunks_.empty()) {
      it->raw.buf = std::move(free_chunks_.back());
      free_chunks_.pop_back();
    } else {
      it->raw.buf = std::make_shared<std::vector<std::uint8_t>>();
    }
    it->raw.buf->reserve(std::max(chunk_size, need));
    tail = it.get();
    q_.push_back(std::move(it));
  }
  auto& a = *tail->raw.buf;
  const std::size_t at = write_head(a, m.atoms);
  a.insert(a.end(), m.data.begin(), m.data.end());
  put_u32_at(a, at, static_cast<std::uint32_t>(a.size() - at - 4));
  tail->raw.queue_bytes += m.data.size();
  ++tail->raw.messages;
  bytes_ += m.data.size();
  small_bytes_ += m.data.size();
  ++packets_;
}

bool send_queue::push_blocking(out_message m) {
  std::unique_lock lk(m_);
  room_.wait(lk, [&] { return closed_ || (has_room(m) && parked_.empty()); });
  if (closed_) return false;
  if (fast_path_open(m))
    append_raw_locked(m);
  else
    push_locked(std::move(m));
  return true;
}

template <class M>
void send_queue::push_async_any(M&& m, any_completion<std::error_code> done) {
  bool closed = false;
  {
    std::lock_guard lk(m_);
    if (closed_) {
      closed = true;
    } else if (!has_room(m) || !parked_.empty()) {
      parked_.emplace_back(std::forward<M>(m), std::move(done));
      return;
    } else if (fast_path_open(m)) {
      append_raw_locked(m);
    } else {
      push_locked(std::forward<M>(m));
    }
  }
  done(closed ? make_error_code(node_errc::closed) : std::error_code());
}

void send_queue::push_async(out_message m, any_completion<std::error_code> done) {
  push_async_any(std::move(m), std::move(done));
}

void send_queue::push_async_copy(const out_message& m, any_completion<std::error_code> done) {
  push_async_any(m, std::move(done));
}

void send_queue::push_tick() {
  std::lock_guard lk(m_);
  if (!closed_) ++ticks_;
}

void send_queue::close() {
  std::deque<std::pair<out_message, any_completion<std::error_code>>> parked;
  {
    std::lock_guard lk(m_);
    closed_ = true;
    q_.clear();
    active_.clear();
    pending_items_ = 0;
    parked.swap(parked_);
    bytes_ = small_bytes_ = packets_ = 0;
  }
  room_.notify_all();
  for (auto& p : parked) p.second(make_error_code(node_errc::closed));
}

std::size_t send_queue::bytes() const {
  std::lock_guard lk(m_);
  return bytes_;
}
std::size_t send_queue::packets() const {
  std::lock_guard lk(m_);
  return packets_;
}
bool send_queue::empty() const {
  std::lock_guard lk(m_);
  return q_.empty() && ticks_ == 0;
}

bool send_queue::is_big(const out_message& m) const noexcept {
  return mode_ == wire_mode::fragments &&
         m.size() - std::min(m.ctl_size, m.size()) > lim_.fragment_size;
}

bool send_queue::has_room(const out_message& m) const noexcept {
  return (is_big(m) ? bytes_ : small_bytes_) < lim_.max_bytes;
}

void send_queue::push_locked(out_message m) {
  auto it = std::make_shared<item>();
  it->size = m.size();
  std::size_t payload = m.size() - std::min(m.ctl_size, m.size());
  if (mode_ == wire_mode::fragments && payload > lim_.fragment_size) {
    it->fragmented = true;
    it->total = (payload + lim_.fragment_size - 1) / lim_.fragment_size;
    it->seq = next_seq_++;
  }
  it->m = std::move(m);
  ++pending_items_;
  bytes_ += it->size;
  if (!it->fragmented) small_bytes_ += it->size;
  ++packets_;
  if (it->m.sender != 0) {
    auto a = active_.find(it->m.sender);
    if (a != active_.end()) {
      a->second->followers.push_back(std::move(it));
      return;
    }
  }
  enqueue_item(std::move(it));
}

void send_queue::enqueue_item(std::shared_ptr<item> it) {
  if (it->fragmented && it->m.sender != 0) active_[it->m.sender] = it;
  q_.push_back(std::move(it));
}

std::size_t send_queue::write_head(std::vector<std::uint8_t>& a, std::span<const atom> atoms) {
  const std::size_t at = a.size();
  a.resize(at + 4);
  if (mode_ == wire_mode::pass_through) {
    a.push_back(112);
  } else {
    a.push_back(131);
    a.push_back(68);
    cw_(atoms, a);
  }
  return at;
}

void send_queue::emit_whole(batch& b, item& it) {
  auto& a = b.arena;
  const std::size_t at = write_head(a, it.m.atoms);
  std::size_t head = a.size() - at;
  const std::size_t size = it.m.size();
  put_u32_at(a, at, static_cast<std::uint32_t>(head - 4 + size));
  b.pieces.push_back({true, at, nullptr, head});
  it.m.for_each_piece(0, size, [&](const std::uint8_t* p, std::size_t n) {
    b.pieces.push_back({false, 0, p, n});
  });
  b.bytes += head + size;
  b.queue_bytes += size;
  b.small_bytes += size;
}

void send_queue::emit_fragment(batch& b, item& it) {
  auto& a = b.arena;
  const std::size_t fs = lim_.fragment_size;
  const std::size_t size = it.m.size();
  const std::size_t ctl = std::min(it.m.ctl_size, it.m.data.size());
  std::size_t at = a.size();
  a.resize(at + 4);
  a.push_back(131);
  std::size_t from, len;
  if (it.sent == 0) {
    a.push_back(69);
    put_u64(a, it.seq);
    put_u64(a, it.total);
    cw_(it.m.atoms, a);
    from = 0;
    len = ctl + std::min(fs, size - ctl);
  } else {
    a.push_back(70);
    put_u64(a, it.seq);
    put_u64(a, it.total - it.sent);
    from = ctl + it.sent * fs;
    len = std::min(fs, size - from);
  }
  std::size_t head = a.size() - at;
  put_u32_at(a, at, static_cast<std::uint32_t>(head - 4 + len));
  b.pieces.push_back({true, at, nullptr, head});
  it.m.for_each_piece(from, len, [&](const std::uint8_t* p, std::size_t n) {
    b.pieces.push_back({false, 0, p, n});
  });
  b.bytes += head + len;
  b.queue_bytes += len;
  ++it.sent;
}

bool send_queue::next_batch(batch& b) {
  b.clear();
  std::lock_guard lk(m_);
  if (closed_) return false;
  for (; ticks_ > 0; --ticks_) {
    b.pieces.push_back({true, b.arena.size(), nullptr, 4});
    b.arena.resize(b.arena.size() + 4, 0);
    b.bytes += 4;
  }
  while (!q_.empty() && b.pieces.size() + 2 <= lim_.max_buffers && b.bytes < lim_.max_batch_bytes) {
    auto it = std::move(q_.front());
    q_.pop_front();
    if (it->raw.buf) {
      auto& c = it->raw;
      b.pieces.push_back({false, 0, c.buf->data(), c.buf->size()});
      b.bytes += c.buf->size();
      b.queue_bytes += c.queue_bytes;
      b.small_bytes += c.queue_bytes;
      b.messages += c.messages;
      b.chunks.push_back(std::move(c.buf));
      continue;
    }
    b.keep.push_back(it);
    if (!it->fragmented) {
      emit_whole(b, *it);
      ++b.messages;
      --pending_items_;
      continue;
    }
    emit_fragment(b, *it);
    if (it->sent < it->total) {
      q_.push_back(std::move(it));  // one fragment per turn: others' messages go in between
      continue;
    }
    ++b.messages;
    --pending_items_;
    if (it->m.sender != 0) {
      auto a = active_.find(it->m.sender);
      if (a != active_.end() && a->second == it) active_.erase(a);
    }
    // The sender's later messages waited behind this one; they go next, in order.
    std::vector<std::shared_ptr<item>> next;
    std::shared_ptr<item> blocker;
    for (auto& f : it->followers) {
      if (blocker) {
        blocker->followers.push_back(std::move(f));
        continue;
      }
      if (f->fragmented) {
        blocker = f;
        active_[f->m.sender] = f;
      }
      next.push_back(std::move(f));
    }
    it->followers.clear();
    q_.insert(q_.begin(), next.begin(), next.end());
  }
  return !b.pieces.empty();
}

void send_queue::batch_done(batch& b) {
  std::vector<any_completion<std::error_code>> ready;
  {
    std::lock_guard lk(m_);
    bytes_ -= std::min(bytes_, b.queue_bytes);
    small_bytes_ -= std::min(small_bytes_, b.small_bytes);
    packets_ -= std::min(packets_, b.messages);
    for (auto& c : b.chunks)
      if (c.use_count() == 1 && free_chunks_.size() < 4) {
        c->clear();
        free_chunks_.push_back(std::move(c));
      }
    admit_parked_locked(ready);
  }
  room_.notify_all();
  b.clear();
  for (auto& r : ready) r(std::error_code());
}

void send_queue::admit_parked_locked(std::vector<any_completion<std::error_code>>& ready) {
  while (!closed_ && !parked_.empty() && has_room(parked_.front().first)) {
    push_locked(std::move(parked_.front().first));
    ready.push_back(std::move(parked_.front().second));
    parked_.pop_front();
  }
}

}  // namespace erlnode::net::detail
