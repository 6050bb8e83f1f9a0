// HostModel: the facts about a host that decide a packet's path besides the
// rules: interfaces and their addresses, route_localnet, routes, and the
// bridges pods sit behind.
//
// Promises: `lo` with 127.0.0.1/8 and ::1/128 is always present; every
// address in 127.0.0.0/8 and ::1 is local; routing is longest prefix over the
// explicit routes and the prefixes of interface addresses. Parsing rejects
// unknown keys and bad values with a message naming them.
// Requires: nothing; a HostModel is a value.
#ifndef SIM_HOST_MODEL_H_
#define SIM_HOST_MODEL_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/ip_address.h"

namespace sim {

struct HostInterface {
  std::string name;
  std::vector<IpPrefix> addresses;
  // net.ipv4.conf.<name>.route_localnet
  bool route_localnet = false;
};

struct HostRoute {
  IpPrefix to;
  std::string dev;
};

struct BridgePort {
  std::string name;
  // The addresses of the pod behind this port.
  std::vector<IpAddress> addresses;
  bool hairpin_mode = true;
};

struct Bridge {
  std::string name;
  // bridge-nf-call-iptables: bridged traffic passes the host's hooks.
  bool br_netfilter = true;
  std::vector<BridgePort> ports;
};

class HostModel {
 public:
  // Only `lo`.
  HostModel();

  // The host file of DESIGN §8:
  // {"interfaces": [{"name", "addresses": ["a/len"], "route_localnet"}],
  //  "routes": [{"to": "cidr"|"default", "dev"}],
  //  "bridges": [{"name", "br_netfilter", "ports": [{"name", "addresses",
  //  "hairpin_mode"}]}]}
  static absl::StatusOr<HostModel> FromJson(absl::string_view text);

  // From `ip -j addr`, `ip -j route` (either family, or both concatenated as
  // JSON arrays) and route_localnet per interface name.
  static absl::StatusOr<HostModel> FromIpJson(
      absl::string_view addr_json, const std::vector<std::string>& route_jsons,
      const std::map<std::string, bool>& route_localnet);

  // What `trace` assumes without --host: lo, and eth0 with 192.0.2.10/24 and
  // 2001:db8::10/64 carrying both default routes.
  static HostModel Default();

  // Adds or merges an interface (lo's addresses always stay).
  void AddInterface(HostInterface interface);
  void AddRoute(HostRoute route) { routes_.push_back(std::move(route)); }
  void AddBridge(Bridge bridge) { bridges_.push_back(std::move(bridge)); }

  const std::vector<HostInterface>& interfaces() const { return interfaces_; }
  const std::vector<Bridge>& bridges() const { return bridges_; }
  const std::vector<HostRoute>& routes() const { return routes_; }
  const HostInterface* FindInterface(absl::string_view name) const;

  bool IsLocal(const IpAddress& address) const;
  // The interface a packet to `dst` leaves by: `lo` for local addresses,
  // otherwise the longest matching prefix; nullptr when nothing routes it.
  const HostInterface* Route(const IpAddress& dst) const;
  // The address the host uses as source on `interface` towards `dst`: one
  // whose prefix holds `dst`, else the first of that family that is not
  // IPv6 link-local (unless `dst` is).
  std::optional<IpAddress> SourceAddress(const HostInterface& interface,
                                         const IpAddress& dst) const;
  // The source a local process uses towards the local address `dst`: for
  // IPv4 the kernel's local route source, i.e. the first address of the
  // interface holding `dst` whose prefix holds it (the primary of that
  // subnet; 127.0.0.1 for 127/8); for IPv6 `dst` itself. REQUIRES:
  // IsLocal(dst).
  IpAddress LocalSource(const IpAddress& dst) const;
  // The bridge port the pod with `address` sits behind, or nullptr.
  const BridgePort* FindBridgePort(const IpAddress& address,
                                   const Bridge** bridge) const;

 private:
  std::vector<HostInterface> interfaces_;
  std::vector<HostRoute> routes_;
  std::vector<Bridge> bridges_;
};

}  // namespace sim

#endif  // SIM_HOST_MODEL_H_
