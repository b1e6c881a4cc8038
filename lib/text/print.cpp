// to_string(): io_lib:format("~w", [T]) of OTP 25, without recursion.
#include <erlnode/text.hpp>

#include "term/utf8.hpp"
#include "text/syntax.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

namespace erlnode {
namespace {

using text::detail::is_atom_start;
using text::detail::is_name_char;

void put_utf8(char32_t c, std::string& out) {
  char buf[4];
  out.append(buf, detail::utf8_encode(c, buf));
}

// One character inside a quoted atom, as io_lib:write_string_as_latin1/2 escapes it.
void put_quoted_char(char32_t c, std::string& out) {
  if (c == '\'' || c == '\\') {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c >= 0x20 && c <= 0x7E) {
    out += static_cast<char>(c);
  } else if (c >= 0xA0 && c <= 0xFF) {
    put_utf8(c, out);
  } else if (c > 0xFF) {
    char buf[16];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint32_t>(c), 16);
    out += "\\x{";
    for (char* p = buf; p != r.ptr; ++p) out += static_cast<char>(*p >= 'a' ? *p - 'a' + 'A' : *p);
    out += '}';
  } else {
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
      case 0x1B:
        out += "\\e";
        break;
      case 0x7F:
        out += "\\d";
        break;
      default:
        out += '\\';
        out += static_cast<char>('0' + (c >> 6));
        out += static_cast<char>('0' + ((c >> 3) & 7));
        out += static_cast<char>('0' + (c & 7));
    }
  }
}

// Code points of an atom's (always valid) UTF-8 text.
template <class F>
void for_each_char(std::string_view s, F&& f) {
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t c;
    std::size_t n = detail::utf8_decode(s.data() + i, s.size() - i, c);
    if (n == 0) {
      c = static_cast<unsigned char>(s[i]);
      n = 1;
    }
    f(c);
    i += n;
  }
}

// `erts` selects the emulator's own rules (used for fun names): no reserved words and no
// '@' in unquoted atoms.
void put_atom(atom a, std::string& out, bool erts = false) {
  std::string_view s = a.text();
  bool quote = s.empty() || (!erts && text::detail::is_reserved_word(s));
  if (!quote) {
    bool first = true;
    for_each_char(s, [&](char32_t c) {
      if (first ? !is_atom_start(c) : (!is_name_char(c) || (erts && c == '@'))) quote = true;
      first = false;
    });
  }
  if (!quote) {
    out += s;
    return;
  }
  out += '\'';
  for_each_char(s, [&](char32_t c) { put_quoted_char(c, out); });
  out += '\'';
}

template <class I>
void put_int(I v, std::string& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Decimal digits of a big integer, 18 at a time (cpp_int::str() trips a GCC 12 -Wrestrict
// false positive).
void put_big(const big_int& x, std::string& out) {
  if (x < 0) out += '-';
  big_int v = abs(x);
  const big_int base(1'000'000'000'000'000'000ULL);
  std::vector<std::uint64_t> chunks;  // least significant first
  while (v >= base) {
    big_int q, r;
    divide_qr(v, base, q, r);
    chunks.push_back(static_cast<std::uint64_t>(r));
    v = std::move(q);
  }
  put_int(static_cast<std::uint64_t>(v), out);
  for (std::size_t i = chunks.size(); i-- > 0;) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, chunks[i]);
    out.append(18 - static_cast<std::size_t>(r.ptr - buf), '0');
    out.append(buf, r.ptr);
  }
}

