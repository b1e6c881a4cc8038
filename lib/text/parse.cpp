// parse(): Erlang term syntax, read without recursion (an explicit stack of open containers).
#include "text/parser.hpp"

#include "term/utf8.hpp"
#include "text/syntax.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace erlnode {
namespace text::detail {
namespace {

constexpr std::size_t max_digits = 100'000;  // bignum text; longer input is refused
constexpr std::size_t segment_max_bits = 1u << 16;

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
int digit_value(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'z') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'Z') return static_cast<int>(c - 'A' + 10);
  return 99;
}
bool is_unicode(std::uint64_t c) {
  return c < 0xD800 || (c > 0xDFFF && c < 0xFFFE) || (c > 0xFFFF && c <= 0x10FFFF);
}

// A map from its pairs in text order; a repeated key: the last one wins, as erl. Maps of
// more than 32 keys keep the reverse of the text order: OTP 25's ~w prints such a map in the
// reverse of its term_to_binary pair order, so erl's text re-encodes to erl's bytes.
map make_map(std::vector<map::value_type> pairs) {
  if (pairs.size() <= 32) return map(std::move(pairs));  // key order, as the BEAM
  std::reverse(pairs.begin(), pairs.end());
  if (auto m = map::from_ordered(pairs)) return std::move(*m);
  // Repeated keys: keep each key's first pair in the reversed order (its last in the text).
  map seen;
  std::vector<map::value_type> unique;
  unique.reserve(pairs.size());
  for (auto& p : pairs) {
    if (seen.contains(p.first)) continue;
    seen.insert_or_assign(p.first, term());
    unique.push_back(std::move(p));
  }
  if (unique.size() <= 32) return map(std::move(unique));
  return std::move(*map::from_ordered(std::move(unique)));
}

// Appends bits most significant first.
class bit_writer {
 public:
  void push(std::uint64_t v, unsigned n) {  // the low n (<= 64) bits of v
    for (unsigned i = n; i-- > 0;) push_bit((v >> i) & 1);
  }
  void push_byte(std::uint8_t b) {
    if (bits_ % 8 == 0) {
      bytes_.push_back(b);
      bits_ += 8;
    } else {
      push(b, 8);
    }
  }
  std::size_t bits() const { return bits_; }
  term finish() {
    unsigned tail = static_cast<unsigned>(bits_ % 8);
    if (tail == 0) return binary(std::move(bytes_));
    return binary::bits(bytes_, tail);
  }

 private:
  void push_bit(std::uint64_t b) {
    if (bits_ % 8 == 0) bytes_.push_back(0);
    if (b) bytes_.back() |= static_cast<std::uint8_t>(0x80 >> (bits_ % 8));
    ++bits_;
  }
  std::vector<std::uint8_t> bytes_;
  std::size_t bits_ = 0;
};

class parser {
 public:
  parser(std::string_view s, const parse_mode& m) : s_(s), mode_(m) {}

  result<term> run();

 private:
  enum class fk : std::uint8_t { tuple, list, list_tail, map_key, map_value };
  struct frame {
    fk k;
    std::vector<term> elems;
    std::vector<map::value_type> pairs;
    term key;
    std::size_t vars_before_key = 0;
  };

  // --- characters
  bool at_end() const { return pos_ >= s_.size(); }
  char peek_byte(std::size_t ahead = 0) const {
    return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0';
  }
  // Decodes the character at pos_ (a byte that is not UTF-8 counts as Latin-1).
  char32_t peek(std::size_t* len = nullptr) const {
    char32_t c;
    std::size_t n = erlnode::detail::utf8_decode(s_.data() + pos_, s_.size() - pos_, c);
    if (n == 0) {
      c = static_cast<unsigned char>(s_[pos_]);
      n = 1;
    }
    if (len) *len = n;
    return c;
  }
  char32_t next() {
    std::size_t n;
    char32_t c = peek(&n);
    pos_ += n;
    return c;
  }
  void skip_ws() {
    while (!at_end()) {
      char c = s_[pos_];
      if (c == '%') {
        while (!at_end() && s_[pos_] != '\n') ++pos_;
      } else if (static_cast<unsigned char>(c) <= ' ') {
        ++pos_;
      } else {
        return;
      }
    }
  }
  bool eat(char c) {
    if (peek_byte() != c || at_end()) return false;
    ++pos_;
    return true;
  }
  error fail(errc e, std::size_t at) const { return error(e, at); }
  error fail_here(errc e) const { return error(at_end() ? errc::unexpected_end : e, pos_); }

