#include "dist_header.hpp"

#include <erlnode/node_error.hpp>

#include <algorithm>

namespace erlnode::net::detail {

int message_atoms::ref(atom a) {
  const std::size_t slot = atom_cache_slot(a);
  for (std::size_t i = 0; i < atoms_.size(); ++i) {
    if (atoms_[i] == a) return static_cast<int>(i);
    if (atom_cache_slot(atoms_[i]) == slot) return -1;
  }
  if (atoms_.size() >= 255) return -1;
  atoms_.push_back(a);
  return static_cast<int>(atoms_.size() - 1);
}

void out_atom_cache::write(std::span<const atom> atoms, std::vector<std::uint8_t>& out) {
  const std::size_t n = atoms.size();
  out.push_back(static_cast<std::uint8_t>(n));
  if (n == 0) return;
  std::size_t flags_at = out.size();
  out.resize(flags_at + n / 2 + 1, 0);
  bool long_atoms = false;
  std::vector<bool> fresh(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t slot = atom_cache_slot(atoms[i]);
    fresh[i] = slots_[slot] != atoms[i].entry();
    if (fresh[i] && atoms[i].size() > 255) long_atoms = true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t slot = atom_cache_slot(atoms[i]);
    std::uint8_t nib = static_cast<std::uint8_t>((fresh[i] ? 8 : 0) | (slot >> 8));
    out[flags_at + i / 2] |= static_cast<std::uint8_t>(nib << ((i % 2) ? 4 : 0));
    out.push_back(static_cast<std::uint8_t>(slot & 0xff));
    if (fresh[i]) {
      slots_[slot] = atoms[i].entry();
      auto t = atoms[i].text();
      if (long_atoms) out.push_back(static_cast<std::uint8_t>(t.size() >> 8));
      out.push_back(static_cast<std::uint8_t>(t.size()));
      out.insert(out.end(), t.begin(), t.end());
    }
  }
  if (long_atoms) out[flags_at + n / 2] |= static_cast<std::uint8_t>(1 << ((n % 2) ? 4 : 0));
}

result<std::size_t> in_atom_cache::read(std::span<const std::uint8_t> p, std::vector<atom>& atoms) {
  atoms.clear();
  if (p.empty()) return error(node_errc::bad_header, 0);
  const std::size_t n = p[0];
  std::size_t pos = 1;
  if (n == 0) return pos;
  const std::size_t flen = n / 2 + 1;
  if (p.size() < pos + flen) return error(node_errc::bad_header, p.size());
  const std::uint8_t* flags = p.data() + pos;
  pos += flen;
  auto nibble = [&](std::size_t i) { return (flags[i / 2] >> ((i % 2) ? 4 : 0)) & 0xf; };
  const bool long_atoms = nibble(n) & 1;
  atoms.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int nib = nibble(i);
    if (pos >= p.size()) return error(node_errc::bad_header, pos);
    const std::size_t slot = static_cast<std::size_t>(nib & 7) * 256 + p[pos++];
    if (nib & 8) {
      std::size_t len;
      if (long_atoms) {
        if (p.size() < pos + 2) return error(node_errc::bad_header, pos);
        len = (std::size_t{p[pos]} << 8) | p[pos + 1];
        pos += 2;
      } else {
        if (p.size() < pos + 1) return error(node_errc::bad_header, pos);
        len = p[pos++];
      }
      if (p.size() < pos + len) return error(node_errc::bad_header, pos);
      auto a = atom::make({reinterpret_cast<const char*>(p.data() + pos), len});
      if (!a) return error(node_errc::bad_header, pos);
      pos += len;
      slots_[slot] = *a;
      set_[slot] = true;
      atoms.push_back(*a);
    } else {
      if (!set_[slot]) return error(node_errc::bad_header, pos - 1);
      atoms.push_back(slots_[slot]);
    }
  }
  return pos;
}

result<std::optional<reassembler::complete>> reassembler::start(
    std::uint64_t seq, std::uint64_t count, std::vector<atom> atoms,
    std::span<const std::uint8_t> chunk) {
  if (count == 0 || seqs_.count(seq)) return error(node_errc::bad_fragment, 0);
  if (count > 1 && bytes_ + chunk.size() > max_) return error(node_errc::reassembly_limit, 0);
  auto data = std::make_shared<std::vector<std::uint8_t>>();
  // Room for the whole message if every fragment is as large as the first, within the memory
  // bound and 64 MiB (so a lying count costs little; larger messages grow as they arrive).
  std::size_t guess =
      count > max_ / std::max<std::size_t>(chunk.size(), 1) ? max_ - bytes_ : count * chunk.size();
  data->reserve(std::min({guess, max_ - bytes_, std::size_t{64} << 20}));
  data->assign(chunk.begin(), chunk.end());
  if (count == 1) return std::optional<complete>(complete{std::move(atoms), std::move(data)});
  bytes_ += chunk.size();
  seqs_.emplace(seq, partial{std::move(atoms), std::move(data), count - 1});
  return std::optional<complete>();
}

result<std::optional<reassembler::complete>> reassembler::next(
    std::uint64_t seq, std::uint64_t id, std::span<const std::uint8_t> chunk) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || id != it->second.next_id) return error(node_errc::bad_fragment, 0);
  if (bytes_ + chunk.size() > max_) return error(node_errc::reassembly_limit, 0);
  auto& d = *it->second.data;
  d.insert(d.end(), chunk.begin(), chunk.end());
  bytes_ += chunk.size();
  if (id > 1) {
    --it->second.next_id;
    return std::optional<complete>();
  }
  complete c{std::move(it->second.atoms), std::move(it->second.data)};
  bytes_ -= std::min(bytes_, c.data->size());
  seqs_.erase(it);
  return std::optional<complete>(std::move(c));
}

}  // namespace erlnode::net::detail
