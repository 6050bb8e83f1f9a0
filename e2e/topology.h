// Topology: a host, an external client and pods behind a bridge, built from
// network namespaces and veth pairs for e2e traffic tests.
//
//   client (eth0: 192.0.2.100/24, 2001:db8::100/64, default via .10 / ::10)
//     | veth
//   host   (hp-ext: 192.0.2.10/24 + 192.0.2.11/24, 2001:db8::10/64 +
//           2001:db8::11/64; bridge hp-br0: 10.88.0.1/16, fd00:88::1/64;
//           forwarding on; br_netfilter as the kernel sets it)
//     | hp-br0 ports hp-vethN (hairpin per pod)
//   pod N  (eth0: 10.88.0.N/16, fd00:88::N/64 [+ 10.88.1.N, fd00:88::1:N],
//           default via the bridge)
//
// Promises: every namespace (and with it every link and address) the builder
// created is deleted when the Topology is destroyed, also on test failure and
// on SIGTERM (the Netns harness); DAD is off everywhere, so addresses work at
// once. REQUIRES: root and network namespaces (HOSTPORT_REQUIRE_KERNEL()).
#ifndef E2E_TOPOLOGY_H_
#define E2E_TOPOLOGY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "e2e/netns.h"
#include "hostport/model/types.h"

namespace hostport::e2e {

struct PodSpec {
  int index = 2;        // Addresses 10.88.0.<index> and fd00:88::<index>.
  bool hairpin = true;  // hairpin_mode of the pod's bridge port.
  // Also 10.88.1.<index> and fd00:88::1:<index>, after the first addresses.
  bool second_address = false;
};

struct TopologyOptions {
  std::vector<PodSpec> pods = {PodSpec{}};  // 1..3 pods, distinct indexes.
};

class Topology {
 public:
  static constexpr const char* kBridge = "hp-br0";
  static constexpr const char* kHostExternal = "hp-ext";

  static absl::StatusOr<std::unique_ptr<Topology>> Create(
      const TopologyOptions& options);

  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  ~Topology() = default;  // Deletes pods, client and host.

  Netns& host() { return *host_; }
  Netns& client() { return *client_; }
  // REQUIRES: i < number of pods.
  Netns& pod(int i) { return *pods_[i]; }

  // Addresses of the topology, by family.
  static std::string HostAddress(IPFamily family, int which);  // which: 0, 1
  static std::string ClientAddress(IPFamily family);
  static std::string BridgeAddress(IPFamily family);
  static std::string PodAddress(IPFamily family, int index);
  static std::string SecondPodAddress(IPFamily family, int index);
  // The addresses of the i-th pod in a runtime's order: the first IPv4, the
  // first IPv6, then the second ones if it has them.
  std::vector<std::string> PodIps(int i) const;

 private:
  Topology() = default;
  absl::Status Build(const TopologyOptions& options);

  // Declared first: destroyed last, after the pods and the client.
  std::unique_ptr<Netns> host_;
  std::unique_ptr<Netns> client_;
  std::vector<std::unique_ptr<Netns>> pods_;
  std::vector<PodSpec> specs_;
};

}  // namespace hostport::e2e

#endif  // E2E_TOPOLOGY_H_