  // --- tokens
  result<term> scalar();
  result<char32_t> escape();
  result<std::u32string> string_literal();  // adjacent "..." "..." concatenated
  result<std::string> quoted_atom_text();
  std::string_view name();  // unquoted atom or variable name at pos_
  result<atom> atom_token(bool allow_reserved);
  result<term> number(bool negative);
  result<term> binary_literal();
  result<term> pid_like();
  result<term> export_fun_literal();
  result<term> placeholder();
  result<std::uint64_t> small_uint(std::uint64_t max);

  std::string_view s_;
  std::size_t pos_ = 0;
  const parse_mode& mode_;
  std::size_t next_arg_ = 0;
  std::size_t vars_ = 0;
};

// A list [E1, ..., En | Tail], with a list tail folded in so every list reads the same.
term make_list(std::vector<term> elems, term tail) {
  if (tail.type() == kind::list) {
    const auto& l = *tail.get_if<list>();
    elems.insert(elems.end(), l.begin(), l.end());
    term t = l.tail();
    return list(std::move(elems), std::move(t));
  }
  return list(std::move(elems), std::move(tail));
}

result<term> parser::run() {
  std::vector<frame> stack;
  skip_ws();
  for (;;) {
    // A value starts here: open a container or read a scalar.
    term value;
    skip_ws();
    std::size_t start = pos_;
    char c = peek_byte();
    bool have = true;
    if (c == '{' || c == '[' || (c == '#' && [&] {
          std::size_t save = pos_++;
          skip_ws();
          bool brace = peek_byte() == '{' && !at_end();
          pos_ = save;
          return brace;
        }())) {
      if (stack.size() >= max_parse_depth) return fail(errc::too_deep, start);
      if (c == '#') {
        ++pos_;
        skip_ws();
      }
      ++pos_;
      skip_ws();
      char close = c == '{' ? '}' : c == '[' ? ']' : '}';
      if (eat(close)) {
        value = c == '{' ? term(tuple{}) : c == '[' ? term() : term(map{});
      } else {
        frame f;
        f.k = c == '{' ? fk::tuple : c == '[' ? fk::list : fk::map_key;
        f.vars_before_key = vars_;
        stack.push_back(std::move(f));
        have = false;
      }
    } else {
      auto r = scalar();
      if (!r) return r.error();
      value = std::move(*r);
    }
    if (!have) continue;

    // Fold the value into the open containers, closing those that end here.
    for (;;) {
      skip_ws();
      if (stack.empty()) {
        if (eat('.')) skip_ws();
        if (!at_end()) return fail(errc::trailing_input, pos_);
        if (mode_.placeholders && next_arg_ < mode_.args.size())
          return fail(errc::extra_argument, pos_);
        return value;
      }
      frame& f = stack.back();
      bool more = false;  // another value follows in f
      switch (f.k) {
        case fk::tuple:
          f.elems.push_back(std::move(value));
          if (eat(',')) {
            more = true;
          } else if (eat('}')) {
            value = tuple(std::move(f.elems));
            stack.pop_back();
          } else {
            return fail_here(errc::unexpected_char);
          }
          break;
        case fk::list:
          f.elems.push_back(std::move(value));
          if (eat(',')) {
            more = true;
          } else if (eat('|')) {
            f.k = fk::list_tail;
            more = true;
          } else if (eat(']')) {
            value = list(std::move(f.elems));
            stack.pop_back();
          } else {
            return fail_here(errc::unexpected_char);
          }
          break;
        case fk::list_tail:
          if (!eat(']')) return fail_here(errc::unexpected_char);
          value = make_list(std::move(f.elems), std::move(value));
          stack.pop_back();
          break;
        case fk::map_key: {
          if (mode_.patterns && vars_ != f.vars_before_key)
            return fail(errc::unbound_variable, pos_);
          f.key = std::move(value);
          char a = peek_byte(), b = peek_byte(1);
          bool ok = mode_.patterns ? (a == ':' && b == '=') : (a == '=' && b == '>');
          if (!ok) return fail_here(errc::unexpected_char);
          pos_ += 2;
          f.k = fk::map_value;
          more = true;
          break;
        }
        case fk::map_value:
          f.pairs.emplace_back(std::move(f.key), std::move(value));
          if (eat(',')) {
            f.k = fk::map_key;
            f.vars_before_key = vars_;
            more = true;
          } else if (eat('}')) {
            value = make_map(std::move(f.pairs));
            stack.pop_back();
          } else {
            return fail_here(errc::unexpected_char);
          }
          break;
      }
      if (more) break;
    }
  }
}

