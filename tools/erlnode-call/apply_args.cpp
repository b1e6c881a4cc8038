#include "apply_args.hpp"

#include <erlnode/text.hpp>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace erlnode::call_tool {
namespace {

constexpr std::size_t max_depth = 1000;  // nesting; deeper text goes to the text parser
constexpr std::size_t max_atom = 255;

bool blank(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool atom_char(char c) {
  return lower(c) || (c >= 'A' && c <= 'Z') || digit(c) || c == '_' || c == '@';
}

// A cursor that reads '\0' past the end (the C reader's view of its NUL-terminated text).
class reader {
 public:
  explicit reader(std::string_view s) : s_(s) {}
  char peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  char take() { return p_ < s_.size() ? s_[p_++] : (++p_, '\0'); }
  void back() { --p_; }
  void skip_blanks() {
    while (blank(peek())) ++p_;
  }
  std::size_t pos() const { return p_; }
  void seek(std::size_t p) { p_ = p; }
  std::string_view from(std::size_t start) const {
    return start < s_.size() ? s_.substr(start, std::min(p_, s_.size()) - start)
                             : std::string_view();
  }
  std::string rest_from(std::size_t start) const {
    return std::string(start < s_.size() ? s_.substr(start) : std::string_view());
  }

 private:
  std::string_view s_;
  std::size_t p_ = 0;
};

std::optional<term> value(reader& r, std::size_t depth);

// Bytes between quotes, up to the next `q` (erl_call has no escapes).
std::optional<std::string_view> quoted(reader& r, char q) {
  r.take();  // the opening quote
  std::size_t start = r.pos();
  for (;;) {
    char c = r.take();
    if (c == '\0') return std::nullopt;
    if (c == q) break;
  }
  r.back();
  auto body = r.from(start);
  r.take();
  return body;
}

std::optional<term> number(reader& r) {
  std::size_t start = r.pos();
  if (r.peek() == '-' || r.peek() == '+') r.take();
  bool dot = false;
  for (;;) {
    char c = r.peek();
    if (digit(c)) {
      r.take();
    } else if (!dot && c == '.') {
      dot = true;
      r.take();
    } else {
      break;
    }
  }
  // The value is read from the start by strtod/strtol, which may read further (1.5e3) than
  // the cursor moved: erl_call does the same.
  std::string text = r.rest_from(start);
  if (dot) return term(std::strtod(text.c_str(), nullptr));
  errno = 0;
  return term(static_cast<std::int64_t>(std::strtoll(text.c_str(), nullptr, 10)));
}

std::optional<term> list_value(reader& r, std::size_t depth) {
  std::vector<term> elems;
  std::optional<term> tail;
  char after = r.take();  // '['
  for (;;) {
    if (after == ']') r.back();
    r.skip_blanks();
    char c = r.take();
    if (c == ']') {
      if (after == ',' || after == '|') return std::nullopt;
      break;
    }
    if (c == '|' || c == ',') {
      if (after == '|' || after == ',') return std::nullopt;
      after = r.take();
      continue;
    }
    r.back();
    auto e = value(r, depth + 1);
    if (!e) return std::nullopt;
    if (after == '|') {
      // erl_call writes no tail here and sends a malformed message, so there is nothing to
      // be compatible with: read [H | T] as Erlang does (and step over the ']').
      r.skip_blanks();
      if (r.peek() != ']' || elems.empty()) return std::nullopt;
      r.take();
      tail = std::move(*e);
      break;
    }
    elems.push_back(std::move(*e));
    after = r.take();
  }
  if (elems.empty()) return term(list{});
  return tail ? term(list(std::move(elems), std::move(*tail))) : term(list(std::move(elems)));
}

std::optional<term> tuple_value(reader& r, std::size_t depth) {
  std::vector<term> elems;
  char after = r.take();  // '{'
  for (;;) {
    if (after == '}') break;
    r.skip_blanks();
    char c = r.take();
    if (c == '}') {
      if (after == ',') return std::nullopt;
      break;
    }
    if (c == ',') {
      if (after == ',' || after == '{') return std::nullopt;
      after = r.take();
      continue;
    }
    r.back();
    auto e = value(r, depth + 1);
    if (!e) return std::nullopt;
    elems.push_back(std::move(*e));
    after = r.take();
  }
  return term(tuple(std::move(elems)));
}

std::optional<term> value(reader& r, std::size_t depth) {
  if (depth > max_depth) return std::nullopt;
  r.skip_blanks();
  char c = r.peek();
  switch (c) {
    case '[':
      return list_value(r, depth);
    case '{':
      return tuple_value(r, depth);
    case '"': {
      auto s = quoted(r, '"');
      if (!s) return std::nullopt;
      std::vector<term> bytes;
      for (char b : *s) bytes.emplace_back(static_cast<int>(static_cast<unsigned char>(b)));
      if (bytes.empty()) return term(list{});
      return term(list(std::move(bytes)));
    }
    case '\'': {
      auto s = quoted(r, '\'');
      if (!s || s->size() > max_atom) return std::nullopt;
      auto a = atom::make_latin1(*s);
      if (!a) return std::nullopt;
      return term(*a);
    }
    default:
      break;
  }
  if (digit(c)) return number(r);
  if (c == '-' || c == '+') {
    r.take();
    bool d = digit(r.peek());
    r.back();
    if (d) return number(r);
    return std::nullopt;
  }
  if (lower(c)) {
    std::size_t start = r.pos();
    while (atom_char(r.peek())) r.take();
    auto name = r.from(start);
    if (name.size() > max_atom) name = name.substr(0, max_atom);
    auto a = atom::make_latin1(name);
    if (!a) return std::nullopt;
    return term(*a);
  }
  return std::nullopt;  // '~' placeholders, '<<', '#{', '$', uppercase...
}

}  // namespace

std::optional<term> read_erl_call_args(std::string_view text) {
  reader r(text);
  return value(r, 0);  // erl_call ignores what follows the first term
}

result<term> read_apply_args(std::string_view text) {
  if (auto t = read_erl_call_args(text)) return *t;
  return parse(text);
}

}  // namespace erlnode::call_tool
