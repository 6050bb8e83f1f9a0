// `hostportctl add`: applies a pods file's mappings to this network
// namespace's kernel (DESIGN §8).
//
//   add --pods FILE [--backend auto|iptables|iptables-legacy|iptables-nft|
//       nftables] [--allow-forward] [--state-dir DIR] [--nat-interface IF]
//       [--output text|json]
//
// Promises: every pod is validated and checked for conflicts, with the file's
// other pods and with every pod recorded in --state-dir (default
// /run/hostport, shared with hostport-cni), before anything changes; if a pod
// then fails, the pods this call added are taken back, so nothing is
// half-applied. The pods are recorded under the host-wide lock. Prints each
// added id and the backend, as text or (--output json) one JSON object.
// Installs rules only: a one-shot command cannot keep sockets after it exits
// (`hostportctl run` holds the ports). Returns 0 on success, 1 when the
// operation failed (a conflict, the kernel refused, I/O), 2 on bad usage or an
// invalid pod, with a message naming the value. Messages go to `err`.
// Requires: root.
#ifndef TOOLS_ADD_COMMAND_H_
#define TOOLS_ADD_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

// `args` are the arguments after the verb. Returns the exit code (cli.h).
int RunAddCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_ADD_COMMAND_H_
