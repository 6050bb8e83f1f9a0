#include "sim/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sim {

std::string FamilyName(IpFamily family) {
  return family == IpFamily::kV4 ? "4" : "6";
}

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  std::string s(text);
  uint8_t buf[16];
  // inet_pton accepts exactly the textual forms we want (no leading zeros
  // ambiguity for IPv4, full RFC 4291 for IPv6).
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
      return FromBytes(IpFamily::kV4, buf);
    }
  } else if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return FromBytes(IpFamily::kV6, buf);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid IP address \"", text, "\""));
}

IpAddress IpAddress::V4(uint32_t host_order) {
  uint8_t b[4] = {static_cast<uint8_t>(host_order >> 24),
                  static_cast<uint8_t>(host_order >> 16),
                  static_cast<uint8_t>(host_order >> 8),
                  static_cast<uint8_t>(host_order)};
  return FromBytes(IpFamily::kV4, b);
}

IpAddress IpAddress::FromBytes(IpFamily family, const uint8_t* bytes) {
  IpAddress a;
  a.family_ = family;
  std::memcpy(a.bytes_.data(), bytes, family == IpFamily::kV4 ? 4 : 16);
  return a;
}

bool IpAddress::IsLoopback() const {
  if (is_v4()) return bytes_[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[15] == 1;
}

bool IpAddress::IsMulticast() const {
  if (is_v4()) return (bytes_[0] & 0xf0) == 0xe0;
  return bytes_[0] == 0xff;
}

namespace {

// Writes `n` in decimal at `out`; returns the end.
char* PutDecimal(uint32_t n, char* out) {
  char digits[10];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  while (count > 0) *out++ = digits[--count];
  return out;
}

// Writes a dotted quad at `out` (what inet_ntop prints, without its
// sprintf: NAT bindings format addresses per packet); returns the end.
char* PutDottedQuad(const uint8_t* bytes, char* out) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) *out++ = '.';
    unsigned n = bytes[i];
    if (n >= 100) {
      *out++ = static_cast<char>('0' + n / 100);
      n %= 100;
      *out++ = static_cast<char>('0' + n / 10);
    } else if (n >= 10) {
      *out++ = static_cast<char>('0' + n / 10);
    }
    *out++ = static_cast<char>('0' + n % 10);
  }
  return out;
}

}  // namespace

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) return std::string(buf, PutDottedQuad(bytes_.data(), buf));
  inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

std::string IpAddress::WithPort(uint16_t port) const {
  if (!is_v4()) return absl::StrCat("[", ToString(), "]:", port);
  char buf[sizeof("255.255.255.255:65535")];
  char* end = PutDottedQuad(bytes_.data(), buf);
  *end++ = ':';
  return std::string(buf, PutDecimal(port, end));
}

bool PrefixBitsEqual(const uint8_t* a, const uint8_t* b, int bits) {
  int full = bits / 8;
  // At most 16 bytes: a loop beats a call to memcmp.
  for (int i = 0; i < full; ++i) {
    if (a[i] != b[i]) return false;
  }
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(absl::string_view text) {
  size_t slash = text.find('/');
  absl::StatusOr<IpAddress> address = IpAddress::Parse(text.substr(0, slash));
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR \"", text, "\""));
  }
  int max = address->is_v4() ? 32 : 128;
  int length = max;
  if (slash != absl::string_view::npos) {
    if (!absl::SimpleAtoi(text.substr(slash + 1), &length) || length < 0 ||
        length > max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid prefix length in \"", text, "\" (0..", max, ")"));
    }
  }
  return IpPrefix(*address, length);
}

bool IpPrefix::Contains(const IpAddress& a) const {
  return a.family() == address_.family() &&
         PrefixBitsEqual(a.bytes(), address_.bytes(), length_);
}

std::string IpPrefix::ToString() const {
  return absl::StrCat(address_.ToString(), "/", length_);
}

absl::Status ParseEndpoint(absl::string_view text, bool port_optional,
                           IpAddress* address, uint16_t* port) {
  absl::string_view addr_text = text;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid endpoint \"", text, "\": missing ']'"));
    }
    addr_text = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid endpoint \"", text, "\""));
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid endpoint \"", text, "\": empty port"));
      }
    }
  } else {
    size_t colon = text.find(':');
    // More than one colon and no brackets: a bare IPv6 address.
    if (colon != absl::string_view::npos &&
        text.find(':', colon + 1) == absl::string_view::npos) {
      addr_text = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (port_text.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid endpoint \"", text, "\": empty port"));
      }
    }
  }
  absl::StatusOr<IpAddress> parsed = IpAddress::Parse(addr_text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid endpoint \"", text, "\": ", parsed.status().message()));
  }
  *address = *parsed;
  *port = 0;
  if (port_text.empty()) {
    if (!port_optional) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid endpoint \"", text, "\": a port is required (",
                       parsed->is_v4() ? "10.0.0.1:80" : "[fd00::1]:80", ")"));
    }
    return absl::OkStatus();
  }
  int p = 0;
  if (!absl::SimpleAtoi(port_text, &p) || p < 1 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid port \"", port_text, "\" in \"", text, "\" (1..65535)"));
  }
  *port = static_cast<uint16_t>(p);
  return absl::OkStatus();
}

}  // namespace sim
