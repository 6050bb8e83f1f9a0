// The hostportctl verbs that change or read this network namespace's kernel
// (DESIGN §8): add, remove, list, sync and run. All but list need root.
//
//   add --pods FILE [--backend auto|iptables|iptables-legacy|iptables-nft|
//       nftables] [--allow-forward]
//   remove --id ID[,ID...] | remove --pods FILE
//   list
//   sync --pods FILE [--allow-forward]
//   run --pods FILE [--allow-forward]
//
// Every verb works through a LockedHost: the host-wide lock in --state-dir
// (default /run/hostport, shared with hostport-cni) is held from reading the
// records to writing them, so concurrent processes see each other's pods. add
// validates every pod and checks conflicts (with each other and with every
// recorded pod) before changing anything; if a pod then fails, the pods this
// call added are taken back, so nothing is half-applied. A one-shot command
// cannot keep sockets after it exits: add and sync install rules only; run
// stays in the foreground holding the ports. Exit status: 0 success, 1 the
// operation failed, 2 bad usage or invalid input.
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
