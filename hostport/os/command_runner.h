// CommandRunner: the one seam through which hostport runs other programs
// (iptables-restore, iptables-save and their ip6 and legacy/nft variants).
//
// Programs run from an argv, never through a shell, so no value is ever
// interpreted as shell syntax. Standard input is fed from a string; standard
// output and error are captured whole. Tests substitute a fake that records
// calls and injects failures.
#ifndef HOSTPORT_OS_COMMAND_RUNNER_H_
#define HOSTPORT_OS_COMMAND_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hostport {

struct CommandResult {
  int exit_code = 0;  // 128 + N when killed by signal N.
  std::string stdout_text;
  std::string stderr_text;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;

  // Runs argv[0] (looked up in PATH) with `argv`, feeding `stdin_text`. Returns
  // the result whatever the exit code; an error only when the program could not
  // be run at all (not found, fork failed), naming the program.
  virtual absl::StatusOr<CommandResult> Run(
      const std::vector<std::string>& argv, const std::string& stdin_text) = 0;
};

// Runs programs for real with fork/exec and pipes. Thread-safe.
class RealCommandRunner : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    const std::string& stdin_text) override;
};

}  // namespace hostport

#endif  // HOSTPORT_OS_COMMAND_RUNNER_H_