result<term> parser::scalar() {
  if (at_end()) return fail(errc::unexpected_end, pos_);
  std::size_t start = pos_;
  char32_t c = peek();
  if (is_digit(c)) return number(false);
  if (c == '-' || c == '+') {
    ++pos_;
    skip_ws();
    if (at_end()) return fail(errc::unexpected_end, pos_);
    if (is_digit(peek())) return number(c == '-');
    if (peek_byte() == '$') {
      auto r = scalar();
      if (!r) return r;
      std::int64_t v = *r->get_if<std::int64_t>();
      return term(c == '-' ? -v : v);
    }
    return fail(errc::unexpected_char, pos_);
  }
  if (c == '$') {
    ++pos_;
    if (at_end()) return fail(errc::unexpected_end, pos_);
    if (eat('\\')) {
      auto e = escape();
      if (!e) return e.error();
      return term(static_cast<std::int64_t>(*e));
    }
    return term(static_cast<std::int64_t>(next()));
  }
  if (c == '"') {
    auto s = string_literal();
    if (!s) return s.error();
    std::vector<term> cps;
    cps.reserve(s->size());
    for (char32_t ch : *s) cps.emplace_back(static_cast<std::int64_t>(ch));
    return term(list(std::move(cps)));
  }
  if (c == '\'') {
    auto t = quoted_atom_text();
    if (!t) return t.error();
    auto a = atom::make(*t);
    if (!a) return fail(errc::bad_atom, start);
    return term(*a);
  }
  if (is_atom_start(c)) {
    std::string_view n = name();
    if (n == "fun") {
      pos_ = start;
      return export_fun_literal();
    }
    if (is_reserved_word(n)) return fail(errc::bad_atom, start);
    auto a = atom::make(n);
    if (!a) return fail(errc::bad_atom, start);
    return term(*a);
  }
  if (is_var_start(c)) {
    std::string_view n = name();
    if (!mode_.patterns) return fail(errc::unbound_variable, start);
    ++vars_;
    return make_variable(n);
  }
  if (c == '<') {
    if (peek_byte(1) == '<') return binary_literal();
    return pid_like();
  }
  if (c == '#') return pid_like();
  if (c == '~' && mode_.placeholders) return placeholder();
  return fail(errc::unexpected_char, pos_);
}

std::string_view parser::name() {
  std::size_t start = pos_;
  next();
  while (!at_end()) {
    std::size_t n;
    char32_t c = peek(&n);
    if (!is_name_char(c)) break;
    pos_ += n;
  }
  return s_.substr(start, pos_ - start);
}

result<char32_t> parser::escape() {
  std::size_t start = pos_ - 1;
  if (at_end()) return fail(errc::unexpected_end, pos_);
  char32_t c = next();
  if (c >= '0' && c <= '7') {
    char32_t v = c - '0';
    for (int i = 0; i < 2 && !at_end() && peek_byte() >= '0' && peek_byte() <= '7'; ++i)
      v = v * 8 + static_cast<char32_t>(s_[pos_++] - '0');
    return v;
  }
  switch (c) {
    case 'x': {
      if (eat('{')) {
        std::uint64_t v = 0;
        std::size_t n = 0;
        while (!at_end() && digit_value(static_cast<unsigned char>(peek_byte())) < 16) {
          v = v * 16 +
              static_cast<std::uint64_t>(digit_value(static_cast<unsigned char>(s_[pos_++])));
          if (v > 0x10FFFF) return fail(errc::bad_escape, start);
          ++n;
        }
        if (at_end()) return fail(errc::unexpected_end, pos_);
        if (n == 0 || !eat('}') || !is_unicode(v)) return fail(errc::bad_escape, start);
        return static_cast<char32_t>(v);
      }
      if (pos_ + 2 > s_.size()) return fail(errc::unexpected_end, s_.size());
      int h1 = digit_value(static_cast<unsigned char>(s_[pos_]));
      int h2 = digit_value(static_cast<unsigned char>(s_[pos_ + 1]));
      if (h1 >= 16 || h2 >= 16) return fail(errc::bad_escape, start);
      pos_ += 2;
      return static_cast<char32_t>(h1 * 16 + h2);
    }
    case '^':
      if (at_end()) return fail(errc::unexpected_end, pos_);
      return static_cast<char32_t>(next() & 31);
    case 'n':
      return U'\n';
    case 'r':
      return U'\r';
    case 't':
      return U'\t';
    case 'v':
      return U'\v';
    case 'b':
      return U'\b';
    case 'f':
      return U'\f';
    case 'e':
      return char32_t{0x1B};
    case 's':
      return U' ';
    case 'd':
      return char32_t{0x7F};
    default:
      return c;
  }
}

