// Library version.
#pragma once

namespace erlnode {
// "major.minor.patch" of the library that is linked in.
const char* version() noexcept;
}  // namespace erlnode
