// The erlnode processes of the messaging benchmark (the bench executable re-runs itself with
// --recv / --send). They speak the same protocol as the BEAM and ei peers (README.md).
#pragma once

#include <string>
#include <vector>

namespace erlnode::bench {

// A node NAME registering `bench`; prints "ready NODE", then serves runs until killed.
// `flip_fragments`: negotiate the opposite of node_options::fragments' default. `busy_poll_us`:
// the io loop's busy-poll window (run_with_busy_poll), 0 = plain io_context::run.
int run_erlnode_receiver(const std::string& name, const std::string& cookie, bool flip_fragments,
                         long busy_poll_us);

// A node NAME sending to each "PATH=NODE" target: `small` n_small times and `bin_1mb` n_bin
// times, `reps` runs each; prints "result PATH CASE ELAPSED_US RECV_CPU_US SEND_CPU_US"
// per run (CPU: getrusage of the whole process).
int run_erlnode_sender(const std::string& name, const std::string& cookie, long n_small, long n_bin,
                       int reps, const std::vector<std::string>& targets);

}  // namespace erlnode::bench
