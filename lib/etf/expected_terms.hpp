// The C++ terms the vectors in hand_vectors.hpp encode, written out by hand (test helper).
#pragma once

#include <erlnode/term.hpp>

#include <optional>
#include <string>
#include <string_view>

inline std::optional<erlnode::term> expected_term(std::string_view name) {
  using namespace erlnode;
  atom node("nonode@nohost");
  auto repeat = [](std::string_view s, int n) {
    std::string r;
    for (int i = 0; i < n; ++i) r += s;
    return r;
  };
  if (name == "atom_latin1") return term(atom("\xC3\xA9"));
  if (name == "atom_unicode") return term(atom("\xC4\x81"));
  if (name == "atom_abc") return term(atom("abc"));
  if (name == "string_abc") return term("abc");
  if (name == "list_1_256") return term(list{1, 256});
  if (name == "int_255") return term(255);
  if (name == "int_256") return term(256);
  if (name == "int_m1") return term(-1);
  if (name == "int_max32") return term(2147483647);
  if (name == "int_2p31") return term(std::int64_t{2147483648});
  if (name == "int_min32") return term(std::int64_t{-2147483648});
  if (name == "int_min32_m1") return term(std::int64_t{-2147483649});
  if (name == "int_2p64") return term(big_int(1) << 64);
  if (name == "int_m2p64") return term(-(big_int(1) << 64));
  if (name == "int_max64") return term(INT64_MAX);
  if (name == "int_min64") return term(INT64_MIN);
  if (name == "int_2p2100") return term(big_int(1) << 2100);
  if (name == "float_1_5") return term(1.5);
  if (name == "float_m0") return term(-0.0);
  if (name == "binary_123") return term(binary(std::string_view("\x01\x02\x03", 3)));
  if (name == "bits_1_3") {
    const std::uint8_t b[] = {0x20};
    return term(binary::bits(b, 3));
  }
  if (name == "map_ab") return term(map{{atom("a"), 1}, {atom("b"), 2}});
  if (name == "pid") return term(pid(node, 9, 0, 0));
  if (name == "port") return term(port(node, 0, 0));
  if (name == "v4_port") return term(port(atom("a"), 0x100000001ull, 0));
  if (name == "ref") return term(reference(node, 0, {234257u, 1548746753u, 3180958798u}));
  if (name == "export") return term(export_fun(atom("lists"), atom("map"), 2));
  if (name == "tuple0") return term(tuple{});
  if (name == "nil") return term();
  if (name == "improper") return term(list({term(atom("a"))}, term(atom("b"))));
  if (name == "atom_200_unicode") return term(atom(repeat("\xC4\x80", 200)));
  if (name == "atom_200_ascii") return term(atom(repeat("a", 200)));
  if (name == "tuple_256") {
    tuple t = tuple::of_size(256);
    for (int i = 0; i < 256; ++i) t.elements_mut()[static_cast<std::size_t>(i)] = i + 1;
    return term(t);
  }
  if (name == "mixed")
    return term(tuple{atom("ok"),
                      list{tuple{binary("key"), 3.25}, "text",
                           atom("\xC3\xBC"
                                "ber")},
                      map{{1, list()}, {2.0, tuple{}}}});
  if (name == "list_100_a") return term(list(std::vector<term>(100, term(atom("a")))));
  if (name == "zeros_100") return term(binary(std::string(100, '\0')));
  return std::nullopt;  // map_40 (kept in erl's order) and the fun are checked separately
}