// float_to_list(F, [short]): the shortest digits that read back as F; the plain form unless
// scientific is strictly shorter, and always scientific from 2^53 up.
void put_float(double f, std::string& out) {
  if (std::isnan(f)) {
    out += "nan";  // not an Erlang value; never produced by a peer
    return;
  }
  if (std::isinf(f)) {
    out += f < 0 ? "-inf" : "inf";
    return;
  }
  if (f == 0) {
    out += std::signbit(f) ? "-0.0" : "0.0";
    return;
  }
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  auto e_pos = sci.find('e');
  std::string digits;
  digits += sci[0];
  if (e_pos > 1) digits.append(sci.substr(2, e_pos - 2));
  int exp = 0;
  std::string_view es = sci.substr(e_pos + 1);
  if (es.front() == '+') es.remove_prefix(1);
  std::from_chars(es.data(), es.data() + es.size(), exp);

  std::string s;  // scientific
  s += digits[0];
  s += '.';
  if (digits.size() > 1)
    s.append(digits, 1);
  else
    s += '0';
  s += 'e';
  put_int(exp, s);
  if (std::fabs(f) >= 9007199254740992.0) {
    out += s;
    return;
  }
  std::string p;  // plain
  const int n = static_cast<int>(digits.size());
  if (exp >= 0) {
    if (n > exp + 1) {
      p.append(digits, 0, static_cast<std::size_t>(exp + 1));
      p += '.';
      p.append(digits, static_cast<std::size_t>(exp + 1));
    } else {
      p += digits;
      p.append(static_cast<std::size_t>(exp + 1 - n), '0');
      p += ".0";
    }
  } else {
    p += "0.";
    p.append(static_cast<std::size_t>(-exp - 1), '0');
    p += digits;
  }
  out += s.size() < p.size() ? s : p;
}

void put_bits(const binary& b, std::string& out) {
  out += "<<";
  const std::size_t n = b.size();
  const unsigned tail = b.tail_bits();
  const std::uint8_t* d = b.data();
  const std::size_t whole = tail ? n - 1 : n;
  for (std::size_t i = 0; i < whole; ++i) {
    if (i) out += ',';
    put_int(static_cast<unsigned>(d[i]), out);
  }
  if (tail) {
    if (whole) out += ',';
    put_int(static_cast<unsigned>(d[n - 1] >> (8 - tail)), out);
    out += ':';
    put_int(tail, out);
  }
  out += ">>";
}

void put_scalar(const term& t, std::string& out) {
  switch (t.type()) {
    case kind::small_int:
      put_int(*t.get_if<std::int64_t>(), out);
      return;
    case kind::big_int:
      put_big(t.get_if<big_integer>()->value(), out);
      return;
    case kind::float_:
      put_float(*t.get_if<double>(), out);
      return;
    case kind::atom:
      put_atom(*t.get_if<atom>(), out);
      return;
    case kind::nil:
      out += "[]";
      return;
    case kind::bitstring:
      put_bits(*t.get_if<binary>(), out);
      return;
    case kind::pid: {
      const auto& p = *t.get_if<pid>();
      out += '<';
      put_atom(p.node(), out);
      out += '.';
      put_int(p.id(), out);
      out += '.';
      put_int(p.serial(), out);
      out += '>';
      return;
    }
    case kind::port: {
      const auto& p = *t.get_if<port>();
      out += "#Port<";
      put_atom(p.node(), out);
      out += '.';
      put_int(p.id(), out);
      out += '>';
      return;
    }
    case kind::reference: {
      const auto& r = *t.get_if<reference>();
      out += "#Ref<";
      put_atom(r.node(), out);
      auto w = r.words();
      for (std::size_t i = w.size(); i-- > 0;) {
        out += '.';
        put_int(w[i], out);
      }
      out += '>';
      return;
    }
    case kind::fun: {
      const auto& f = t.get_if<fun>()->get();
      out += "#Fun<";
      put_atom(f.module, out, true);
      out += '.';
      put_int(f.index, out);
      out += '.';
      if (f.extra.size() >= 2 && f.extra[1].is_integer())
        put_scalar(f.extra[1], out);
      else
        out += '0';
      out += '>';
      return;
    }
    case kind::export_fun: {
      const auto& f = *t.get_if<export_fun>();
      out += "fun ";
      put_atom(f.module(), out, true);
      out += ':';
      put_atom(f.function(), out, true);
      out += '/';
      put_int(static_cast<unsigned>(f.arity()), out);
      return;
    }
    case kind::local:
      out += "#Local<";
      put_int(t.get_if<local_term>()->bytes().size(), out);
      out += '>';
      return;
    case kind::tuple:
    case kind::map:
    case kind::list:
      return;  // containers are handled by the caller
  }
}

