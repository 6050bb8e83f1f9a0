// ConntrackCleaner: the one seam through which hostport deletes conntrack
// entries.
//
// UDP has no connection teardown: an entry created before a mapping existed (or
// while it pointed at another pod) keeps steering a flow to the old place until
// it times out. After rules change, hostport deletes the UDP entries whose
// original destination is the mapped HostIP (any address for a wildcard) and
// HostPort (DESIGN §4).
#ifndef HOSTPORT_CONNTRACK_H_
#define HOSTPORT_CONNTRACK_H_

#include <optional>

#include "absl/status/statusor.h"
#include "hostport/ip_address.h"
#include "hostport/types.h"

namespace hostport {

class ConntrackCleaner {
 public:
  virtual ~ConntrackCleaner() = default;

  // Deletes UDP entries of `family` whose original destination port is `port`
  // and whose original destination address is `address` (any when nullopt).
  // Returns how many were deleted.
  virtual absl::StatusOr<int> DeleteUdp(IPFamily family,
                                        const std::optional<IpAddress>& address,
                                        int port) = 0;
};

// libnetfilter_conntrack over netlink, in the calling thread's network
// namespace.
class NetlinkConntrackCleaner : public ConntrackCleaner {
 public:
  absl::StatusOr<int> DeleteUdp(IPFamily family,
                                const std::optional<IpAddress>& address,
                                int port) override;
};

}  // namespace hostport

#endif  // HOSTPORT_CONNTRACK_H_
