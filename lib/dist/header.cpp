#include <erlnode/dist/header.hpp>

#include "dist/bytes.hpp"

namespace erlnode::dist {

using detail::cursor;

header_ref atom_cache_sender::reference(atom a) noexcept {
  // Mix the hash so that slots spread even for weak atom hashes.
  std::uint64_t h = a.hash();
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  auto slot = static_cast<std::uint16_t>(h % atom_cache_size);
  bool known = set_[slot] && slots_[slot] == a;
  if (!known) {
    slots_[slot] = a;
    set_[slot] = true;
  }
  return {a, slot, !known};
}

namespace {
// Reads the atom-cache part of a 'D'/'E' header at c.
result<void> read_refs(cursor& c, atom_cache_receiver& cache, std::vector<atom>& atoms) {
  if (!c.has(1)) return error(errc::truncated, c.pos());
  std::size_t n = c.be(1);
  if (n == 0) return {};
  std::size_t flag_bytes = n / 2 + 1;
  if (!c.has(flag_bytes)) return error(errc::truncated, c.pos());
  auto flags = c.take(flag_bytes);
  auto nibble = [&](std::size_t i) -> unsigned {
    return (i % 2 == 0) ? (flags[i / 2] & 0x0f) : (flags[i / 2] >> 4);
  };
  const bool long_atoms = (nibble(n) & 0x1) != 0;
  atoms.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned f = nibble(i);
    const std::size_t at = c.pos();
    if (!c.has(1)) return error(errc::truncated, at);
    std::size_t slot = (f & 0x7) * 256 + c.be(1);
    if (f & 0x8) {
      const std::size_t lw = long_atoms ? 2 : 1;
      if (!c.has(lw)) return error(errc::truncated, c.pos());
      std::size_t len = c.be(lw);
      if (!c.has(len)) return error(errc::truncated, c.pos());
      auto text = c.take(len);
      auto a = atom::make({reinterpret_cast<const char*>(text.data()), text.size()});
      if (!a) return error(errc::bad_header, at);
      cache.put(slot, *a);
      atoms.push_back(*a);
    } else {
      const atom* a = cache.get(slot);
      if (!a) return error(errc::bad_atom_cache_ref, at);
      atoms.push_back(*a);
    }
  }
  return {};
}
}  // namespace

result<parsed_header> parse_header(std::span<const std::uint8_t> packet, atom_cache_receiver& cache,
                                   bool headers_negotiated) {
  parsed_header h;
  if (packet.empty()) return error(errc::truncated, 0);
  if (!headers_negotiated) {
    if (packet[0] != pass_through_tag) return error(errc::bad_header, 0);
    h.kind = header_kind::pass_through;
    h.payload_offset = 1;
    return h;
  }
  if (packet[0] != 131) return error(errc::bad_header, 0);
  if (packet.size() < 2) return error(errc::truncated, 1);
  cursor c(packet, 2);
  switch (packet[1]) {
    case header_normal:
      h.kind = header_kind::normal;
      break;
    case header_fragment_start:
    case header_fragment_cont:
      h.kind = packet[1] == header_fragment_start ? header_kind::fragment_start
                                                  : header_kind::fragment_cont;
      if (!c.has(16)) return error(errc::truncated, c.pos());
      h.sequence_id = c.be(8);
      h.fragment_id = c.be(8);
      if (h.fragment_id == 0) return error(errc::bad_fragment, 10);
      break;
    default:
      return error(errc::bad_header, 1);
  }
  if (h.kind != header_kind::fragment_cont) {
    if (auto r = read_refs(c, cache, h.atoms); !r) return r.error();
  }
  h.payload_offset = c.pos();
  return h;
}

result<void> append_header_refs(std::vector<std::uint8_t>& out, std::span<const header_ref> refs) {
  const std::size_t n = refs.size();
  if (n > max_header_refs) return errc::bad_header;
  out.push_back(static_cast<std::uint8_t>(n));
  if (n == 0) return {};
  bool long_atoms = false;
  for (const auto& r : refs)
    if (r.is_new && r.value.size() > 255) long_atoms = true;
  const std::size_t flags_at = out.size();
  out.insert(out.end(), n / 2 + 1, 0);
  auto set_nibble = [&](std::size_t i, unsigned v) {
    out[flags_at + i / 2] |= static_cast<std::uint8_t>((i % 2 == 0) ? v : (v << 4));
  };
  for (std::size_t i = 0; i < n; ++i)
    set_nibble(i, (refs[i].is_new ? 0x8u : 0u) | ((refs[i].slot >> 8) & 0x7u));
  set_nibble(n, long_atoms ? 1u : 0u);
  for (const auto& r : refs) {
    out.push_back(static_cast<std::uint8_t>(r.slot & 0xff));
    if (!r.is_new) continue;
    auto text = r.value.text();
    if (long_atoms)
      detail::put_u16(out, static_cast<std::uint16_t>(text.size()));
    else
      out.push_back(static_cast<std::uint8_t>(text.size()));
    out.insert(out.end(), text.begin(), text.end());
  }
  return {};
}

result<std::optional<assembled_message>> message_receiver::on_packet(
    std::vector<std::uint8_t> packet) {
  auto h = parse_header(packet, cache_, opts_.headers_negotiated);
  if (!h) return h.error();
  using R = std::optional<assembled_message>;
  switch (h->kind) {
    case header_kind::pass_through:
    case header_kind::normal: {
      assembled_message m{std::move(h->atoms), std::move(packet), h->payload_offset,
                          h->kind == header_kind::pass_through};
      return R(std::move(m));
    }
    case header_kind::fragment_start: {
      if (seqs_.count(h->sequence_id)) return error(errc::bad_fragment, 2);  // id reuse
      assembled_message m{std::move(h->atoms), std::move(packet), h->payload_offset, false};
      if (h->fragment_id == 1) return R(std::move(m));
      if (seqs_.size() >= opts_.max_sequences) return error(errc::reassembly_limit, 2);
      std::size_t size = m.bytes.size();
      if (held_ + size > opts_.max_reassembly_bytes) return error(errc::reassembly_limit, 2);
      held_ += size;
      seqs_.emplace(h->sequence_id, sequence{std::move(m), h->fragment_id - 1});
      return R();
    }
    case header_kind::fragment_cont: {
      auto it = seqs_.find(h->sequence_id);
      if (it == seqs_.end()) return error(errc::bad_fragment, 2);  // no such sequence
      if (h->fragment_id != it->second.next_id) return error(errc::bad_fragment, 10);
      std::size_t slice = packet.size() - h->payload_offset;
      if (held_ + slice > opts_.max_reassembly_bytes) return error(errc::reassembly_limit, 0);
      auto& bytes = it->second.msg.bytes;
      bytes.insert(bytes.end(), packet.begin() + static_cast<std::ptrdiff_t>(h->payload_offset),
                   packet.end());
      held_ += slice;
      if (h->fragment_id > 1) {
        it->second.next_id = h->fragment_id - 1;
        return R();
      }
      assembled_message m = std::move(it->second.msg);
      held_ -= m.bytes.size();
      seqs_.erase(it);
      return R(std::move(m));
    }
  }
  return error(errc::bad_header, 0);
}

}  // namespace erlnode::dist
