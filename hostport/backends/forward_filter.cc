#include "hostport/backends/forward_filter.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hostport {
namespace {

constexpr IptablesVariant kVariants[] = {IptablesVariant::kLegacy,
                                         IptablesVariant::kNft};
constexpr IPFamily kFamilies[] = {IPFamily::kIPv4, IPFamily::kIPv6};

std::string VariantName(IptablesVariant v) {
  return v == IptablesVariant::kLegacy ? "iptables-legacy" : "iptables-nft";
}

}  // namespace

std::string ForwardFilter::AcceptRule() const {
  return absl::StrCat("-A ", names_.forward_chain,
                      " -m comment --comment \"hostport forward\" -m "
                      "conntrack --ctstate DNAT -j ACCEPT");
}

std::string ForwardFilter::JumpRule() const {
  return absl::StrCat(
      "-A FORWARD -m comment --comment \"hostport forward\" -j ",
      names_.forward_chain);
}

absl::StatusOr<std::string> ForwardFilter::ReadForward(IptablesVariant variant,
                                                       IPFamily family) const {
  if (variant == IptablesVariant::kLegacy) {
    absl::StatusOr<std::string> names = sysctl_->ReadProcNet(
        family == IPFamily::kIPv4 ? "ip_tables_names" : "ip6_tables_names");
    if (!names.ok()) return std::string();
    bool present = false;
    for (absl::string_view line : absl::StrSplit(*names, '\n')) {
      present |= absl::StripAsciiWhitespace(line) == "filter";
    }
    if (!present) return std::string();
  }
  // FORWARD and our chain only: a save would read the whole table (and, with
  // iptables-nft, build a cache of every table).
  std::string out;
  for (const std::string& chain :
       {std::string("FORWARD"), names_.forward_chain}) {
    absl::StatusOr<std::optional<std::string>> listed =
        ListIptablesChain(commands_, family, variant, "filter", chain);
    if (!listed.ok()) return listed.status();
    if (listed->has_value()) absl::StrAppend(&out, **listed);
  }
  return out;
}

absl::Status ForwardFilter::Restore(IptablesVariant variant, IPFamily family,
                                    const std::string& input) const {
  return RestoreIptables(commands_, family, variant, input,
                         "the change to filter FORWARD");
}

absl::StatusOr<std::vector<ForwardDrop>> ForwardFilter::FindDrops() const {
  std::vector<ForwardDrop> drops;
  // Legacy tables are not nftables: read their FORWARD policy from the save.
  for (IPFamily family : kFamilies) {
    absl::StatusOr<std::string> saved =
        ReadForward(IptablesVariant::kLegacy, family);
    if (!saved.ok()) return saved.status();
    if (absl::StrContains(*saved, "-P FORWARD DROP\n")) {
      drops.push_back({IptablesVariant::kLegacy, family,
                       absl::StrCat("iptables-legacy filter FORWARD (",
                                    IPFamilyLabel(family), ")")});
    }
  }
  absl::StatusOr<std::string> chains = nft_->List("list chains");
  if (!chains.ok()) return drops;  // No nftables: nothing more to read.
  std::string family, table, chain;
  for (absl::string_view line : absl::StrSplit(*chains, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    std::vector<absl::string_view> w =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (w.size() == 4 && w[0] == "table" && w[3] == "{") {
      family = std::string(w[1]);
      table = std::string(w[2]);
    } else if (w.size() == 3 && w[0] == "chain" && w[2] == "{") {
      chain = std::string(w[1]);
    } else if (absl::StartsWith(line, "type filter hook forward ") &&
               absl::StrContains(line, "policy drop;") &&
               (family == "ip" || family == "ip6" || family == "inet")) {
      if (table == "filter" && chain == "FORWARD" && family != "inet") {
        const IPFamily f = family == "ip" ? IPFamily::kIPv4 : IPFamily::kIPv6;
        drops.push_back({IptablesVariant::kNft, f,
                         absl::StrCat("iptables-nft filter FORWARD (",
                                      IPFamilyLabel(f), ")")});
      } else {
        drops.push_back({std::nullopt, IPFamily::kIPv4,
                         absl::StrCat("nftables table ", family, " ", table,
                                      " chain ", chain)});
      }
    }
  }
  return drops;
}

absl::Status ForwardFilter::Open(const std::vector<ForwardDrop>& drops) const {
  for (const ForwardDrop& drop : drops) {
    if (!drop.iptables.has_value()) continue;
    absl::StatusOr<std::string> saved =
        ReadForward(*drop.iptables, drop.family);
    if (!saved.ok()) return saved.status();
    const bool has_accept = absl::StrContains(*saved, AcceptRule() + "\n");
    const bool has_jump = absl::StrContains(*saved, JumpRule() + "\n");
    if (has_accept && has_jump) continue;
    std::string input = absl::StrCat("*filter\n:", names_.forward_chain,
                                     " - [0:0]\n", AcceptRule(), "\n");
    if (!has_jump) {
      absl::StrAppend(&input, "-I FORWARD 1",
                      JumpRule().substr(strlen("-A FORWARD")), "\n");
    }
    absl::StrAppend(&input, "COMMIT\n");
    if (absl::Status s = Restore(*drop.iptables, drop.family, input); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ForwardFilter::Close() const {
  // iptables-nft's chains show in one listing: save only where ours is.
  absl::StatusOr<std::string> chains = nft_->List("list chains");
  const bool nft_has_ours =
      chains.ok() &&
      absl::StrContains(*chains,
                        absl::StrCat("chain ", names_.forward_chain, " {"));
  for (IptablesVariant variant : kVariants) {
    if (variant == IptablesVariant::kNft && !nft_has_ours) continue;
    for (IPFamily family : kFamilies) {
      absl::StatusOr<std::string> saved = ReadForward(variant, family);
      if (!saved.ok()) return saved.status();
      if (!absl::StrContains(*saved,
                             absl::StrCat("-N ", names_.forward_chain, "\n"))) {
        continue;
      }
      std::string input =
          absl::StrCat("*filter\n:", names_.forward_chain, " - [0:0]\n");
      if (absl::StrContains(*saved, JumpRule() + "\n")) {
        absl::StrAppend(&input, "-D", JumpRule().substr(2), "\n");
      }
      absl::StrAppend(&input, "-X ", names_.forward_chain, "\nCOMMIT\n");
      if (absl::Status s = Restore(variant, family, input); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat(VariantName(variant), ": ", s.message()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace hostport
