#include "dist_header.hpp"

#include <erlnode/node_error.hpp>

#include <algorithm>

namespace erlnode::net::detail {

int message_atoms::ref(atom a) {
  for (std::size_t i = 0; i < atoms_.size(); ++i)
    if (atoms_[i] == a) return static_cast<int>(i);
  if (atoms_.size() >= 255) return -1;
  atoms_.push_back(a);
  return static_cast<int>(atoms_.size() - 1);
}

std::shared_ptr<reassembly_buffer> buffer_pool::get(std::size_t capacity) {
  std::unique_ptr<reassembly_buffer> v;
  {
    std::lock_guard lk(m_);
    if (!free_.empty()) {
      v = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!v) v = std::make_unique<reassembly_buffer>();
  v->clear();
  v->reserve(capacity);
  return std::shared_ptr<reassembly_buffer>(v.release(),
                                            [w = weak_from_this()](reassembly_buffer* p) {
                                              if (auto pool = w.lock()) return pool->put(p);
                                              delete p;
                                            });
}

void buffer_pool::put(reassembly_buffer* v) noexcept {
  std::unique_ptr<reassembly_buffer> u(v);
  if (u->capacity() > (std::size_t{16} << 20)) return;  // keep at most 2 x 16 MiB
  std::lock_guard lk(m_);
  if (free_.size() < 2) free_.push_back(std::move(u));
}

result<std::optional<reassembler::complete>> reassembler::start(
    std::uint64_t seq, std::uint64_t count, std::vector<atom> atoms,
    std::span<const std::uint8_t> chunk) {
  if (count == 0 || seqs_.count(seq)) return error(node_errc::bad_fragment, 0);
  if (count > 1 && bytes_ + chunk.size() > max_) return error(node_errc::reassembly_limit, 0);

  // Room for the whole message if every fragment is as large as the first, within the memory
  // bound and 64 MiB (so a lying count costs little; larger messages grow as they arrive).
  std::size_t guess =
      count > max_ / std::max<std::size_t>(chunk.size(), 1) ? max_ - bytes_ : count * chunk.size();
  auto data = pool_->get(std::min({guess, max_ - bytes_, std::size_t{64} << 20}));
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
  return finish_next(it, id);
}

result<std::span<std::uint8_t>> reassembler::reserve_next(std::uint64_t seq, std::uint64_t id,
                                                          std::size_t n) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || id != it->second.next_id) return error(node_errc::bad_fragment, 0);
  if (bytes_ + n > max_) return error(node_errc::reassembly_limit, 0);
  auto& d = *it->second.data;
  const std::size_t at = d.size();
  d.resize(at + n);
  bytes_ += n;
  return std::span<std::uint8_t>(d.data() + at, n);
}

std::optional<reassembler::complete> reassembler::commit_next(std::uint64_t seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return std::nullopt;
  auto r = finish_next(it, it->second.next_id);
  return r ? std::move(*r) : std::nullopt;
}

result<std::optional<reassembler::complete>> reassembler::finish_next(
    std::unordered_map<std::uint64_t, partial>::iterator it, std::uint64_t id) {
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
