// `hostportctl add`, `remove` and `list`: apply pods' mappings to the kernel of
// the current network namespace, take them away again, and show what this host
// holds (DESIGN §8). add and remove need root.
//
//   add --pods FILE [--backend
//   auto|iptables|iptables-legacy|iptables-nft|nftables] remove --id ID[,ID...]
//   | remove --pods FILE list
//
// add validates every pod and checks conflicts (with each other and with the
// pods the state directory records) before changing anything; if any pod then
// fails, the pods this call already added are taken back, so nothing is
// half-applied. Held pods are recorded under --state-dir (default
// /run/hostport). A one-shot command cannot keep sockets open after it exits:
// add installs rules only; `run` holds ports.
#ifndef TOOLS_KERNEL_COMMANDS_H_
#define TOOLS_KERNEL_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

int RunAddCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err);
int RunRemoveCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err);
int RunListCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);
int RunSyncCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);
int RunRunCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_KERNEL_COMMANDS_H_
