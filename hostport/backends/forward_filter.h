// ForwardFilter: the filter chains of the forward hook that drop by policy,
// which traffic DNATed to a pod must pass (Docker sets iptables' FORWARD
// policy to DROP; firewalld's nftables table has forward chains with policy
// drop), and, on request, an accept for DNATed flows in iptables' FORWARD.
//
// nftables evaluates every base chain of a hook: an accept in one base chain
// does not stop the next, and a drop is final (DESIGN §7). So a chain can only
// be opened from inside its own table: for iptables' filter FORWARD (either
// variant) FORWARD jumps first to our chain CRIO-HOSTPORTS-FORWARD, which
// accepts what conntrack says was DNATed (`--ctstate DNAT`: both directions
// of such a connection). Another owner's nftables chain cannot be opened
// from our tables; callers name it in a warning instead.
//
// Reads: `nft list chains` (nftables and iptables-nft base chains, no rules)
// and `-S FORWARD` / `-S CRIO-HOSTPORTS-FORWARD` of iptables' filter table
// (legacy only where that table exists): never a whole table.
#ifndef HOSTPORT_BACKENDS_FORWARD_FILTER_H_
#define HOSTPORT_BACKENDS_FORWARD_FILTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hostport/model/naming.h"
#include "hostport/os/command_runner.h"
#include "hostport/os/iptables_tools.h"
#include "hostport/os/nft_runner.h"
#include "hostport/os/sysctl.h"

namespace hostport {

// A base chain of the forward hook whose policy is drop.
struct ForwardDrop {
  // Set for iptables' filter FORWARD (which we can open); nullopt for a
  // chain of a native nftables table.
  std::optional<IptablesVariant> iptables;
  IPFamily family = IPFamily::kIPv4;  // For iptables.
  // "iptables-nft filter FORWARD (IPv4)",
  // "nftables table inet firewalld chain filter_FORWARD".
  std::string chain;
};

class ForwardFilter {
 public:
  // REQUIRES: the seams outlive the object; names.Validate().ok().
  ForwardFilter(CommandRunner* commands, NftRunner* nft, Sysctl* sysctl,
                ObjectNames names)
      : commands_(commands),
        nft_(nft),
        sysctl_(sysctl),
        names_(std::move(names)) {}

  // Every base chain of the forward hook, both families, whose policy is
  // drop.
  absl::StatusOr<std::vector<ForwardDrop>> FindDrops() const;

  // Makes each iptables drop accept DNATed flows first (nothing for one that
  // already does; native nftables chains are skipped). One restore per
  // variant and family.
  absl::Status Open(const std::vector<ForwardDrop>& drops) const;

  // Takes our chain and its jump away from every filter table that has them.
  absl::Status Close() const;

  // The text of the accept rule and of FORWARD's jump, as iptables-save
  // prints them.
  std::string AcceptRule() const;
  std::string JumpRule() const;

 private:
  // FORWARD and our chain of one variant and family's filter table, as
  // `-S` lists them ("-P FORWARD DROP", "-N CHAIN", "-A ..."); "" when a
  // legacy table does not exist (reading it would create it).
  absl::StatusOr<std::string> ReadForward(IptablesVariant variant,
                                          IPFamily family) const;
  absl::Status Restore(IptablesVariant variant, IPFamily family,
                       const std::string& input) const;

  CommandRunner* commands_;
  NftRunner* nft_;
  Sysctl* sysctl_;
  ObjectNames names_;
};

}  // namespace hostport

#endif  // HOSTPORT_BACKENDS_FORWARD_FILTER_H_
