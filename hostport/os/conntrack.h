// ConntrackCleaner: the one seam through which hostport deletes conntrack
// entries.
//
// UDP has no connection teardown: an entry created before a mapping existed (or
// while it pointed at another pod) keeps steering a flow to the old place until
// it times out. After rules change, hostport deletes the UDP entries whose
// original destination is the mapped HostIP (any address for a wildcard) and
// HostPort (DESIGN §4). One call takes every destination of a change, so a
// change costs one dump of the family's conntrack table (filtered to the family
// by the kernel), whatever the number of UDP mappings.
#ifndef HOSTPORT_OS_CONNTRACK_H_
#define HOSTPORT_OS_CONNTRACK_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/types.h"

namespace hostport {

// One original destination whose UDP entries go: `port` at `address` (any
// address of the family when nullopt).
struct UdpDestination {
  std::optional<IpAddress> address;
  int port = 0;
};

class ConntrackCleaner {
 public:
  virtual ~ConntrackCleaner() = default;

  // Deletes the UDP entries of `family` whose original destination is any of
  // `destinations`. Returns how many were deleted. Does nothing for an empty
  // list.
  virtual absl::StatusOr<int> DeleteUdp(
      IPFamily family, const std::vector<UdpDestination>& destinations) = 0;
};

// libnetfilter_conntrack over netlink, in the calling thread's network
// namespace.
class NetlinkConntrackCleaner : public ConntrackCleaner {
 public:
  absl::StatusOr<int> DeleteUdp(
      IPFamily family,
      const std::vector<UdpDestination>& destinations) override;
};

}  // namespace hostport

#endif  // HOSTPORT_OS_CONNTRACK_H_
