#include "hostport/model/ip_address.h"

#include <arpa/inet.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hostport {

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  std::string s(text);
  std::array<uint8_t, 16> bytes{};
  if (inet_pton(AF_INET, s.c_str(), bytes.data()) == 1) {
    return IpAddress(IPFamily::kIPv4, bytes);
  }
  if (inet_pton(AF_INET6, s.c_str(), bytes.data()) == 1) {
    return IpAddress(IPFamily::kIPv6, bytes);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", text,
      "\" is not an IP address: want an IPv4 address like "
      "10.0.0.5 or an IPv6 address like fd00::5 (no prefix, no zone)"));
}

IpAddress IpAddress::Any(IPFamily family) { return IpAddress(family, {}); }

bool IpAddress::IsUnspecified() const {
  for (int i = 0; i < byte_length(); ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

bool IpAddress::IsLoopback() const {
  if (family_ == IPFamily::kIPv4) return bytes_[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[15] == 1;
}

bool IpAddress::IsLinkLocal() const {
  if (family_ == IPFamily::kIPv4) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

bool IpAddress::IsMulticast() const {
  if (family_ == IPFamily::kIPv4) return (bytes_[0] & 0xf0) == 0xe0;
  return bytes_[0] == 0xff;
}

bool IpAddress::IsReservedV4() const {
  return family_ == IPFamily::kIPv4 && (bytes_[0] == 0 || bytes_[0] >= 240);
}

bool IpAddress::IsNetworkOrBroadcastIn(int prefix_length) const {
  if (family_ != IPFamily::kIPv4 || prefix_length < 0 || prefix_length > 30) {
    return false;
  }
  const uint32_t value = (uint32_t{bytes_[0]} << 24) |
                         (uint32_t{bytes_[1]} << 16) |
                         (uint32_t{bytes_[2]} << 8) | bytes_[3];
  const uint32_t host_mask =
      prefix_length == 0 ? 0xffffffffu : (1u << (32 - prefix_length)) - 1;
  return (value & host_mask) == 0 || (value & host_mask) == host_mask;
}

bool IpAddress::IsV4Mapped() const {
  if (family_ != IPFamily::kIPv6) return false;
  for (int i = 0; i < 10; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[10] == 0xff && bytes_[11] == 0xff;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  const int af = family_ == IPFamily::kIPv4 ? AF_INET : AF_INET6;
  // Cannot fail: the buffer fits every address of both families.
  inet_ntop(af, bytes_.data(), buf, sizeof(buf));
  return buf;
}

std::string IpAddress::ToBracketedString() const {
  if (family_ == IPFamily::kIPv4) return ToString();
  return absl::StrCat("[", ToString(), "]");
}

}  // namespace hostport