result<std::u32string> parser::string_literal() {
  std::u32string out;
  do {
    ++pos_;  // the opening quote
    for (;;) {
      if (at_end()) return fail(errc::unexpected_end, pos_);
      char32_t c = next();
      if (c == '"') break;
      if (c == '\\') {
        auto e = escape();
        if (!e) return e.error();
        c = *e;
      }
      out += c;
    }
    skip_ws();
  } while (peek_byte() == '"' && !at_end());
  return out;
}

result<std::string> parser::quoted_atom_text() {
  ++pos_;
  std::string out;
  for (;;) {
    if (at_end()) return fail(errc::unexpected_end, pos_);
    char32_t c = next();
    if (c == '\'') break;
    if (c == '\\') {
      auto e = escape();
      if (!e) return e.error();
      c = *e;
    }
    char buf[4];
    out.append(buf, erlnode::detail::utf8_encode(c, buf));
    if (out.size() > 255 * 4) return fail(errc::bad_atom, pos_);
  }
  return out;
}

result<atom> parser::atom_token(bool allow_reserved) {
  std::size_t start = pos_;
  if (at_end()) return fail(errc::unexpected_end, pos_);
  std::string text;
  if (peek_byte() == '\'') {
    auto t = quoted_atom_text();
    if (!t) return t.error();
    text = std::move(*t);
  } else if (is_atom_start(peek())) {
    std::string_view n = name();
    if (!allow_reserved && is_reserved_word(n)) return fail(errc::bad_atom, start);
    text = n;
  } else {
    return fail(errc::unexpected_char, pos_);
  }
  auto a = atom::make(text);
  if (!a) return fail(errc::bad_atom, start);
  return *a;
}

result<term> parser::number(bool negative) {
  std::size_t start = pos_;
  std::string digits;  // without separators
  auto read_digits = [&](int base) {
    std::size_t first = digits.size();
    while (!at_end()) {
      char ch = s_[pos_];
      if (digit_value(static_cast<unsigned char>(ch)) < base) {
        digits += ch;
        ++pos_;
      } else if (ch == '_' && digits.size() > first && pos_ + 1 < s_.size() &&
                 digit_value(static_cast<unsigned char>(s_[pos_ + 1])) < base) {
        ++pos_;
      } else {
        break;
      }
    }
    return digits.size() > first;
  };
  read_digits(10);
  int base = 10;
  if (peek_byte() == '#' && !at_end()) {
    if (digits.size() > 2 || std::stoi(digits) < 2 || std::stoi(digits) > 36)
      return fail(errc::bad_number, start);
    base = std::stoi(digits);
    ++pos_;
    digits.clear();
    if (!read_digits(base)) return fail_here(errc::bad_number);
  } else if (peek_byte() == '.' && pos_ + 1 < s_.size() &&
             is_digit(static_cast<unsigned char>(s_[pos_ + 1]))) {
    digits += '.';
    ++pos_;
    read_digits(10);
    if ((peek_byte() == 'e' || peek_byte() == 'E') && !at_end()) {
      digits += 'e';
      ++pos_;
      if (peek_byte() == '+' || peek_byte() == '-') digits += s_[pos_++];
      if (!read_digits(10)) return fail_here(errc::bad_number);
    }
    if (digits.size() > max_digits) return fail(errc::bad_number, start);
    double d = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      // Erlang reads an underflow as 0.0 and refuses an overflow.
      auto e = digits.find('e');
      bool tiny = (e != std::string::npos && digits[e + 1] == '-') ||
                  digits.find_first_not_of("0.") >= digits.find('.');
      if (!tiny) return fail(errc::bad_number, start);
      d = 0.0;
    } else if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
      return fail(errc::bad_number, start);
    }
    return term(negative ? -d : d);
  }
  if (digits.size() > max_digits) return fail(errc::bad_number, start);
  if (base == 10 && digits.size() <= 18) {
    std::int64_t v = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), v);
    return term(negative ? -v : v);
  }
  // Big: accumulate in chunks that fit in 64 bits.
  big_int v = 0;
  std::size_t i = 0;
  while (i < digits.size()) {
    std::uint64_t chunk = 0, scale = 1;
    for (int k = 0; k < 12 && i < digits.size(); ++k, ++i) {
      chunk = chunk * static_cast<std::uint64_t>(base) +
              static_cast<std::uint64_t>(digit_value(static_cast<unsigned char>(digits[i])));
      scale *= static_cast<std::uint64_t>(base);
    }
    v = v * scale + chunk;
  }
  if (negative) v = -v;
  return term(v);
}

