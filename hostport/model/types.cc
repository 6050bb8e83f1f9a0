#include "hostport/model/types.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hostport {

absl::string_view IPFamilyName(IPFamily family) {
  return family == IPFamily::kIPv4 ? "4" : "6";
}

absl::StatusOr<IPFamily> ParseIPFamily(absl::string_view text) {
  if (text == "4") return IPFamily::kIPv4;
  if (text == "6") return IPFamily::kIPv6;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown IP family \"", text, "\": want 4 or 6"));
}

absl::string_view IPFamilyLabel(IPFamily family) {
  return family == IPFamily::kIPv4 ? "IPv4" : "IPv6";
}

absl::StatusOr<Protocol> ParseProtocol(absl::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(text);
  if (upper == "TCP") return Protocol::kTCP;
  if (upper == "UDP") return Protocol::kUDP;
  if (upper == "SCTP") return Protocol::kSCTP;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown protocol \"", text, "\": want TCP, UDP or SCTP (any case)"));
}

absl::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTCP:
      return "TCP";
    case Protocol::kUDP:
      return "UDP";
    case Protocol::kSCTP:
      return "SCTP";
  }
  return "UNKNOWN";
}

absl::string_view ProtocolKeyword(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTCP:
      return "tcp";
    case Protocol::kUDP:
      return "udp";
    case Protocol::kSCTP:
      return "sctp";
  }
  return "unknown";
}

}  // namespace hostport
