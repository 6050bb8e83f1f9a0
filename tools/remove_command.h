// `hostportctl remove`: removes pods' mappings from this network namespace's
// kernel, and their records (DESIGN §8).
//
//   remove (--id ID[,ID...] | --pods FILE) [--state-dir DIR]
//          [--output text|json]
//
// Promises: for each id, every mapping the kernel may hold for it is removed
// (those its record in --state-dir names and those the pods file names, on
// every backend), then its record; no pod IP is needed, and an unknown id is
// no error. The records are read and written under the host-wide lock shared
// with hostport-cni. Prints each removed id, as text or (--output json) one
// JSON object. A pod that cannot be removed is named and the others are
// still removed. Returns 0 when every pod was removed, 1 when one was not (or
// the host could not be opened), 2 on bad usage or an unreadable pods file.
// Messages go to `err`.
// Requires: root.
#ifndef TOOLS_REMOVE_COMMAND_H_
#define TOOLS_REMOVE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

// `args` are the arguments after the verb. Returns the exit code (cli.h).
int RunRemoveCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_REMOVE_COMMAND_H_
