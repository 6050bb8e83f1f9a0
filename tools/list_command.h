// `hostportctl list`: shows the pods and mappings this host holds, as the
// records in the state directory say (DESIGN §8).
//
//   list [--state-dir DIR] [--output text|json]
//
// Promises: prints one line per pod recorded in --state-dir (default
// /run/hostport, shared with hostport-cni): id, namespace/name, backend, IPs
// and mappings, marking pods whose change was interrupted as pending; or
// (--output json) an array of the records. Damaged records are named on
// `err` and skipped. Reads the records only, without the host-wide lock, and
// never the kernel. Returns 0 on success, 1 when the state directory cannot
// be read, 2 on bad usage.
// Requires: the right to read the state directory.
#ifndef TOOLS_LIST_COMMAND_H_
#define TOOLS_LIST_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

// `args` are the arguments after the verb. Returns the exit code (cli.h).
int RunListCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_LIST_COMMAND_H_
