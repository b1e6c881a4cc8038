#include <erlnode/cookie.hpp>

#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace erlnode {

namespace {
class cookie_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.cookie"; }
  std::string message(int ev) const override {
    switch (static_cast<cookie_errc>(ev)) {
      case cookie_errc::no_home:
        return "no home directory for the cookie file";
      case cookie_errc::not_regular:
        return "cookie file is not a regular file";
      case cookie_errc::bad_permissions:
        return "cookie file must be accessible by owner only";
      case cookie_errc::bad_characters:
        return "bad characters in cookie";
      case cookie_errc::too_short:
        return "too short cookie string";
      case cookie_errc::read_failed:
        return "cannot read the cookie file";
      case cookie_errc::create_failed:
        return "cannot create the cookie file";
    }
    return "unknown cookie error";
  }
};

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
}  // namespace

const std::error_category& cookie_category() noexcept {
  static cookie_category_impl c;
  return c;
}

result<std::string> read_cookie_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return error(cookie_errc::read_failed);
  if (!S_ISREG(st.st_mode)) return error(cookie_errc::not_regular);
  if (st.st_mode & 077) return error(cookie_errc::bad_permissions);
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(cookie_errc::read_failed);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  // Printable characters, then only newlines/returns/spaces may follow (as auth.erl).
  std::size_t i = 0;
  while (i < s.size() && s[i] >= ' ' && s[i] <= '~') ++i;
  std::string cookie = s.substr(0, i);
  for (std::size_t j = i; j < s.size(); ++j)
    if (s[j] != '\n' && s[j] != '\r' && s[j] != ' ') return error(cookie_errc::bad_characters, j);
  if (cookie.empty()) return error(cookie_errc::too_short);
  return cookie;
}

result<void> create_cookie_file(const std::string& path) {
  unsigned char rnd[20];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return error(cookie_errc::create_failed);
  std::string cookie;
  for (unsigned char r : rnd) cookie += static_cast<char>('A' + r % 26);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return error(cookie_errc::create_failed);
  bool ok = ::write(fd, cookie.data(), cookie.size()) == static_cast<ssize_t>(cookie.size());
  ok = (::fchmod(fd, 0400) == 0) && ok;
  ::close(fd);
  if (!ok) return error(cookie_errc::create_failed);
  return {};
}

result<std::string> default_cookie() {
  const char* home = std::getenv("HOME");
  std::string xdg;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    xdg = std::string(x) + "/erlang/.erlang.cookie";
  else if (home)
    xdg = std::string(home) + "/.config/erlang/.erlang.cookie";
  if (home && *home) {
    std::string hp = std::string(home) + "/.erlang.cookie";
    if (exists(hp)) return read_cookie_file(hp);
    if (!xdg.empty() && exists(xdg)) return read_cookie_file(xdg);
    if (auto r = create_cookie_file(hp); !r) return r.error();
    return read_cookie_file(hp);
  }
  if (xdg.empty()) return error(cookie_errc::no_home);
  if (exists(xdg)) return read_cookie_file(xdg);
  return error(cookie_errc::no_home);
}

}  // namespace erlnode
