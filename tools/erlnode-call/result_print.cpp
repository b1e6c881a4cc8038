#include "result_print.hpp"

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

namespace erlnode::call_tool {
namespace {

constexpr std::size_t bin_print_max = 30;  // bytes ei shows of a binary before ",..."

void put_int(std::string& out, long long v) {
  char b[32];
  std::snprintf(b, sizeof b, "%lld", v);
  out += b;
}
void put_uint(std::string& out, unsigned long long v) {
  char b[32];
  std::snprintf(b, sizeof b, "%llu", v);
  out += b;
}
// ei prints 32-bit fields of pids, ports and refs with %d: values from 2^31 up come out
// negative.
void put_i32(std::string& out, std::uint32_t v) { put_int(out, static_cast<std::int32_t>(v)); }

// UTF-8 atom text as the Latin-1 bytes ei decodes it to; nullopt if a character is above 255.
std::optional<std::string> latin1(std::string_view utf8) {
  std::string r;
  r.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      r += static_cast<char>(c);
    } else if ((c & 0xE0) == 0xC0 && c <= 0xC3 && i + 1 < utf8.size()) {
      r += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3F));
    } else {
      return std::nullopt;
    }
  }
  return r;
}

bool put_atom(std::string& out, atom a) {
  auto l = latin1(a.text());
  if (!l) return false;
  // ei's rule, in the C locale: quote unless it starts with a-z and has only [A-Za-z0-9_@].
  auto lower = [](unsigned char c) { return c >= 'a' && c <= 'z'; };
  auto plain = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '@';
  };
  bool quote = l->empty() || !lower(static_cast<unsigned char>((*l)[0]));
  for (std::size_t i = 0; !quote && i < l->size(); ++i)
    quote = !plain(static_cast<unsigned char>((*l)[i]));
  if (quote) out += '\'';
  out += *l;
  if (quote) out += '\'';
  return true;
}

// What erl's term_to_binary sends as STRING_EXT: a proper list of 1..65535 integers 0..255.
bool is_byte_string(const list& l) {
  if (!l.is_proper() || l.size() > 0xFFFF) return false;
  for (const term& e : l) {
    auto v = e.to_int64();
    if (!v || *v < 0 || *v > 255) return false;
  }
  return true;
}

void put_string(std::string& out, const list& l) {
  out += '"';
  for (const term& e : l) {
    // ei holds the bytes in a (signed) char: bytes from 128 print as \xffffffXX.
    auto c = static_cast<int>(static_cast<signed char>(static_cast<std::uint8_t>(*e.to_int64())));
    if (c >= ' ') {
      out += static_cast<char>(c);
      continue;
    }
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default: {
        char b[16];
        std::snprintf(b, sizeof b, "\\x%x", static_cast<unsigned>(c));
        out += b;
      }
    }
  }
  out += '"';
}

void put_integer(std::string& out, const term& t) {
  if (auto v = t.to_int64()) return put_int(out, *v);
  big_int v = *t.to_big_int();
  bool neg = v < 0;
  if (neg) v = -v;
  if (v <= big_int(UINT64_MAX)) {  // ei decodes up to 64-bit magnitudes into one word
    if (neg) out += '-';
    return put_uint(out, static_cast<unsigned long long>(v));
  }
  std::string hex;
  while (v > 0) {
    hex += "0123456789ABCDEF"[static_cast<unsigned>(v & 0xF)];
    v >>= 4;
  }
  if (neg) out += '-';
  out += "16#";
  out.append(hex.rbegin(), hex.rend());
}

void put_bytes(std::string& out, const binary& b) {
  const std::size_t bits = b.bit_size();
  const bool is_bin = b.is_binary();
  out += is_bin ? "#Bin<" : "#Bits<";
  const std::uint8_t* p = b.data();
  const std::size_t whole = bits / 8, total = (bits + 7) / 8;
  const bool trunc = is_bin ? whole > bin_print_max : total > bin_print_max;
  const std::size_t n = trunc ? bin_print_max : whole;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    put_uint(out, p[i]);
  }
  if (trunc) {
    out += ",...";
  } else if (!is_bin) {
    unsigned rest = static_cast<unsigned>(bits % 8);
    if (n) out += ',';
    put_uint(out, static_cast<unsigned>(p[n] >> (8 - rest)));
    out += ':';
    put_uint(out, rest);
  }
  out += '>';
}

}  // namespace

