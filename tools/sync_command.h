// `hostportctl sync`: makes this network namespace's kernel hold exactly a
// pods file's mappings (DESIGN §8).
//
//   sync --pods FILE [--backend auto|iptables|iptables-legacy|iptables-nft|
//        nftables] [--allow-forward] [--read-kernel] [--state-dir DIR]
//        [--nat-interface IF] [--output text|json]
//
// Promises: the file's pods are validated and checked for conflicts before
// anything changes. Under the host-wide lock of --state-dir (default
// /run/hostport, shared with hostport-cni), the pods are compared with the
// records and only what differs changes: recorded pods the file lacks are
// removed, then pods not recorded exactly are added, and should that fail the
// removed come back. --read-kernel reads the kernel whole instead, so rules of
// ours that no pod owns go too, one transaction per family. Installs rules
// only (`hostportctl run` holds the ports). Prints how many pods are synced
// and the backend, as text or (--output json) one JSON object. Returns 0 on
// success, 1 when the operation failed, 2 on bad usage or an invalid pod.
// Messages go to `err`.
// Requires: root.
#ifndef TOOLS_SYNC_COMMAND_H_
#define TOOLS_SYNC_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

// `args` are the arguments after the verb. Returns the exit code (cli.h).
int RunSyncCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_SYNC_COMMAND_H_
