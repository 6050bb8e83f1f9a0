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
// Rules that match ipsets (`-m set`) read them from --ipsets FILE (`ipset
// save` text), or with --live from `ipset save`, run only when such a rule
// exists.
// Requires: --live needs the right to run iptables-save and nft (root).
// --live cannot see which pod sits behind which bridge port (pods' addresses
// live in their own namespaces), so hairpin_mode and br_netfilter are not
// checked there; a note in the output says so.
#ifndef TOOLS_TRACE_COMMAND_H_
#define TOOLS_TRACE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

// Every contact trace has with the operating system: files, the commands
// --live runs (iptables-save, ip6tables-save, nft list ruleset, ipset save,
// ip -j addr, ip -j route, ip -6 -j route) and /proc/sys/net/ipv4/conf. Tests
// swap in a fake.
class TraceHostAccess {
 public:
  virtual ~TraceHostAccess() = default;
  // The standard output of `command`; an error when it cannot run or exits
  // non-zero.
  virtual absl::StatusOr<std::string> Run(const std::string& command) = 0;
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Entry names of a directory, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& path) = 0;
};

// The real operating system.
TraceHostAccess& RealTraceHostAccess();

// RunTraceCommand with every file and command going through `host`.
int RunTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err, TraceHostAccess& host);

// args: everything after `trace`, e.g. {"--ruleset", "v4.rules", "--from",
// "external", "--proto", "tcp", "--dst", "192.0.2.10:8080"}. Also accepts
// and ignores the flags every hostportctl verb takes: --state-dir DIR and
// --nat-interface IF.
int RunTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err);

#endif  // TOOLS_TRACE_COMMAND_H_
