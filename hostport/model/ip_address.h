// IpAddress: an IPv4 or IPv6 address as a value.
//
// Parses the textual forms people and tools write ("10.0.0.5", "fd00::5") and
// prints the canonical form (dotted quad; RFC 5952 for IPv6: lower case,
// longest zero run compressed), so two spellings of one address compare and
// hash equal and render to identical rule text. Zone ids ("fe80::1%eth0") and
// prefixes are not addresses and are rejected.
#ifndef HOSTPORT_MODEL_IP_ADDRESS_H_
#define HOSTPORT_MODEL_IP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/model/types.h"

namespace hostport {

class IpAddress {
 public:
  // Parses an IPv4 or IPv6 address. On failure the status names the text and
  // says what would be valid.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);

  // The unspecified ("any") address of a family: 0.0.0.0 or ::.
  static IpAddress Any(IPFamily family);

  IPFamily family() const { return family_; }
  // Network-order bytes: 4 for IPv4, 16 for IPv6.
  const uint8_t* bytes() const { return bytes_.data(); }
  int byte_length() const { return family_ == IPFamily::kIPv4 ? 4 : 16; }

  bool IsUnspecified() const;
  // 127.0.0.0/8 or ::1.
  bool IsLoopback() const;
  // 169.254.0.0/16 or fe80::/10.
  bool IsLinkLocal() const;
  bool IsMulticast() const;
  // IPv4 0.0.0.0/8 ("this network") or 240.0.0.0/4 (reserved, with the
  // limited broadcast 255.255.255.255): no host can hold one.
  bool IsReservedV4() const;
  // The network (all host bits 0) or broadcast (all 1) address of the IPv4
  // subnet of `prefix_length` bits it is in; false for /31, /32 and IPv6.
  bool IsNetworkOrBroadcastIn(int prefix_length) const;
  // ::ffff:a.b.c.d, an IPv4 address dressed as IPv6.
  bool IsV4Mapped() const;

  // Canonical text: "10.0.0.5", "fd00::5".
  std::string ToString() const;
  // As it is written before a port: "10.0.0.5", "[fd00::5]".
  std::string ToBracketedString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) {
    return !(a == b);
  }
  friend bool operator<(const IpAddress& a, const IpAddress& b) {
    if (a.family_ != b.family_) return a.family_ < b.family_;
    return a.bytes_ < b.bytes_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), a.family_, a.bytes_);
  }

 private:
  IpAddress(IPFamily family, const std::array<uint8_t, 16>& bytes)
      : family_(family), bytes_(bytes) {}

  IPFamily family_;
  std::array<uint8_t, 16> bytes_;  // IPv4 uses the first 4.
};

}  // namespace hostport

#endif  // HOSTPORT_MODEL_IP_ADDRESS_H_
