#include <erlnode/cookie.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace erlnode;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto p = fs::temp_directory_path() /
           ("erlnode_cookie_" + std::to_string(::getpid()) + "_" + std::to_string(std::rand()));
  fs::create_directories(p);
  return p;
}
void write_file(const fs::path& p, const std::string& s, mode_t mode) {
  std::ofstream(p, std::ios::binary) << s;
  ::chmod(p.c_str(), mode);
}
}  // namespace

TEST_CASE("cookie files are read with erl's checks") {
  auto dir = temp_dir();
  auto f = dir / "c";
  write_file(f, "SECRET\n", 0400);
  CHECK(*read_cookie_file(f.string()) == "SECRET");
  // As auth.erl: printable characters (space included) up to the first newline/return.
  write_file(f, "SECRET \r\n\n", 0600);
  CHECK(*read_cookie_file(f.string()) == "SECRET ");
  write_file(f, "SECRET", 0644);
  CHECK(read_cookie_file(f.string()).error().code == cookie_errc::bad_permissions);
  write_file(f, "SEC\x01RET", 0600);
  CHECK(read_cookie_file(f.string()).error().code == cookie_errc::bad_characters);
  write_file(f, "\n", 0600);
  CHECK(read_cookie_file(f.string()).error().code == cookie_errc::too_short);
  CHECK(read_cookie_file((dir / "missing").string()).error().code == cookie_errc::read_failed);
  CHECK(read_cookie_file(dir.string()).error().code == cookie_errc::not_regular);
  fs::remove_all(dir);
}

TEST_CASE("the default cookie is created like erl's: 20 letters, mode 0400") {
  auto dir = temp_dir();
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("HOME", dir.c_str(), 1);
  ::unsetenv("XDG_CONFIG_HOME");
  auto c = default_cookie();
  REQUIRE(c);
  CHECK(c->size() == 20);
  for (char ch : *c) CHECK((ch >= 'A' && ch <= 'Z'));
  struct stat st;
  REQUIRE(::stat((dir / ".erlang.cookie").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0400);
  CHECK(*default_cookie() == *c);  // read back, not recreated
  ::setenv("HOME", old_home.c_str(), 1);
  fs::remove_all(dir);
}
