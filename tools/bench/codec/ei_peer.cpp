#include "ei_peer.hpp"

#include <ei.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace erlnode::bench::ei_peer {

void init() {
  static std::once_flag once;
  std::call_once(once, [] { ei_init(); });
}

namespace {

bool decode_node(const char* buf, int& idx, node& n) {
  int type = 0, size = 0;
  if (ei_get_type(buf, &idx, &type, &size) < 0) return false;
  n.type = type;
  switch (type) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT: {
      EI_LONGLONG v = 0;
      int save = idx;
      if (ei_decode_longlong(buf, &idx, &v) == 0) {
        n.integer = v;
        return true;
      }
      idx = save;
      break;  // beyond 64 bits: kept opaque below
    }
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT:
      return ei_decode_double(buf, &idx, &n.number) == 0;
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT: {
      char a[MAXATOMLEN_UTF8];
      if (ei_decode_atom_as(buf, &idx, a, sizeof a, ERLANG_UTF8, nullptr, nullptr) < 0)
        return false;
      n.text.assign(a);
      return true;
    }
    case ERL_BINARY_EXT: {
      n.bin.reset(new char[size > 0 ? size : 1]);
      return ei_decode_binary(buf, &idx, n.bin.get(), &n.bin_size) == 0;
    }
    case ERL_STRING_EXT: {
      n.text.resize(static_cast<std::size_t>(size) + 1);
      if (ei_decode_string(buf, &idx, n.text.data()) < 0) return false;
      n.text.resize(static_cast<std::size_t>(size));
      return true;
    }
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
    case ERL_MAP_EXT: {
      int arity = 0;
      int rc = type == ERL_MAP_EXT ? ei_decode_map_header(buf, &idx, &arity)
                                   : ei_decode_tuple_header(buf, &idx, &arity);
      if (rc < 0) return false;
      std::size_t k = static_cast<std::size_t>(arity) * (type == ERL_MAP_EXT ? 2 : 1);
      n.kids.resize(k);
      for (auto& kid : n.kids)
        if (!decode_node(buf, idx, kid)) return false;
      n.integer = arity;
      return true;
    }
    case ERL_NIL_EXT:
    case ERL_LIST_EXT: {
      int arity = 0;
      if (ei_decode_list_header(buf, &idx, &arity) < 0) return false;
      n.integer = arity;
      if (arity == 0) return true;
      n.kids.resize(static_cast<std::size_t>(arity) + 1);  // elements, then the tail
      for (auto& kid : n.kids)
        if (!decode_node(buf, idx, kid)) return false;
      return true;
    }
    case ERL_PID_EXT:
    case ERL_NEW_PID_EXT: {
      auto p = std::make_shared<erlang_pid>();
      if (ei_decode_pid(buf, &idx, p.get()) < 0) return false;
      n.ext = std::move(p);
      return true;
    }
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT: {
      auto r = std::make_shared<erlang_ref>();
      if (ei_decode_ref(buf, &idx, r.get()) < 0) return false;
      n.ext = std::move(r);
      return true;
    }
    default:
      break;
  }
  // Anything else (funs, ports, bitstrings, bignums): its bytes, as an opaque blob.
  int start = idx;
  if (ei_skip_term(buf, &idx) < 0) return false;
  n.type = 0;
  n.text.assign(buf + start, static_cast<std::size_t>(idx - start));
  return true;
}

// The two ways of encoding with ei share one tree walk.
struct x_sink {
  ei_x_buff* x;
  int integer(long long v) { return ei_x_encode_longlong(x, v); }
  int number(double v) { return ei_x_encode_double(x, v); }
  int atom(const std::string& s) {
    return ei_x_encode_atom_len_as(x, s.data(), static_cast<int>(s.size()), ERLANG_UTF8,
                                   ERLANG_UTF8);
  }
  int string(const std::string& s) {
    return ei_x_encode_string_len(x, s.data(), static_cast<int>(s.size()));
  }
  int binary(const char* p, long len) { return ei_x_encode_binary(x, p, static_cast<int>(len)); }
  int tuple(long n) { return ei_x_encode_tuple_header(x, n); }
  int map(long n) { return ei_x_encode_map_header(x, n); }
  int list(long n) { return ei_x_encode_list_header(x, n); }
  int nil() { return ei_x_encode_empty_list(x); }
  int pid(const erlang_pid* p) { return ei_x_encode_pid(x, p); }
  int ref(const erlang_ref* r) { return ei_x_encode_ref(x, r); }
  int raw(const std::string& s) { return ei_x_append_buf(x, s.data(), static_cast<int>(s.size())); }
};

