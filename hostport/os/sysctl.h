// Sysctl: the one seam through which hostport reads and writes kernel settings
// (net.ipv4.conf.<interface>.route_localnet, which lets 127.0.0.0/8 traffic
// leave by the pod's NAT interface once masqueraded, DESIGN §4).
#ifndef HOSTPORT_OS_SYSCTL_H_
#define HOSTPORT_OS_SYSCTL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hostport {

class Sysctl {
 public:
  virtual ~Sysctl() = default;

  // `name` is a path below /proc/sys, e.g.
  // "net/ipv4/conf/hp-br0/route_localnet". NotFound when it does not exist (no
  // such interface).
  virtual absl::StatusOr<std::string> Read(const std::string& name) = 0;
  virtual absl::Status Write(const std::string& name,
                             const std::string& value) = 0;

  // Reads /proc/net/<name> (e.g. "ip_tables_names": which legacy iptables
  // tables exist). NotFound when absent.
  virtual absl::StatusOr<std::string> ReadProcNet(const std::string& name) = 0;
};

// /proc/sys of the calling thread's network namespace.
class ProcSysctl : public Sysctl {
 public:
  absl::StatusOr<std::string> Read(const std::string& name) override;
  absl::Status Write(const std::string& name,
                     const std::string& value) override;
  absl::StatusOr<std::string> ReadProcNet(const std::string& name) override;
};

// The route_localnet setting of an interface.
std::string RouteLocalnetSysctl(const std::string& interface);

}  // namespace hostport

#endif  // HOSTPORT_OS_SYSCTL_H_
