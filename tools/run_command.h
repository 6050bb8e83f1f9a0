// `hostportctl run`: holds a pods file's ports in the foreground (DESIGN §8).
//
//   run --pods FILE [--backend auto|iptables|iptables-legacy|iptables-nft|
//       nftables] [--allow-forward] [--state-dir DIR] [--nat-interface IF]
//
// Promises: makes the host hold exactly the file's pods, as `hostportctl sync
// --read-kernel` does, through one manager that lives as long as the process
// and holds every mapped port with a socket. On SIGHUP it re-reads the file
// and syncs again, keeping the previous pods if the file is invalid or the
// sync fails; on SIGTERM or SIGINT it removes every pod and returns 0 (1 if
// that fails). Each sync holds the host-wide lock of --state-dir (default
// /run/hostport) only for its duration, so hostport-cni and other hostportctl
// calls work in between; DIR/run.lock keeps a second `run` on the same state
// directory out. Returns at once 1 when the lock or the first sync failed, 2
// on bad usage or an invalid pod. Messages go to `err`.
// Requires: root; no other thread of the process waits for SIGHUP, SIGTERM or
// SIGINT (they are blocked and taken with sigwait).
#ifndef TOOLS_RUN_COMMAND_H_
#define TOOLS_RUN_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

// `args` are the arguments after the verb. Returns the exit code (cli.h).
int RunRunCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_RUN_COMMAND_H_