result<std::uint64_t> parser::small_uint(std::uint64_t max) {
  std::size_t start = pos_;
  std::uint64_t v = 0;
  if (at_end()) return fail(errc::unexpected_end, pos_);
  if (!is_digit(static_cast<unsigned char>(peek_byte()))) return fail(errc::unexpected_char, pos_);
  while (!at_end() && is_digit(static_cast<unsigned char>(peek_byte()))) {
    v = v * 10 + static_cast<std::uint64_t>(s_[pos_++] - '0');
    if (v > max) return fail(errc::bad_number, start);
  }
  return v;
}

result<term> parser::binary_literal() {
  pos_ += 2;
  bit_writer w;
  const std::size_t max_bits = segment_max_bits + 64 * s_.size();
  skip_ws();
  if (peek_byte() == '>' && peek_byte(1) == '>') {
    pos_ += 2;
    return term(binary());
  }
  for (;;) {
    skip_ws();
    std::size_t seg = pos_;
    // The value: a number, a character or a string.
    std::vector<term> values;
    bool is_string = false;
    if (peek_byte() == '"' && !at_end()) {
      auto s = string_literal();
      if (!s) return s.error();
      for (char32_t ch : *s) values.emplace_back(static_cast<std::int64_t>(ch));
      is_string = true;
    } else {
      char32_t c = at_end() ? 0 : peek();
      if (!(is_digit(c) || c == '-' || c == '+' || c == '$')) return fail_here(errc::bad_binary);
      auto v = scalar();
      if (!v) return v.error();
      values.push_back(std::move(*v));
    }
    (void)is_string;
    skip_ws();
    std::optional<std::uint64_t> size;
    if (eat(':')) {
      skip_ws();
      auto n = small_uint(segment_max_bits);
      if (!n) return fail(errc::bad_binary, seg);
      size = *n;
      skip_ws();
    }
    enum class ty { integer, float_, utf8, utf16, utf32 } type = ty::integer;
    bool little = false;
    std::uint64_t unit = 1;
    bool unit_given = false;
    if (eat('/')) {
      do {
        skip_ws();
        if (at_end() || !is_atom_start(peek())) return fail_here(errc::bad_binary);
        std::string_view spec = name();
        if (spec == "integer")
          type = ty::integer;
        else if (spec == "float")
          type = ty::float_;
        else if (spec == "utf8")
          type = ty::utf8;
        else if (spec == "utf16")
          type = ty::utf16;
        else if (spec == "utf32")
          type = ty::utf32;
        else if (spec == "big" || spec == "signed" || spec == "unsigned") {
        } else if (spec == "little" || spec == "native")
          little = true;
        else if (spec == "unit") {
          if (!eat(':')) return fail_here(errc::bad_binary);
          auto u = small_uint(256);
          if (!u || *u == 0) return fail(errc::bad_binary, seg);
          unit = *u;
          unit_given = true;
        } else {
          return fail(errc::bad_binary, seg);
        }
        skip_ws();
      } while (eat('-'));
    }
    for (const term& v : values) {
      if (type == ty::utf8 || type == ty::utf16 || type == ty::utf32) {
        auto cp = v.to_int64();
        if (size || unit_given || !cp || *cp < 0 || *cp > 0x10FFFF ||
            (*cp >= 0xD800 && *cp <= 0xDFFF))
          return fail(errc::bad_binary, seg);
        auto c = static_cast<char32_t>(*cp);
        if (type == ty::utf8) {
          char buf[4];
          std::size_t n = erlnode::detail::utf8_encode(c, buf);
          for (std::size_t i = 0; i < n; ++i) w.push_byte(static_cast<std::uint8_t>(buf[i]));
        } else if (type == ty::utf32) {
          for (int i = 0; i < 4; ++i)
            w.push_byte(static_cast<std::uint8_t>(c >> (little ? 8 * i : 24 - 8 * i)));
        } else {
          std::uint16_t units[2];
          int n = 1;
          if (c < 0x10000) {
            units[0] = static_cast<std::uint16_t>(c);
          } else {
            char32_t x = c - 0x10000;
            units[0] = static_cast<std::uint16_t>(0xD800 + (x >> 10));
            units[1] = static_cast<std::uint16_t>(0xDC00 + (x & 0x3FF));
            n = 2;
          }
          for (int i = 0; i < n; ++i) {
            auto u = units[i];
            w.push_byte(static_cast<std::uint8_t>(little ? u : u >> 8));
            w.push_byte(static_cast<std::uint8_t>(little ? u >> 8 : u));
          }
        }
        continue;
      }
      if (type == ty::float_) {
        std::uint64_t bits = (size ? *size : 64) * unit;
        double d;
        if (v.is_float())
          d = *v.get_if<double>();
        else if (auto i = v.to_int64())
          d = static_cast<double>(*i);
        else
          return fail(errc::bad_binary, seg);
        std::uint64_t raw;
        if (bits == 64) {
          std::memcpy(&raw, &d, 8);
        } else if (bits == 32) {
          float f = static_cast<float>(d);
          std::uint32_t r32;
          std::memcpy(&r32, &f, 4);
          raw = r32;
        } else {
          return fail(errc::bad_binary, seg);
        }
        for (std::uint64_t i = 0; i < bits / 8; ++i)
          w.push_byte(static_cast<std::uint8_t>(raw >> (little ? 8 * i : bits - 8 - 8 * i)));
        continue;
      }
      // Integer: the low `bits` bits, two's complement.
      if (!v.is_integer()) return fail(errc::bad_binary, seg);
      std::uint64_t bits = (size ? *size : 8) * unit;
      if (bits > segment_max_bits || w.bits() + bits > max_bits) return fail(errc::bad_binary, seg);
      if (little && bits % 8) return fail(errc::bad_binary, seg);
      std::vector<std::uint8_t> le;  // little-endian bytes of the value mod 2^bits
      std::size_t nbytes = (bits + 7) / 8;
      if (auto i = v.to_int64(); i && bits <= 64) {
        auto u = static_cast<std::uint64_t>(*i);
        for (std::size_t k = 0; k < nbytes; ++k)
          le.push_back(static_cast<std::uint8_t>(u >> (8 * k)));
      } else {
        big_int m = big_int(1) << bits;
        big_int r = *v.to_big_int() % m;
        if (r < 0) r += m;
        for (std::size_t k = 0; k < nbytes; ++k) {
          le.push_back(static_cast<std::uint8_t>(static_cast<unsigned>(r & 0xFF)));
          r >>= 8;
        }
      }
      if (little) {
        for (auto b : le) w.push_byte(b);
      } else {
        // Most significant first: the top partial byte holds bits % 8 bits.
        unsigned top = static_cast<unsigned>(bits % 8);
        std::size_t k = nbytes;
        if (top) {
          --k;
          w.push(le[k], top);
        }
        while (k-- > 0) w.push_byte(le[k]);
      }
    }
    skip_ws();
    if (eat(',')) continue;
    if (peek_byte() == '>' && peek_byte(1) == '>') {
      pos_ += 2;
      return w.finish();
    }
    return fail_here(errc::bad_binary);
  }
}

