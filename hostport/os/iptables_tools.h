// The iptables programs as the backends and the FORWARD opener run them:
// which binary a family and variant name, saving a table, listing one chain,
// and restoring a change with `--noflush`. Each error names the program, what
// it was asked, its exit status and its stderr.
//
// REQUIRES: the runner acts in the intended network namespace; the programs
// of the chosen variant are installed ("iptables-legacy-restore" etc.).
#ifndef HOSTPORT_OS_IPTABLES_TOOLS_H_
#define HOSTPORT_OS_IPTABLES_TOOLS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/model/types.h"
#include "hostport/os/command_runner.h"

namespace hostport {

enum class IptablesVariant { kLegacy, kNft };

// "iptables-legacy-restore", "ip6tables-nft-save", ...
std::string IptablesProgram(IPFamily family, IptablesVariant variant,
                            absl::string_view tool);

// `ip[6]tables[-variant] -w -t TABLE -S CHAIN`: the chain as iptables-save
// lists it, its "-P CHAIN POLICY" or "-N CHAIN" line first, then its "-A"
// rules; nullopt when the chain does not exist. Reads one chain where a save
// reads the table (iptables-nft-save builds a cache of every table).
absl::StatusOr<std::optional<std::string>> ListIptablesChain(
    CommandRunner* runner, IPFamily family, IptablesVariant variant,
    absl::string_view table, absl::string_view chain);

// `<program>-save -t <table>` for one family and variant: its output, or
// Unavailable naming the program, the table, the exit status and stderr.
absl::StatusOr<std::string> SaveIptablesTable(CommandRunner* runner,
                                              IPFamily family,
                                              IptablesVariant variant,
                                              absl::string_view table);

// `<program>-restore -w --noflush` of `input`: OK, or FailedPrecondition
// naming the program, `what` was being changed, the exit status and stderr.
absl::Status RestoreIptables(CommandRunner* runner, IPFamily family,
                             IptablesVariant variant, const std::string& input,
                             absl::string_view what);

}  // namespace hostport

#endif  // HOSTPORT_OS_IPTABLES_TOOLS_H_
