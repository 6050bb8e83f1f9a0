#include "hostport/naming.h"

#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hostport {
namespace {

constexpr int kHashLength = 16;
constexpr int kMaxChainLength = 28;

absl::Status CheckChainName(absl::string_view field, absl::string_view name,
                            int reserved) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("object name ", field, " is empty"));
  }
  if (static_cast<int>(name.size()) + reserved > kMaxChainLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "object name ", field, " \"", name, "\" is too long: at most ",
        kMaxChainLength - reserved, " characters",
        reserved ? " (a 16-character hash follows it)" : ""));
  }
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "object name ", field, " \"", name, "\" has character '",
          std::string(1, c), "': use only letters, digits, '-' and '_'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ObjectNames::Validate() const {
  const struct {
    absl::string_view field;
    const std::string& name;
    int reserved;
  } checks[] = {
      {"hostports_chain", hostports_chain, 0},
      {"hostport_chain_prefix", hostport_chain_prefix, kHashLength},
      {"masquerade_chain", masquerade_chain, 0},
      {"masquerade_chain_prefix", masquerade_chain_prefix, kHashLength},
      {"loopback_guard_chain", loopback_guard_chain, 0},
      {"localnet_guard_chain", localnet_guard_chain, 0},
      {"forward_chain", forward_chain, 0},
      {"nft_table", nft_table, 0},
  };
  for (const auto& check : checks) {
    if (absl::Status s =
            CheckChainName(check.field, check.name, check.reserved);
        !s.ok()) {
      return s;
    }
  }
  if (hostport_chain_prefix == masquerade_chain_prefix) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hostport_chain_prefix and masquerade_chain_prefix are both \"",
        hostport_chain_prefix, "\": they must differ"));
  }
  return absl::OkStatus();
}

std::string Hash16(absl::string_view input) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  // 16 base32 characters are exactly the first 80 bits (10 bytes) of the
  // digest.
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve(kHashLength);
  uint64_t buffer = 0;
  int bits = 0;
  for (int i = 0; i < 10; ++i) {
    buffer = (buffer << 8) | digest[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 0x1f]);
      bits -= 5;
    }
  }
  return out;
}

std::string MappingHash(absl::string_view id, int host_port, Protocol protocol,
                        absl::string_view host_ip) {
  return Hash16(absl::StrCat(id, host_port, ProtocolName(protocol), host_ip));
}

std::string OwnerComment(absl::string_view id) { return Hash16(id); }

}  // namespace hostport
