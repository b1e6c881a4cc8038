// The messages of the benchmark protocol as erlnode terms (README.md).
#pragma once

#include <erlnode/atom.hpp>
#include <erlnode/term.hpp>

#include <cstddef>
#include <optional>
#include <vector>

namespace erlnode::bench {

enum class msg_case { small, bin_1mb };

inline const char* case_name(msg_case c) { return c == msg_case::small ? "small" : "bin_1mb"; }

inline constexpr std::size_t bin_1mb_size = std::size_t{1} << 20;

// {hello, 42, <<"world">>}, or a 1 MiB binary (built once, shared by every send).
inline term make_message(msg_case c) {
  if (c == msg_case::small) return tuple{atom("hello"), 42, binary("world")};
  return binary(std::vector<std::uint8_t>(bin_1mb_size, 0x5a));
}

// The check every receiver makes: the small tuple's shape, or a binary.
inline bool is_payload(const term& t) {
  if (t.is_binary()) return true;
  static const atom hello("hello");
  const tuple* tp = t.get_if<tuple>();
  return tp && tp->size() == 3 && (*tp)[0].is_atom(hello) && (*tp)[1].to_int64() == 42 &&
         (*tp)[2].is_binary();
}

struct sync_msg {
  pid from;
  long long n = 0;
};

// {sync, From, N}
inline std::optional<sync_msg> parse_sync(const term& t) {
  const tuple* tp = t.get_if<tuple>();
  if (!tp || tp->size() != 3 || !(*tp)[0].is_atom(atom("sync"))) return std::nullopt;
  const pid* p = (*tp)[1].get_if<pid>();
  auto n = (*tp)[2].to_int64();
  if (!p || !n || *n < 0) return std::nullopt;
  return sync_msg{*p, *n};
}

// {done, RecvCpuMicros}
inline std::optional<long long> parse_done(const term& t) {
  const tuple* tp = t.get_if<tuple>();
  if (!tp || tp->size() != 2 || !(*tp)[0].is_atom(atom("done"))) return std::nullopt;
  return (*tp)[1].to_int64();
}

}  // namespace erlnode::bench
