// pattern: Erlang patterns with variables, matched without recursion.
#include <erlnode/text.hpp>

#include "text/parser.hpp"

#include <deque>
#include <vector>

namespace erlnode {

const term* bindings::find(std::string_view name) const noexcept {
  auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : &it->second;
}

const term& bindings::operator[](std::string_view name) const {
  if (auto* t = find(name)) return *t;
  throw std::out_of_range("erlnode::bindings: no variable " + std::string(name));
}

result<pattern> pattern::parse(std::string_view text) {
  text::detail::parse_mode m;
  m.patterns = true;
  auto r = text::detail::parse_text(text, m);
  if (!r) return r.error();
  return pattern(std::move(*r));
}

std::optional<bindings> pattern::match(const term& subject) const {
  bindings b;
  std::vector<std::pair<const term*, const term*>> work{{&pat_, &subject}};
  std::deque<term> rests;  // list remainders built while matching [H | T]
  while (!work.empty()) {
    auto [p, s] = work.back();
    work.pop_back();
    if (std::string_view name = text::detail::variable_name(*p); !name.empty()) {
      if (name == "_") continue;
      if (const term* bound = b.find(name)) {
        if (!(*bound == *s)) return std::nullopt;
      } else {
        b.bind(std::string(name), *s);
      }
      continue;
    }
    switch (p->type()) {
      case kind::tuple: {
        const auto* st = s->get_if<tuple>();
        const auto& pt = *p->get_if<tuple>();
        if (!st || st->size() != pt.size()) return std::nullopt;
        for (std::size_t i = 0; i < pt.size(); ++i) work.emplace_back(&pt[i], &(*st)[i]);
        break;
      }
      case kind::list: {
        const auto& pl = *p->get_if<list>();
        if (s->type() != kind::list) return std::nullopt;
        const list* chunk = s->get_if<list>();
        std::size_t i = 0;
        for (const term& pe : pl) {
          while (i == chunk->size()) {
            const term& tail = chunk->tail();
            if (tail.type() != kind::list) return std::nullopt;
            chunk = tail.get_if<list>();
            i = 0;
          }
          work.emplace_back(&pe, &(*chunk)[i++]);
        }
        const term& ptail = pl.tail();
        if (text::detail::variable_name(ptail) == "_") break;
        if (i == chunk->size()) {
          work.emplace_back(&ptail, &chunk->tail());
        } else {
          if (ptail.is_nil()) return std::nullopt;
          auto rest = chunk->elements().subspan(i);
          rests.emplace_back(list(std::vector<term>(rest.begin(), rest.end()), chunk->tail()));
          work.emplace_back(&ptail, &rests.back());
        }
        break;
      }
      case kind::map: {
        const auto* sm = s->get_if<map>();
        if (!sm) return std::nullopt;
        for (const auto& [k, v] : *p->get_if<map>()) {
          const term* sv = sm->find(k);
          if (!sv) return std::nullopt;
          work.emplace_back(&v, sv);
        }
        break;
      }
      default:
        if (!(*p == *s)) return std::nullopt;
    }
  }
  return b;
}

std::optional<bindings> match(const term& t, std::string_view pattern_text) {
  return pattern::parse(pattern_text).value().match(t);
}

}  // namespace erlnode
