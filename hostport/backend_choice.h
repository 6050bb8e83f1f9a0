// Which backend a meta manager installs with, and which of this library's
// other backends still hold tables on the host (the cleanup choice). Split
// from HostPortManager so that its sequence of steps reads without the
// detection rules in between.
//
// Promises: detection reads as little as it can — at most one `nft list
// chains` per process, shared by detection and the cleanup choice (nft 1.0.6
// `list tables` would read every set element); a trusted nftables backend
// looks up its own chains by name and reads nothing else. Errors name the
// backend and the family being read.
//
// REQUIRES: every seam of `env` is set (NewMetaHostportManager fills the
// null ones with the real implementations first).
#ifndef HOSTPORT_BACKEND_CHOICE_H_
#define HOSTPORT_BACKEND_CHOICE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/backends/backend.h"
#include "hostport/hostport_manager.h"

namespace hostport {

// `nft list chains`, run at most once: the chains only, since listing rules
// would make libnftables complain about iptables-nft's xtables targets.
class ChainListing {
 public:
  explicit ChainListing(NftRunner* nft) : nft_(nft) {}
  const absl::StatusOr<std::string>& Get();
  // Whether nftables answers, from the listing when it was made, else from a
  // lookup of one chain by name (which lists nothing).
  bool Answers();

 private:
  NftRunner* nft_;
  std::optional<absl::StatusOr<std::string>> listed_;
};

// `prefer` made concrete: kIptables becomes the variant `iptables --version`
// names (FailedPrecondition when it cannot tell); kAuto becomes nftables when
// the kernel answers nftables requests, else iptables-nft when installed, else
// legacy.
absl::StatusOr<MetaOptions::Backend> ResolveBackend(MetaOptions::Backend prefer,
                                                    CommandRunner* commands,
                                                    ChainListing* chains);

// One family's backend of the concrete `backend`, read: Load(), or only its
// base objects when `base_only` (trusted records). REQUIRES: `backend` is not
// kAuto or kIptables.
absl::StatusOr<std::unique_ptr<FamilyBackend>> OpenFamilyBackend(
    MetaOptions::Backend backend, IPFamily family, const HostportEnv& env,
    const ObjectNames& names, bool base_only);

// `backend` after Load(), or after LoadBase() when `base_only`; an error names
// the backend and family.
absl::StatusOr<std::unique_ptr<FamilyBackend>> Loaded(
    std::unique_ptr<FamilyBackend> backend, bool base_only = false);

// The backends other than `chosen` whose tables exist on the host for
// `family`, loaded. Only those: reading iptables tables that do not exist
// would create them. One that cannot be read is left out, with a note to
// `log` (which may be empty).
std::vector<std::unique_ptr<FamilyBackend>> OtherBackendsPresent(
    MetaOptions::Backend chosen, IPFamily family, const HostportEnv& env,
    const ObjectNames& names, ChainListing* chains,
    const std::function<void(absl::string_view)>& log);

}  // namespace hostport

#endif  // HOSTPORT_BACKEND_CHOICE_H_
