// The vocabulary of hostport: address families, protocols, and the port
// mappings a container runtime asks for.
//
// These are plain values as a runtime fills them in (the Go seed's PortMapping
// and PodPortMapping, with every pod IP instead of one). Nothing here is
// validated; PlanPod() (plan.h) checks a pod and says precisely what is wrong.
#ifndef HOSTPORT_MODEL_TYPES_H_
#define HOSTPORT_MODEL_TYPES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hostport {

// An IP address family. The seed spells them "4" and "6".
enum class IPFamily { kIPv4, kIPv6 };

// "4" or "6".
absl::string_view IPFamilyName(IPFamily family);
// Accepts "4" and "6"; anything else is an error naming the text.
absl::StatusOr<IPFamily> ParseIPFamily(absl::string_view text);
// "IPv4" or "IPv6", for messages.
absl::string_view IPFamilyLabel(IPFamily family);

enum class Protocol { kTCP, kUDP, kSCTP };

// Case-insensitive: "tcp", "TCP" and "Tcp" are TCP. Anything else is an error
// naming the text and the valid values.
absl::StatusOr<Protocol> ParseProtocol(absl::string_view text);
// Canonical upper case, as Kubernetes writes it: "TCP", "UDP", "SCTP".
absl::string_view ProtocolName(Protocol protocol);
// Lower case, as iptables and nft write it: "tcp", "udp", "sctp".
absl::string_view ProtocolKeyword(Protocol protocol);

// One host port to container port mapping.
struct PortMapping {
  int32_t host_port = 0;       // 1..65535
  int32_t container_port = 0;  // 1..65535
  Protocol protocol = Protocol::kTCP;
  // "" (both families), "0.0.0.0" (IPv4 only), "::" (IPv6 only) or one address
  // of the host, which then is the only address the mapping answers on.
  std::string host_ip;
};

// A pod's network state and the mappings it wants.
struct PodPortMapping {
  std::string namespace_;  // `namespace` is a C++ keyword.
  std::string name;
  std::vector<PortMapping> port_mappings;
  bool host_network = false;
  // Every IP of the pod, both families, in the runtime's order. The first of
  // each family is the DNAT target; all of them are the pod's own addresses for
  // hairpin.
  std::vector<std::string> ips;
};

// One pod as the managers take it and the tools read, record and apply it:
// the pod under its sandbox id, with the interface localhost reaches it
// through.
struct PodRequest {
  std::string id;  // The sandbox id; a host holds each id once.
  PodPortMapping pod;
  // The interface localhost uses to reach the pod; "" (a pods file that gives
  // none) or "lo": none.
  std::string nat_interface;
};

}  // namespace hostport

#endif  // HOSTPORT_MODEL_TYPES_H_
