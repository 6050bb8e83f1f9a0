// `hostportctl verify`: renders a pods file, walks every mapping from every
// kind of client through the simulator, and prints a reachability table (DESIGN
// §8).
//
//   verify --pods FILE [--host FILE] [--backend iptables|nftables|both]
//          [--output text|json]
//
// The host file defaults to host.json beside the pods file. Each cell is what
// the simulator says the rendered rules do; a cell that differs from what
// DESIGN §4 says (//semantics) is marked MISMATCH, and so is a pod that
// hostport accepts although DESIGN §4 calls it invalid or conflicting. Exit 0
// iff everything matches, 1 on a mismatch or when the rules cannot be
// simulated, 2 on bad input. No root.
#ifndef TOOLS_VERIFY_COMMAND_H_
#define TOOLS_VERIFY_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

int RunVerifyCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_VERIFY_COMMAND_H_
