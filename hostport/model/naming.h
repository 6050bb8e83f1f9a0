// Names of the kernel objects hostport owns, and the hashes they are derived
// from.
//
// Compatible with CRI-O's hostport code, so a host can move between the two: a
// mapping's chains are KUBE-HP-<h> and CRIO-MASQ-<h>, where <h> is the first 16
// characters of the RFC 4648 base32 (upper case) encoding of SHA-256(id +
// decimal(host_port) + PROTOCOL + host_ip); nftables elements carry the same
// 16-character hash of the id as their owner comment. Names are pure functions
// of their inputs: Remove() can rebuild every name without a pod IP.
#ifndef HOSTPORT_MODEL_NAMING_H_
#define HOSTPORT_MODEL_NAMING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hostport/model/types.h"

namespace hostport {

// The table and chain names hostport writes. The defaults are CRI-O's; a
// runtime may choose its own (Validate() says whether the kernel will accept
// them).
struct ObjectNames {
  // iptables, table nat: the chain PREROUTING and OUTPUT jump to.
  std::string hostports_chain = "KUBE-HOSTPORTS";
  // iptables, table nat: prefix of the per-mapping DNAT chain.
  std::string hostport_chain_prefix = "KUBE-HP-";
  // iptables, table nat: the chain POSTROUTING jumps to for DNATed connections.
  std::string masquerade_chain = "CRIO-HOSTPORTS-MASQ";
  // iptables, table nat: prefix of the per-mapping hairpin masquerade chain.
  std::string masquerade_chain_prefix = "CRIO-MASQ-";
  // iptables, table raw: drops packets for loopback-bound hostports that arrive
  // from another interface (the nat table may not DROP).
  std::string loopback_guard_chain = "CRIO-HOSTPORTS-LOOPBACK";
  // iptables, table filter (IPv4): the chain INPUT jumps to first for packets
  // to 127.0.0.0/8 from any other interface than lo; it drops those conntrack
  // did not see DNATed or established, so that route_localnet (which the
  // localhost hostports need) exposes no other host service bound to
  // 127.0.0.1 (the CVE-2020-8558 class).
  std::string localnet_guard_chain = "CRIO-HOSTPORTS-LOCALNET";
  // iptables, table filter: the chain FORWARD jumps to first when the host
  // drops forwarded traffic by policy and allow_forward is set; it accepts
  // DNATed flows.
  std::string forward_chain = "CRIO-HOSTPORTS-FORWARD";
  // nftables: the table, in families ip and ip6.
  std::string nft_table = "crio-hostports";

  // OK when every name is one the kernel accepts: chain names at most 28
  // characters including a 16-character hash after a prefix, characters
  // [A-Za-z0-9_-], prefixes distinct from the fixed chain names. The error
  // names the offending field.
  absl::Status Validate() const;
};

// First 16 characters of base32(SHA-256(input)), upper case, no padding.
std::string Hash16(absl::string_view input);

// Hash16(id + decimal(host_port) + PROTOCOL + host_ip): the <h> of a mapping's
// chains. `host_ip` is the mapping's HostIP as planned ("" for the
// both-families wildcard).
std::string MappingHash(absl::string_view id, int host_port, Protocol protocol,
                        absl::string_view host_ip);

// The owner comment of a pod's nftables elements: Hash16(id).
std::string OwnerComment(absl::string_view id);

}  // namespace hostport

#endif  // HOSTPORT_MODEL_NAMING_H_
