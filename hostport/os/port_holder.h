// PortHolder: the one seam through which hostport holds host ports, so that no
// other process on the host can take a mapped port (DESIGN §4).
//
// A held port is a socket bound to HostIP:HostPort (the family's wildcard for a
// wildcard mapping; IPV6_V6ONLY on IPv6 so the two families are held
// separately). TCP and SCTP sockets listen, UDP sockets are bound; every socket
// carries a socket filter that drops every packet, so a held socket never
// completes a connection or queues a datagram. Closing the HeldPort releases
// the port.
#ifndef HOSTPORT_OS_PORT_HOLDER_H_
#define HOSTPORT_OS_PORT_HOLDER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/types.h"

namespace hostport {

// What is held: protocol, family, address (nullopt for the family's wildcard),
// port.
struct PortKey {
  IPFamily family = IPFamily::kIPv4;
  Protocol protocol = Protocol::kTCP;
  std::optional<IpAddress> address;
  int port = 0;

  std::string ToString() const;  // "tcp 192.0.2.10:8080", "udp [::]:53"
  friend bool operator==(const PortKey& a, const PortKey& b) {
    return a.family == b.family && a.protocol == b.protocol &&
           a.address == b.address && a.port == b.port;
  }
  template <typename H>
  friend H AbslHashValue(H h, const PortKey& k) {
    h = H::combine(std::move(h), k.family, k.protocol, k.port,
                   k.address.has_value());
    if (k.address) h = H::combine(std::move(h), *k.address);
    return h;
  }
};

// Releases the port when destroyed.
class HeldPort {
 public:
  virtual ~HeldPort() = default;
};

class PortHolder {
 public:
  virtual ~PortHolder() = default;

  // Holds `key`. Errors: AlreadyExists when another socket has the port
  // (EADDRINUSE), FailedPrecondition when the address is not the host's
  // (EADDRNOTAVAIL), Unimplemented when the kernel lacks the protocol (SCTP
  // without its module); each names the port.
  virtual absl::StatusOr<std::unique_ptr<HeldPort>> Hold(
      const PortKey& key) = 0;
};

// Real sockets in the calling thread's network namespace.
class SocketPortHolder : public PortHolder {
 public:
  absl::StatusOr<std::unique_ptr<HeldPort>> Hold(const PortKey& key) override;
};

}  // namespace hostport

#endif  // HOSTPORT_OS_PORT_HOLDER_H_
