// The outgoing side of one connection: a bounded queue of encoded messages that the writer
// drains in batches (one gather write per batch).
//
// Why it looks the way it does:
// - Messages above the fragment size are sent as 131,69/70 fragments, one fragment per turn, so
//   a 100 MB send shares the socket with everybody else's small messages. Later messages from
//   the same sender wait behind its fragmented one (Erlang keeps per-pair order).
// - The atom-cache part of each header is written when the packet is taken for writing, not
//   when it is queued: cache entries must reach the peer in the order packets are written,
//   and fragments reorder packets.
// - The byte bound gives backpressure: waiting senders are parked until the writer drains it.
// - The common case costs no allocation: while no fragmented or header-pending message is
//   queued, a small message is framed (length, header, atom-cache refs) at push time and copied
//   into a reusable 64 KiB chunk; the writer sends whole chunks. Assigning cache slots at push
//   time is safe then, because push order is write order. Otherwise a message becomes an item
//   whose header is written when it is taken, as above.
#pragma once

#include <erlnode/atom.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/term.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace erlnode::net::detail {

// One message, encoded. In header mode the terms have no 131 byte and may hold
// ATOM_CACHE_REF i, which stands for atoms[i]; in pass-through mode data is the whole packet
// after the 112 byte (131 Ctl [131 Msg]) and atoms is empty.
//
// Large binary payloads need not be copied: `refs` lists byte ranges (of binaries held by
// `keep`) that belong between the bytes of data, so the message's bytes are data[0, refs[0].at),
// refs[0]'s bytes, data[refs[0].at, refs[1].at), ... and the rest of data. The control term is
// always in data.
struct out_message {
  struct ref {
    std::size_t at;  // offset in data the bytes go before
    const std::uint8_t* p;
    std::size_t n;
  };
  std::vector<atom> atoms;
  std::vector<std::uint8_t> data;
  std::size_t ctl_size = 0;  // the control term's bytes at the start of data
  std::uint64_t sender = 0;  // ordering key (0: none)
  std::vector<ref> refs;
  std::size_t ref_bytes = 0;  // sum of refs' n
  term keep;                  // holds what refs point into (terms are immutable while shared)

  std::size_t size() const noexcept { return data.size() + ref_bytes; }
  // Appends `n` of the message's bytes from `from` (outside the control term's part when
  // refs are used) as pieces: f(pointer, length).
  template <class F>
  void for_each_piece(std::size_t from, std::size_t n, F&& f) const {
    std::size_t own = 0, logical = 0;  // start of the current own run, in data and overall
    auto emit_own = [&](std::size_t own_end) {
      const std::size_t run = own_end - own;
      if (n > 0 && from < logical + run) {
        const std::size_t skip = from > logical ? from - logical : 0;
        const std::size_t take = std::min(run - skip, n);
        f(data.data() + own + skip, take);
        from += take;
        n -= take;
      }
      logical += run;
      own = own_end;
    };
    for (const ref& r : refs) {
      emit_own(r.at);
      if (n > 0 && from < logical + r.n) {
        const std::size_t skip = from - logical;
        const std::size_t take = std::min(r.n - skip, n);
        f(r.p + skip, take);
        from += take;
        n -= take;
      }
      logical += r.n;
    }
    emit_own(data.size());
  }
};

enum class wire_mode {
  pass_through,  // neither DIST_HDR_ATOM_CACHE nor FRAGMENTS: 112 | 131 Ctl | 131 Msg
  header,        // 131,68 headers
  fragments,     // 131,68 headers, and 131,69/70 for large messages
};

class send_queue {
 public:
  struct limits {
    std::size_t max_bytes = 8u << 20;       // backpressure bound
    std::size_t fragment_size = 64u << 10;  // payload bytes per fragment
    std::size_t max_buffers = 128;          // per gather write
    std::size_t max_batch_bytes = 1u << 20;
  };
  // Appends the atom-cache part of a 131,68/69 header (u8 N, flags, entries) for `atoms`,
  // updating the connection's output cache.
  using cache_writer = std::function<void(std::span<const atom>, std::vector<std::uint8_t>&)>;

  send_queue(wire_mode mode, limits lim, cache_writer cw);

