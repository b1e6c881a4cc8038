// Runs a child process (the BEAM peer) and captures its standard output.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace erlnode::bench {

// Runs argv[0] (searched in PATH) with its standard output captured; standard error is
// inherited. Returns the output, or nullopt if it could not be started or did not exit 0.
std::optional<std::string> run_capture(const std::vector<std::string>& argv);

}  // namespace erlnode::bench
