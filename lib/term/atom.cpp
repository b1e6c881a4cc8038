#include <erlnode/atom.hpp>

#include "term/utf8.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

namespace erlnode {

namespace {

class atom_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.atom"; }
  std::string message(int ev) const override {
    switch (static_cast<atom_errc>(ev)) {
      case atom_errc::too_long:
        return "atom longer than 255 characters";
      case atom_errc::invalid_utf8:
        return "atom text is not valid UTF-8";
      case atom_errc::table_full:
        return "atom table is full";
    }
    return "unknown atom error";
  }
};

std::size_t hash_bytes(std::string_view s) noexcept {
  // FNV-1a, 64-bit: stable across runs, so atom hashes can feed term hashes.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h);
}

struct key_hash {
  using is_transparent = void;
  std::size_t operator()(const detail::atom_entry* e) const noexcept { return e->hash; }
};
struct key_eq {
  bool operator()(const detail::atom_entry* a, const detail::atom_entry* b) const noexcept {
    return a->size == b->size && std::memcmp(a->text, b->text, a->size) == 0;
  }
};

// Sharded so that decoders on different threads rarely contend.
constexpr std::size_t shard_count = 16;
struct shard {
  std::mutex mu;
  std::unordered_set<const detail::atom_entry*, key_hash, key_eq> set;
};

struct table {
  shard shards[shard_count];
  std::atomic<std::size_t> count{0};
  std::atomic<std::size_t> limit{1u << 20};
};

table& the_table() {
  static table* t = new table;  // never destroyed: atoms outlive static destructors
  return *t;
}

const detail::atom_entry* intern(std::string_view utf8, std::uint16_t chars, bool latin1,
                                 bool& full) noexcept {
  table& t = the_table();
  std::size_t h = hash_bytes(utf8);
  // A probe entry on the stack for lookup.
  alignas(detail::atom_entry) unsigned char probe_buf[sizeof(detail::atom_entry) + 1024];
  auto* probe = reinterpret_cast<detail::atom_entry*>(probe_buf);
  probe->hash = h;
  probe->size = static_cast<std::uint32_t>(utf8.size());
  if (!utf8.empty()) std::memcpy(probe->text, utf8.data(), utf8.size());
  shard& s = t.shards[h % shard_count];
  std::lock_guard lock(s.mu);
  if (auto it = s.set.find(probe); it != s.set.end()) return *it;
  if (t.count.load(std::memory_order_relaxed) >= t.limit.load(std::memory_order_relaxed)) {
    full = true;
    return nullptr;
  }
  void* mem = std::malloc(sizeof(detail::atom_entry) + utf8.size());
  if (!mem) {
    full = true;
    return nullptr;
  }
  auto* e = static_cast<detail::atom_entry*>(mem);
  e->hash = h;
  e->size = static_cast<std::uint32_t>(utf8.size());
  e->chars = chars;
  e->latin1 = latin1;
  if (!utf8.empty()) std::memcpy(e->text, utf8.data(), utf8.size());
  e->text[utf8.size()] = '\0';
  s.set.insert(e);
  t.count.fetch_add(1, std::memory_order_relaxed);
  return e;
}

}  // namespace

const std::error_category& atom_category() noexcept {
  static atom_category_impl c;
  return c;
}

atom::atom() noexcept {
  // Function-local so that default atoms built during static initialisation work.
  static const detail::atom_entry* empty = [] {
    bool full = false;
    return intern({}, 0, true, full);
  }();
  e_ = empty;
}

result<atom> atom::make(std::string_view utf8) noexcept {
  // 255 characters of at most 4 bytes each.
  if (utf8.size() > 255 * 4) return error(atom_errc::too_long);
  std::size_t chars = 0;
  bool latin1 = true;
  std::size_t i = 0;
  while (i < utf8.size()) {
    char32_t cp;
    std::size_t n = detail::utf8_decode(utf8.data() + i, utf8.size() - i, cp);
    if (n == 0) return error(atom_errc::invalid_utf8, i);
    if (cp > 0xFF) latin1 = false;
    i += n;
    ++chars;
  }
  if (chars > 255) return error(atom_errc::too_long);
  bool full = false;
  auto* e = intern(utf8, static_cast<std::uint16_t>(chars), latin1, full);
  if (!e) return error(atom_errc::table_full);
  return atom(e);
}

result<atom> atom::make_latin1(std::string_view latin1) noexcept {
  if (latin1.size() > 255) return error(atom_errc::too_long);
  bool ascii = true;
  for (unsigned char c : latin1) ascii = ascii && c < 0x80;
  if (ascii) return make(latin1);
  char buf[255 * 2];
  std::size_t n = 0;
  for (unsigned char c : latin1) n += detail::utf8_encode(c, buf + n);
  return make(std::string_view(buf, n));
}

atom::atom(std::string_view utf8) {
  auto r = make(utf8);
  if (!r) throw error_exception(r.error());
  e_ = r->e_;
}

void atom::set_limit(std::size_t n) noexcept { the_table().limit.store(n); }
std::size_t atom::count() noexcept { return the_table().count.load(); }

namespace atoms {
namespace {
atom mk(const char* s) { return atom::make(s).value(); }
}  // namespace
const atom empty = mk("");
const atom ok = mk("ok"), error = mk("error"), true_ = mk("true"), false_ = mk("false"),
           undefined = mk("undefined"), nil_ = mk("nil"), normal = mk("normal"),
           noproc = mk("noproc"), noconnection = mk("noconnection"), badarg = mk("badarg"),
           undef = mk("undef"), exit = mk("exit"), throw_ = mk("throw"), kill = mk("kill"),
           killed = mk("killed"), timeout = mk("timeout"), nodedown = mk("nodedown"),
           badrpc = mk("badrpc"), EXIT = mk("EXIT"), DOWN = mk("DOWN"), process = mk("process"),
           call = mk("call"), cast = mk("cast"), yes = mk("yes"), no = mk("no"),
           alias = mk("alias"), monitor = mk("monitor"), link = mk("link"), rex = mk("rex"),
           net_kernel = mk("net_kernel"), is_auth = mk("is_auth"), gen_call = mk("$gen_call"),
           gen_cast = mk("$gen_cast");
}  // namespace atoms

}  // namespace erlnode
