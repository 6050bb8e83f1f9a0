// `hostportctl trace`: walks one packet through a host's NAT rules with the
// //sim simulator and prints where it ends up (DESIGN §8).
//
// Promises: RunTraceCommand parses the arguments that follow the verb
// `trace`, reads the rulesets (each file's syntax — iptables-save/restore or
// nft — detected on its own) and the host model, or with --live the current
// network namespace's rules, addresses, routes and route_localnet sysctls,
// and prints the verdict, the endpoint and source the receiver sees, the
// reason when dropped, and the trace, as text or (--output json) one JSON
// object. Returns 0 when the trace was computed, whatever the verdict; 1 when
// the operation failed (a file or command could not be read, a ruleset holds
// a construct the simulator does not model); 2 on bad usage or invalid input,
// with a message naming the bad value. Messages go to `err`.
// Requires: --live needs the right to run iptables-save and nft (root).
#ifndef TOOLS_TRACE_COMMAND_H_
#define TOOLS_TRACE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

// args: everything after `trace`, e.g. {"--ruleset", "v4.rules", "--from",
// "external", "--proto", "tcp", "--dst", "192.0.2.10:8080"}. Also accepts
// and ignores the flags every hostportctl verb takes: --state-dir DIR and
// --nat-interface IF.
int RunTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err);

#endif  // TOOLS_TRACE_COMMAND_H_
