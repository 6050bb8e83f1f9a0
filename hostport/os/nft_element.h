// NftElementOp: one element added to or deleted from an nftables set or map,
// as data: what a renderer writes as an `add element` or `delete element`
// command, for a runner that sends elements to the kernel without a script
// (NftRunner::RunElements).
#ifndef HOSTPORT_OS_NFT_ELEMENT_H_
#define HOSTPORT_OS_NFT_ELEMENT_H_

#include <string>

namespace hostport {

// Keys and values are written as nft writes them, with the type the set was
// declared with.
struct NftElementOp {
  enum class Kind { kAdd, kDelete };
  Kind kind = Kind::kAdd;
  std::string set;
  std::string key_type;    // "inet_proto . inet_service"
  std::string key;         // "tcp . 8080"
  std::string value_type;  // Maps: "ipv4_addr . inet_service"; sets: "".
  std::string value;       // Maps, adds: "10.88.0.5 . 80"; otherwise "".
  std::string comment;     // Adds: "" for none.
};

}  // namespace hostport

#endif  // HOSTPORT_OS_NFT_ELEMENT_H_
