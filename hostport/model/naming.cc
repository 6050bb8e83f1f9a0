#include "hostport/model/naming.h"

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hostport {
namespace {

constexpr int kHashLength = 16;
constexpr int kMaxChainLength = 28;

// SHA-256 (FIPS 180-4), here rather than from libcrypto: loading and
// initialising OpenSSL 3 for one digest cost a fresh hostport-cni process
// several milliseconds, more than its whole change.
constexpr uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t RotateRight(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void CompressBlock(const unsigned char* block, std::array<uint32_t, 8>* h) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = static_cast<uint32_t>(block[4 * i]) << 24 |
           static_cast<uint32_t>(block[4 * i + 1]) << 16 |
           static_cast<uint32_t>(block[4 * i + 2]) << 8 |
           static_cast<uint32_t>(block[4 * i + 3]);
  }
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = RotateRight(w[i - 15], 7) ^ RotateRight(w[i - 15], 18) ^
                        (w[i - 15] >> 3);
    const uint32_t s1 = RotateRight(w[i - 2], 17) ^ RotateRight(w[i - 2], 19) ^
                        (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = (*h)[0], b = (*h)[1], c = (*h)[2], d = (*h)[3], e = (*h)[4],
           f = (*h)[5], g = (*h)[6], k = (*h)[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t s1 =
        RotateRight(e, 6) ^ RotateRight(e, 11) ^ RotateRight(e, 25);
    const uint32_t choose = (e & f) ^ (~e & g);
    const uint32_t t1 = k + s1 + choose + kRoundConstants[i] + w[i];
    const uint32_t s0 =
        RotateRight(a, 2) ^ RotateRight(a, 13) ^ RotateRight(a, 22);
    const uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    const uint32_t t2 = s0 + majority;
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  const uint32_t out[8] = {a, b, c, d, e, f, g, k};
  for (int i = 0; i < 8; ++i) (*h)[i] += out[i];
}

std::array<unsigned char, 32> Sha256(absl::string_view input) {
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t whole = input.size() - input.size() % 64;
  for (size_t i = 0; i < whole; i += 64) CompressBlock(data + i, &h);
  // The tail, a 1 bit, zeros, and the length in bits (big-endian), padded to
  // one or two blocks.
  unsigned char tail[128] = {};
  const size_t rest = input.size() - whole;
  for (size_t i = 0; i < rest; ++i) tail[i] = data[whole + i];
  tail[rest] = 0x80;
  const size_t tail_length = rest < 56 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(input.size()) * 8;
  for (int i = 0; i < 8; ++i) {
    tail[tail_length - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  }
  for (size_t i = 0; i < tail_length; i += 64) CompressBlock(tail + i, &h);
  std::array<unsigned char, 32> digest;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) {
      digest[4 * i + j] = static_cast<unsigned char>(h[i] >> (24 - 8 * j));
    }
  }
  return digest;
}

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
  const std::array<unsigned char, 32> digest = Sha256(input);
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