// One open container on the explicit stack (trivially copyable, so a million-deep stack
// stays cheap; map pairs live on a side stack).
struct frame {
  kind k;
  bool map_value;     // maps: the key of pair map_i is printed, its value is next
  bool started;       // an element is printed (a separator goes before the next)
  const term* it;     // next element (tuples, lists)
  const term* end;    // end of this chunk
  const term* tail;   // lists: what follows the chunk; nullptr once printed
  std::size_t map_i;  // maps: next pair, an index into the side stack
  std::size_t map_end;
  std::size_t map_base;
};

}  // namespace

void to_string(const term& root, std::string& out) {
  std::vector<frame> stack;
  std::vector<const map::value_type*> pairs;  // the sorted pairs of the open maps
  // Prints `t`, opening a frame for a non-empty container.
  auto open = [&](const term& t) {
    switch (t.type()) {
      case kind::tuple: {
        const auto& tp = *t.get_if<tuple>();
        out += '{';
        if (tp.size() == 0) {
          out += '}';
          return;
        }
        stack.push_back({kind::tuple, false, false, tp.begin(), tp.end(), nullptr, 0, 0, 0});
        return;
      }
      case kind::list: {
        const auto& l = *t.get_if<list>();
        out += '[';
        stack.push_back({kind::list, false, false, l.begin(), l.end(), &l.tail(), 0, 0, 0});
        return;
      }
      case kind::map: {
        const auto& m = *t.get_if<map>();
        out += "#{";
        if (m.empty()) {
          out += '}';
          return;
        }
        const std::size_t base = pairs.size();
        // Small maps print in key order (the BEAM keeps them sorted). OTP 25 prints a larger
        // one in the reverse of its term_to_binary pair order; we keep a decoded map's pair
        // order, so printing ours reversed gives erl's text.
        if (m.size() <= 32) {
          for (const auto& p : m) pairs.push_back(&p);
          std::sort(pairs.begin() + static_cast<std::ptrdiff_t>(base), pairs.end(),
                    [](auto* a, auto* b) { return map_key_less(a->first, b->first); });
        } else {
          for (auto* p = m.end(); p != m.begin();) pairs.push_back(--p);
        }
        stack.push_back(
            {kind::map, false, false, nullptr, nullptr, nullptr, base, pairs.size(), base});
        return;
      }
      default:
        put_scalar(t, out);
    }
  };

  open(root);
  while (!stack.empty()) {
    frame& f = stack.back();
    if (f.k == kind::map) {
      if (f.map_i == f.map_end) {
        out += '}';
        pairs.resize(f.map_base);  // the open maps above this one are closed already
        stack.pop_back();
      } else if (!f.map_value) {
        if (f.map_i != f.map_base) out += ',';  // the side stack holds outer maps' pairs first
        f.map_value = true;
        open(pairs[f.map_i]->first);  // may invalidate f
      } else {
        out += " => ";
        f.map_value = false;
        open(pairs[f.map_i++]->second);
      }
      continue;
    }
    if (f.it != f.end) {
      if (f.started) out += ',';
      f.started = true;
      open(*f.it++);  // may invalidate f
      continue;
    }
    // Chunk done.
    if (f.k == kind::tuple) {
      out += '}';
      stack.pop_back();
      continue;
    }
    const term* tail = f.tail;
    if (tail == nullptr || tail->is_nil()) {
      out += ']';
      stack.pop_back();
    } else if (tail->type() == kind::list) {
      // A list whose tail is a list continues with the tail's elements.
      const auto& l = *tail->get_if<list>();
      f.it = l.begin();
      f.end = l.end();
      f.tail = &l.tail();
    } else {
      out += '|';
      f.tail = nullptr;
      open(*tail);
    }
  }
}

std::string to_string(const term& t) {
  std::string out;
  to_string(t, out);
  return out;
}

}  // namespace erlnode