bool print_result(const term& root, std::string& out) {
  // Iterative, so that any nesting depth prints: a stack of terms and literal separators.
  using item = std::variant<const term*, std::string_view>;
  std::vector<item> stack{&root};
  while (!stack.empty()) {
    item it = stack.back();
    stack.pop_back();
    if (auto* s = std::get_if<std::string_view>(&it)) {
      out += *s;
      continue;
    }
    const term& t = *std::get<const term*>(it);
    switch (t.type()) {
      case kind::small_int:
      case kind::big_int:
        put_integer(out, t);
        break;
      case kind::float_: {
        char b[400];
        std::snprintf(b, sizeof b, "%f", t.as<double>());
        out += b;
        break;
      }
      case kind::atom:
        if (!put_atom(out, t.as<atom>())) return false;
        break;
      case kind::nil:
        out += "[]";
        break;
      case kind::list: {
        const list& l = t.as<list>();
        if (is_byte_string(l)) {
          put_string(out, l);
          break;
        }
        out += '[';
        stack.emplace_back(std::string_view("]"));
        if (!l.is_proper()) {
          stack.emplace_back(&l.tail());
          stack.emplace_back(std::string_view(" | "));
        }
        auto el = l.elements();
        for (std::size_t i = el.size(); i-- > 0;) {
          stack.emplace_back(&el[i]);
          if (i) stack.emplace_back(std::string_view(", "));
        }
        break;
      }
      case kind::tuple: {
        out += '{';
        stack.emplace_back(std::string_view("}"));
        auto el = t.as<tuple>().elements();
        for (std::size_t i = el.size(); i-- > 0;) {
          stack.emplace_back(&el[i]);
          if (i) stack.emplace_back(std::string_view(", "));
        }
        break;
      }
      case kind::map: {
        out += "#{";
        stack.emplace_back(std::string_view("}"));
        auto ps = t.as<map>().pairs();
        for (std::size_t i = ps.size(); i-- > 0;) {
          stack.emplace_back(&ps[i].second);
          stack.emplace_back(std::string_view(" => "));
          stack.emplace_back(&ps[i].first);
          if (i) stack.emplace_back(std::string_view(", "));
        }
        break;
      }
      case kind::bitstring:
        put_bytes(out, t.as<binary>());
        break;
      case kind::pid: {
        const pid& p = t.as<pid>();
        out += '<';
        out += p.node().text();
        out += '.';
        put_i32(out, p.id());
        out += '.';
        put_i32(out, p.serial());
        out += '>';
        break;
      }
      case kind::port: {
        const port& p = t.as<port>();
        out += "#Port<";
        put_i32(out, static_cast<std::uint32_t>(p.id()));
        out += '.';
        put_i32(out, p.creation());
        out += '>';
        break;
      }
      case kind::reference: {
        out += "#Ref<";
        auto w = t.as<reference>().words();
        for (std::size_t i = 0; i < w.size(); ++i) {
          if (i) out += '.';
          put_i32(out, w[i]);
        }
        out += '>';
        break;
      }
      case kind::export_fun: {
        const export_fun& f = t.as<export_fun>();
        out += "fun ";
        out += f.module().text();
        out += ':';
        out += f.function().text();
        out += '/';
        put_uint(out, f.arity());
        break;
      }
      case kind::fun: {
        const auto& f = t.as<fun>().get();
        out += "#Fun{";
        out += f.module.text();
        out += '.';
        put_uint(out, f.index);
        out += '.';
        // ei shows the old uniq (the second of old_index, old_uniq, pid).
        auto u = f.extra.size() > 1 ? f.extra[1].to_int64() : std::nullopt;
        put_uint(out, static_cast<unsigned long long>(u.value_or(0)));
        out += '}';
        break;
      }
      case kind::local:
        return false;
    }
  }
  return true;
}

}  // namespace erlnode::call_tool
