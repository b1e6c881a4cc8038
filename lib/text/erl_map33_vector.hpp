// erl's ~w text and term_to_binary bytes of maps:from_list([{I, I} || I <- lists:seq(1, 33)]),
// shared by the print and parse tests.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace {
// maps:from_list([{I, I} || I <- lists:seq(1, 33)]): erl's ~w text and term_to_binary bytes.
// The text lists the pairs in the reverse of the bytes' order.
constexpr std::string_view erl_map33_text =
    "#{16 => 16,18 => 18,5 => 5,19 => 19,27 => 27,10 => 10,24 => 24,4 => 4,21 => 21,22 => 22,"
    "17 => 17,3 => 3,8 => 8,1 => 1,7 => 7,2 => 2,14 => 14,15 => 15,20 => 20,13 => 13,6 => 6,"
    "28 => 28,25 => 25,32 => 32,9 => 9,11 => 11,31 => 31,26 => 26,30 => 30,29 => 29,23 => 23,"
    "12 => 12,33 => 33}";
const std::vector<std::uint8_t> erl_map33_bytes{
    131, 116, 0,  0,  0,  33, 97, 33, 97, 33, 97, 12, 97, 12, 97, 23, 97, 23, 97, 29, 97, 29, 97,
    30,  97,  30, 97, 26, 97, 26, 97, 31, 97, 31, 97, 11, 97, 11, 97, 9,  97, 9,  97, 32, 97, 32,
    97,  25,  97, 25, 97, 28, 97, 28, 97, 6,  97, 6,  97, 13, 97, 13, 97, 20, 97, 20, 97, 15, 97,
    15,  97,  14, 97, 14, 97, 2,  97, 2,  97, 7,  97, 7,  97, 1,  97, 1,  97, 8,  97, 8,  97, 3,
    97,  3,   97, 17, 97, 17, 97, 22, 97, 22, 97, 21, 97, 21, 97, 4,  97, 4,  97, 24, 97, 24, 97,
    10,  97,  10, 97, 27, 97, 27, 97, 19, 97, 19, 97, 5,  97, 5,  97, 18, 97, 18, 97, 16, 97, 16};
}  // namespace
