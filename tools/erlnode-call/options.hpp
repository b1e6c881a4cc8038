// erl_call's command line, parsed the way erl_call parses it (same switches, same defaults,
// same exit codes for bad usage), so that scripts can call erlnode-call unchanged.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace erlnode::call_tool {

struct options {
  std::optional<std::string> node;          // -sname/-name/-n; may hold "name@host"
  bool long_names = false;                  // -name / -n
  std::optional<std::string> address_host;  // -address [HOST:]PORT
  long port = -1;
  std::optional<std::string> cookie;  // -c
  std::optional<std::string> hidden;  // -h
  std::optional<std::string> apply;   // -a 'Mod [Fun [Args]]'
  std::optional<std::string> script;  // -x (only meaningful with -s)
  long timeout_s = 0;                 // -timeout
  bool start = false;                 // -s
  bool halt = false;                  // -q
  bool verbose = false;               // -v
  bool debug = false;                 // -d
  bool random_name = false;           // -r
  bool dynamic_name = false;          // -R
  bool eval = false;                  // -e
  bool module = false;                // -m
  bool fetch_stdout = false;          // -fetch_stdout
  bool print_result = true;           // -no_result_term clears it
};

// Either the options, or the process exit code erl_call uses for this command line (its
// message already written to stderr): 1 for a bad or missing switch argument, 0 when only
// the usage text is due (no node given, or conflicting switches).
struct parse_outcome {
  std::optional<options> opts;
  int exit_code = 0;
};
parse_outcome parse_options(const std::vector<std::string>& args, const std::string& progname);

void print_usage(const std::string& progname);

// -a's text split as erl_call splits it: Mod, then Fun (default "start"), then the rest as the
// argument list text (default "[]"). nullopt when the text is blank.
struct apply_parts {
  std::string module, function, args;
};
std::optional<apply_parts> split_apply(const std::string& text);

}  // namespace erlnode::call_tool
