// The text module's error category.
#include <erlnode/text.hpp>

namespace erlnode::text {
namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.text"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::unexpected_end:
        return "unexpected end of input";
      case errc::unexpected_char:
        return "unexpected character";
      case errc::bad_atom:
        return "invalid atom (reserved word, bad UTF-8 or longer than 255 characters)";
      case errc::bad_number:
        return "invalid number";
      case errc::bad_escape:
        return "invalid escape sequence";
      case errc::bad_binary:
        return "invalid binary segment";
      case errc::too_deep:
        return "term nested too deeply";
      case errc::trailing_input:
        return "unexpected input after the term";
      case errc::bad_placeholder:
        return "unknown placeholder or argument of the wrong type";
      case errc::missing_argument:
        return "more placeholders than arguments";
      case errc::extra_argument:
        return "more arguments than placeholders";
      case errc::unbound_variable:
        return "variable where a value is required";
    }
    return "unknown text error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}
}  // namespace erlnode::text
