#include <erlnode/etf.hpp>
#include <erlnode/term.hpp>
#include <erlnode/text.hpp>

#include <iostream>

int main() {
  using namespace erlnode;
  term t = tuple{atom{"ok"}, 42, "text"};
  auto bytes = etf::encode(t);
  if (!bytes) return 1;
  auto back = etf::decode(*bytes);
  if (!back || *back != t) return 1;
  std::cout << to_string(*back) << "\n";
}
