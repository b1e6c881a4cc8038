#include <erlnode/version.hpp>

namespace erlnode {
const char* version() noexcept { return "0.1.0"; }
}  // namespace erlnode