// Our print forms: <Node.Id.Serial>, #Port<Node.Id>, #Ref<Node.Wn...W1> (creation 0).
result<term> parser::pid_like() {
  std::size_t start = pos_;
  enum { p_pid, p_port, p_ref } what = p_pid;
  if (peek_byte() == '#') {
    if (s_.substr(pos_, 6) == "#Port<") {
      what = p_port;
      pos_ += 6;
    } else if (s_.substr(pos_, 5) == "#Ref<") {
      what = p_ref;
      pos_ += 5;
    } else {
      return fail_here(errc::unexpected_char);
    }
  } else {
    ++pos_;
  }
  auto node = atom_token(true);
  if (!node) return node.error();
  std::uint64_t nums[reference::max_words];
  std::size_t n = 0;
  const std::uint64_t max = what == p_port ? UINT64_MAX / 10 : UINT32_MAX;
  while (eat('.')) {
    if (n == reference::max_words) return fail(errc::unexpected_char, pos_ - 1);
    auto v = small_uint(max);
    if (!v) return v.error();
    nums[n++] = *v;
  }
  if (!eat('>')) return fail_here(errc::unexpected_char);
  switch (what) {
    case p_pid:
      if (n != 2) return fail(errc::unexpected_char, start);
      return term(
          pid(*node, static_cast<std::uint32_t>(nums[0]), static_cast<std::uint32_t>(nums[1]), 0));
    case p_port:
      if (n != 1) return fail(errc::unexpected_char, start);
      return term(port(*node, nums[0], 0));
    case p_ref: {
      if (n == 0) return fail(errc::unexpected_char, start);
      std::uint32_t words[reference::max_words];
      for (std::size_t i = 0; i < n; ++i) words[i] = static_cast<std::uint32_t>(nums[n - 1 - i]);
      return term(reference(*node, 0, std::span<const std::uint32_t>(words, n)));
    }
  }
  return fail(errc::unexpected_char, start);
}