// buf == nullptr only advances idx (ei's sizing mode).
struct buf_sink {
  char* buf;
  int idx = 0;
  int integer(long long v) { return ei_encode_longlong(buf, &idx, v); }
  int number(double v) { return ei_encode_double(buf, &idx, v); }
  int atom(const std::string& s) {
    return ei_encode_atom_len_as(buf, &idx, s.data(), static_cast<int>(s.size()), ERLANG_UTF8,
                                 ERLANG_UTF8);
  }
  int string(const std::string& s) {
    return ei_encode_string_len(buf, &idx, s.data(), static_cast<int>(s.size()));
  }
  int binary(const char* p, long len) { return ei_encode_binary(buf, &idx, p, len); }
  int tuple(long n) { return ei_encode_tuple_header(buf, &idx, static_cast<int>(n)); }
  int map(long n) { return ei_encode_map_header(buf, &idx, static_cast<int>(n)); }
  int list(long n) { return ei_encode_list_header(buf, &idx, static_cast<int>(n)); }
  int nil() { return ei_encode_empty_list(buf, &idx); }
  int pid(const erlang_pid* p) { return ei_encode_pid(buf, &idx, p); }
  int ref(const erlang_ref* r) { return ei_encode_ref(buf, &idx, r); }
  int raw(const std::string& s) {
    if (buf) std::memcpy(buf + idx, s.data(), s.size());
    idx += static_cast<int>(s.size());
    return 0;
  }
};

template <class Sink>
bool encode_node(Sink& s, const node& n) {
  switch (n.type) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
      return s.integer(n.integer) == 0;
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT:
      return s.number(n.number) == 0;
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
      return s.atom(n.text) == 0;
    case ERL_BINARY_EXT:
      return s.binary(n.bin.get(), n.bin_size) == 0;
    case ERL_STRING_EXT:
      return s.string(n.text) == 0;
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
    case ERL_MAP_EXT: {
      int rc = n.type == ERL_MAP_EXT ? s.map(static_cast<long>(n.integer))
                                     : s.tuple(static_cast<long>(n.integer));
      if (rc < 0) return false;
      for (const auto& kid : n.kids)
        if (!encode_node(s, kid)) return false;
      return true;
    }
    case ERL_NIL_EXT:
      return s.nil() == 0;
    case ERL_LIST_EXT:
      if (s.list(static_cast<long>(n.integer)) < 0) return false;
      for (const auto& kid : n.kids)
        if (!encode_node(s, kid)) return false;
      return true;
    case ERL_PID_EXT:
    case ERL_NEW_PID_EXT:
      return s.pid(static_cast<const erlang_pid*>(n.ext.get())) == 0;
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT:
      return s.ref(static_cast<const erlang_ref*>(n.ext.get())) == 0;
    default:
      return s.raw(n.text) == 0;
  }
}

}  // namespace

bool decode(std::span<const std::uint8_t> bytes, node& out) {
  const char* buf = reinterpret_cast<const char*>(bytes.data());
  int idx = 0, version = 0;
  if (ei_decode_version(buf, &idx, &version) < 0) return false;
  return decode_node(buf, idx, out) && static_cast<std::size_t>(idx) == bytes.size();
}

std::size_t count(const node& n) {
  std::size_t c = 1;
  for (const auto& k : n.kids) c += count(k);
  return c;
}

long encode_x(const node& n) {
  ei_x_buff x;
  if (ei_x_new_with_version(&x) < 0) return -1;
  x_sink s{&x};
  long size = encode_node(s, n) ? x.index : -1;
  ei_x_free(&x);
  return size;
}

long encode_sized(const node& n) {
  buf_sink sizing{nullptr};
  if (ei_encode_version(nullptr, &sizing.idx) < 0 || !encode_node(sizing, n)) return -1;
  char* buf = static_cast<char*>(std::malloc(static_cast<std::size_t>(sizing.idx)));
  if (!buf) return -1;
  buf_sink s{buf};
  long size = ei_encode_version(buf, &s.idx) == 0 && encode_node(s, n) ? s.idx : -1;
  std::free(buf);
  return size;
}

bool walk(std::span<const std::uint8_t> bytes) {
  const char* buf = reinterpret_cast<const char*>(bytes.data());
  int idx = 1;
  return ei_skip_term(buf, &idx) == 0 && static_cast<std::size_t>(idx) == bytes.size();
}

}  // namespace erlnode::bench::ei_peer