  // Queues a message (any thread); never waits.
  void push(out_message m);
  // Like push/push_blocking, but copies `m` only as far as needed (into a chunk, or into an
  // item when the fast path is not open): the caller can reuse `m` as scratch.
  bool push_copy(const out_message& m, bool blocking);
  // Queues when below the bound, else waits (blocking the caller) until there is room or the
  // queue is closed. Returns false if closed. A message that will be fragmented waits while
  // the whole queue is over the bound; any other waits only while the unfragmented messages
  // are: a 100 MB send in progress does not hold up small ones.
  bool push_blocking(out_message m);
  // Queues when below the bound, else parks the message; `done` runs (posted) once queued,
  // with node_errc::closed if the queue closes first.
  void push_async(out_message m, any_completion<std::error_code> done);
  // Like push_async, copying `m` only as far as needed (the caller can reuse it as scratch).
  void push_async_copy(const out_message& m, any_completion<std::error_code> done);
  // A tick (an empty packet), written before anything else.
  void push_tick();
  // Drops everything; parked and blocked senders get node_errc::closed.
  void close();

  std::size_t bytes() const;
  std::size_t packets() const;
  bool empty() const;

  // The writer's side. A batch holds the buffers of one gather write and keeps what they
  // point into alive.
  struct batch {
    std::vector<std::uint8_t> arena;  // packet prefixes and headers
    struct piece {
      bool in_arena;
      std::size_t off;           // in arena
      const std::uint8_t* data;  // else
      std::size_t len;
    };
    std::vector<piece> pieces;
    std::vector<std::shared_ptr<void>> keep;
    std::vector<std::shared_ptr<std::vector<std::uint8_t>>> chunks;  // recycled when done
    std::size_t bytes = 0;                                           // wire bytes
    std::size_t queue_bytes = 0;  // accounted queue bytes released when done
    std::size_t small_bytes = 0;  // the part of queue_bytes from unfragmented messages
    std::size_t messages = 0;     // whole messages completed
    void clear() {
      arena.clear();
      pieces.clear();
      keep.clear();
      chunks.clear();
      bytes = queue_bytes = small_bytes = messages = 0;
    }
    template <class F>
    void for_each_buffer(F&& f) const {
      for (auto& p : pieces) f(p.in_arena ? arena.data() + p.off : p.data, p.len);
    }
  };
  // Fills `b` (cleared first); false when there is nothing to write.
  bool next_batch(batch& b);
  // After the batch was written: releases its queue bytes and admits parked senders.
  void batch_done(batch& b);

 private:
  // Framed packets of small messages, in push order.
  struct chunk {
    std::shared_ptr<std::vector<std::uint8_t>> buf;
    std::size_t queue_bytes = 0;
    std::size_t messages = 0;
  };
  struct item {
    out_message m;
    chunk raw;  // set (raw.buf) for a chunk entry; m is unused then
    bool fragmented = false;
    std::uint64_t seq = 0;
    std::uint64_t total = 0, sent = 0;  // fragments
    std::size_t size = 0;               // accounted bytes
    std::vector<std::shared_ptr<item>> followers;
  };
  template <class M>
  void push_async_any(M&& m, any_completion<std::error_code> done);
  bool fast_path_open(const out_message& m) const noexcept;
  void append_raw_locked(const out_message& m);
  void push_locked(out_message m);
  void enqueue_item(std::shared_ptr<item> it);
  // Appends a packet's length placeholder and header (112, or 131 68 and the atom-cache
  // refs); returns where the length goes.
  std::size_t write_head(std::vector<std::uint8_t>& a, std::span<const atom> atoms);
  void emit_whole(batch& b, item& it);
  void emit_fragment(batch& b, item& it);
  void admit_parked_locked(std::vector<any_completion<std::error_code>>& ready);
  bool is_big(const out_message& m) const noexcept;
  bool has_room(const out_message& m) const noexcept;

  wire_mode mode_;
  limits lim_;
  cache_writer cw_;
  mutable std::mutex m_;
  std::condition_variable room_;
  std::deque<std::shared_ptr<item>> q_;
  std::unordered_map<std::uint64_t, std::shared_ptr<item>> active_;  // sender -> fragmenting
  std::deque<std::pair<out_message, any_completion<std::error_code>>> parked_;
  std::size_t ticks_ = 0;
  std::size_t bytes_ = 0;
  std::size_t small_bytes_ = 0;  // bytes of unfragmented messages
  std::size_t packets_ = 0;
  std::uint64_t next_seq_ = 1;
  std::size_t pending_items_ = 0;  // items (not chunks) queued or waiting as followers
  std::vector<std::shared_ptr<std::vector<std::uint8_t>>> free_chunks_;
  bool closed_ = false;
};

}  // namespace erlnode::net::detail
