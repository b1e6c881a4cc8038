// format(): term syntax with ~x placeholders filled from arguments.
#include <erlnode/text.hpp>

#include "text/parser.hpp"

namespace erlnode {

result<term> format(std::string_view fmt, std::span<const term> args) {
  text::detail::parse_mode m;
  m.placeholders = true;
  m.args = args;
  return text::detail::parse_text(fmt, m);
}

result<term> format(std::string_view fmt, std::initializer_list<term> args) {
  return format(fmt, std::span<const term>(args.begin(), args.size()));
}

}  // namespace erlnode
