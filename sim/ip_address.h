// IpAddress and IpPrefix: the simulator's own IPv4/IPv6 address and CIDR types.
//
// Promises: parsing accepts exactly the textual forms iptables-save, nft and
// `ip -j addr` print (dotted quad, RFC 5952 IPv6, "/len" prefixes) and rejects
// anything else with a message naming the text; ToString() prints the
// canonical form (RFC 5952 for IPv6), so parse(print(x)) == x.
// Requires: nothing; values are small and freely copyable.
//
// The simulator is an independent oracle, so it shares no address code with
// //hostport.
#ifndef SIM_IP_ADDRESS_H_
#define SIM_IP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sim {

enum class IpFamily : uint8_t { kV4 = 4, kV6 = 6 };

// "4" or "6".
std::string FamilyName(IpFamily family);

class IpAddress {
 public:
  // The IPv4 address 0.0.0.0.
  IpAddress() = default;

  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress V4(uint32_t host_order);
  // `bytes` holds 4 bytes for IPv4 and 16 for IPv6, network order.
  static IpAddress FromBytes(IpFamily family, const uint8_t* bytes);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  // 4 or 16.
  int size() const { return is_v4() ? 4 : 16; }
  const uint8_t* bytes() const { return bytes_.data(); }
  // 127.0.0.0/8 for IPv4, ::1 for IPv6.
  bool IsLoopback() const;
  bool IsMulticast() const;
  std::string ToString() const;
  // "10.0.0.1:80" or "[fd00::1]:80".
  std::string WithPort(uint16_t port) const;

  // Two 8-byte compares: walks compare addresses on every packet.
  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    uint64_t x[2], y[2];
    std::memcpy(x, a.bytes_.data(), sizeof(x));
    std::memcpy(y, b.bytes_.data(), sizeof(y));
    return a.family_ == b.family_ && ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
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
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length; the address keeps its host bits as written
// (interface addresses like 10.88.0.1/16 need them).
class IpPrefix {
 public:
  IpPrefix() = default;
  IpPrefix(IpAddress address, int length)
      : address_(address), length_(length) {}

  // "10.0.0.0/8", "fd00::/64", or a bare address (full length).
  static absl::StatusOr<IpPrefix> Parse(absl::string_view text);

  const IpAddress& address() const { return address_; }
  int length() const { return length_; }
  IpFamily family() const { return address_.family(); }
  bool Contains(const IpAddress& a) const;
  std::string ToString() const;

 private:
  IpAddress address_;
  int length_ = 32;
};

// True when the first `bits` bits of `a` and `b` (each `size` bytes) agree.
bool PrefixBitsEqual(const uint8_t* a, const uint8_t* b, int bits);

// "10.0.0.1:80" / "[fd00::1]:80" into address and port. A bare address (no
// port) fails unless `port_optional`; then the port is 0.
absl::Status ParseEndpoint(absl::string_view text, bool port_optional,
                           IpAddress* address, uint16_t* port);

}  // namespace sim

#endif  // SIM_IP_ADDRESS_H_