result<term> parser::export_fun_literal() {
  pos_ += 3;  // fun
  skip_ws();
  auto m = atom_token(true);
  if (!m) return m.error();
  skip_ws();
  if (!eat(':')) return fail_here(errc::unexpected_char);
  skip_ws();
  auto f = atom_token(true);
  if (!f) return f.error();
  skip_ws();
  if (!eat('/')) return fail_here(errc::unexpected_char);
  skip_ws();
  auto a = small_uint(255);
  if (!a) return a.error();
  return term(export_fun(*m, *f, static_cast<std::uint8_t>(*a)));
}

result<term> parser::placeholder() {
  std::size_t start = pos_++;
  if (at_end()) return fail(errc::unexpected_end, pos_);
  char p = s_[pos_++];
  if (next_arg_ >= mode_.args.size()) return fail(errc::missing_argument, start);
  const term& a = mode_.args[next_arg_++];
  auto bad = fail(errc::bad_placeholder, start);
  switch (p) {
    case 'a': {
      if (a.is_atom()) return a;
      std::optional<std::string> text;
      if (auto* b = a.get_if<binary>(); b && b->is_binary())
        text = std::string(b->view());
      else
        text = a.to_utf8_string();
      if (!text) return bad;
      auto at = atom::make(*text);
      if (!at) return fail(errc::bad_atom, start);
      return term(*at);
    }
    case 'i':
    case 'l':
      if (!a.is_integer()) return bad;
      return a;
    case 'u':
      if (!a.is_integer() || a < term(0)) return bad;
      return a;
    case 'f':
    case 'd':
      if (a.is_float()) return a;
      if (auto i = a.to_int64()) return term(static_cast<double>(*i));
      return bad;
    case 's':
      if (a.is_list()) return a;
      if (auto* b = a.get_if<binary>(); b && b->is_binary()) return term(b->view());
      if (auto* at = a.get_if<atom>()) return term(at->text());
      return bad;
    case 'b':
      if (a.is_bitstring()) return a;
      if (auto t = a.to_utf8_string()) return term(binary(*t));
      return bad;
    case 'w':
      return a;
    default:
      return bad;
  }
}

}  // namespace

term make_variable(std::string_view name) {
  std::vector<std::uint8_t> bytes;
  bytes.reserve(name.size() + 1);
  bytes.push_back(var_marker);
  bytes.insert(bytes.end(), name.begin(), name.end());
  return local_term(std::move(bytes));
}

std::string_view variable_name(const term& t) noexcept {
  auto* l = t.get_if<local_term>();
  if (!l) return {};
  auto b = l->bytes();
  if (b.size() < 2 || b[0] != var_marker) return {};
  return {reinterpret_cast<const char*>(b.data()) + 1, b.size() - 1};
}

result<term> parse_text(std::string_view text, const parse_mode& mode) {
  return parser(text, mode).run();
}

}  // namespace text::detail

result<term> parse(std::string_view text) { return text::detail::parse_text(text, {}); }

}  // namespace erlnode
