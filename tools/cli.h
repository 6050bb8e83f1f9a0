// Command-line plumbing shared by hostportctl's verbs: flag parsing and exit
// codes.
//
// Flags are "--name value" or "--name=value"; every verb declares the flags it
// takes and whether each takes a value. Anything else is a usage error naming
// the argument.
#ifndef TOOLS_CLI_H_
#define TOOLS_CLI_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hostport {

// Exit codes of DESIGN §8.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // The kernel refused, a conflict, I/O.
inline constexpr int kExitUsage = 2;   // Bad usage or invalid input.

struct FlagSpec {
  std::string name;  // Without the leading "--".
  bool takes_value = true;
};

// The flags every verb accepts (DESIGN §8).
std::vector<FlagSpec> CommonFlags();

struct ParsedFlags {
  std::map<std::string, std::string> values;  // Boolean flags map to "".
  bool Has(const std::string& name) const { return values.count(name) > 0; }
  std::string Get(const std::string& name,
                  const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
};

// Parses `args` against `specs`. Positional arguments, unknown flags, missing
// values and repeated flags are InvalidArgument errors naming the argument.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs);

// Checks that --output is "text" or "json"; sets *json.
absl::Status ParseOutputFlag(const ParsedFlags& flags, bool* json);

}  // namespace hostport

#endif  // TOOLS_CLI_H_
