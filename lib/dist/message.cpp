#include <erlnode/dist/message.hpp>

#include "dist/bytes.hpp"

#include <algorithm>
#include <memory>
#include <unordered_map>

namespace erlnode::dist {

result<decoded_message> decode_message(assembled_message m, etf::decode_options opts) {
  auto owner = std::make_shared<const std::vector<std::uint8_t>>(std::move(m.bytes));
  std::span<const std::uint8_t> all(*owner);
  if (m.offset > all.size()) return error(errc::truncated, all.size());
  if (!m.version_bytes) opts.atom_cache = m.atoms;
  opts.allow_trailing = true;
  std::size_t pos = m.offset;
  auto ctl = etf::decode_prefix(all.subspan(pos), m.version_bytes, opts, owner);
  if (!ctl) return error(ctl.error().code, pos + ctl.error().offset);
  pos += ctl->consumed;
  decoded_message out{std::move(ctl->value), std::nullopt};
  if (pos < all.size()) {
    auto msg = etf::decode_prefix(all.subspan(pos), m.version_bytes, opts, owner);
    if (!msg) return error(msg.error().code, pos + msg.error().offset);
    pos += msg->consumed;
    out.message = std::move(msg->value);
  }
  if (pos != all.size()) return error(errc::trailing_data, pos);
  return out;
}

message_sender::message_sender(sender_options o) : opts_(o) {}

result<void> message_sender::encode(const control_message& m,
                                    std::vector<std::vector<std::uint8_t>>& packets,
                                    std::uint64_t sequence_id) {
  auto t = encode_control(m);
  return encode(t.control, t.message, packets, sequence_id);
}

result<void> message_sender::encode(const term& control, const std::optional<term>& message,
                                    std::vector<std::vector<std::uint8_t>>& packets,
                                    std::uint64_t sequence_id) {
  const bool headers = uses_headers(opts_.negotiated);
  etf::encode_options eo;
  eo.minor_version = 2;  // UTF-8 atoms, as the distribution requires
  if (!headers) {
    std::vector<std::uint8_t> p{pass_through_tag};
    if (auto r = etf::encode_to(control, p, eo); !r) return r;
    if (message)
      if (auto r = etf::encode_to(*message, p, eo); !r) return r;
    packets.push_back(std::move(p));
    return {};
  }

  // Terms first (they decide the atom cache refs), then the header in front.
  std::vector<header_ref> refs;
  std::unordered_map<atom, int> index;
  eo.version_byte = false;
  if (opts_.negotiated & flag::dist_hdr_atom_cache) {
    eo.atom_ref = [&](atom a) -> int {
      if (auto it = index.find(a); it != index.end()) return it->second;
      if (refs.size() >= max_header_refs) return -1;
      refs.push_back(cache_.reference(a));
      int i = static_cast<int>(refs.size() - 1);
      index.emplace(a, i);
      return i;
    };
  }
  std::vector<std::uint8_t> ctl, msg;
  auto fail = [&](const error& e) {
    // Slots recorded for a message that is never sent: forget what the peer knows.
    cache_.clear();
    return result<void>(e);
  };
  if (auto r = etf::encode_to(control, ctl, eo); !r) return fail(r.error());
  if (message)
    if (auto r = etf::encode_to(*message, msg, eo); !r) return fail(r.error());

  std::vector<std::uint8_t> ref_part;
  if (auto r = append_header_refs(ref_part, refs); !r) return fail(r.error());

  const std::size_t frag = std::max<std::size_t>(opts_.fragment_size, 1);
  const bool split = (opts_.negotiated & flag::fragments) && ctl.size() + msg.size() > frag;
  if (!split) {
    std::vector<std::uint8_t> p;
    p.reserve(2 + ref_part.size() + ctl.size() + msg.size());
    p.push_back(131);
    p.push_back(header_normal);
    p.insert(p.end(), ref_part.begin(), ref_part.end());
    p.insert(p.end(), ctl.begin(), ctl.end());
    p.insert(p.end(), msg.begin(), msg.end());
    packets.push_back(std::move(p));
    return {};
  }
  // The control term (and the refs) go whole into the first fragment; the message term is
  // sliced so that each fragment carries about `frag` bytes of terms.
  const std::size_t first = ctl.size() >= frag ? 0 : std::min(frag - ctl.size(), msg.size());
  const std::size_t rest = msg.size() - first;
  const std::uint64_t count = 1 + (rest + frag - 1) / frag;
  const std::uint64_t seq = sequence_id ? sequence_id : next_sequence_++;
  std::vector<std::uint8_t> p{131, header_fragment_start};
  detail::put_u64(p, seq);
  detail::put_u64(p, count);
  p.insert(p.end(), ref_part.begin(), ref_part.end());
  p.insert(p.end(), ctl.begin(), ctl.end());
  p.insert(p.end(), msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(first));
  packets.push_back(std::move(p));
  std::size_t pos = first;
  for (std::uint64_t id = count - 1; id >= 1; --id) {
    std::size_t n = std::min(frag, msg.size() - pos);
    std::vector<std::uint8_t> c{131, header_fragment_cont};
    c.reserve(18 + n);
    detail::put_u64(c, seq);
    detail::put_u64(c, id);
    c.insert(c.end(), msg.begin() + static_cast<std::ptrdiff_t>(pos),
             msg.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    packets.push_back(std::move(c));
  }
  return {};
}

}  // namespace erlnode::dist
