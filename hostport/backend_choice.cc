#include "hostport/backend_choice.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hostport/backends/iptables_backend.h"
#include "hostport/backends/nft_backend.h"

namespace hostport {
namespace {

using Backend = MetaOptions::Backend;

std::string Label(const FamilyBackend& b) {
  return absl::StrCat(b.name(), " ", IPFamilyLabel(b.family()));
}

}  // namespace

const absl::StatusOr<std::string>& ChainListing::Get() {
  if (!listed_.has_value()) listed_ = nft_->List("list chains");
  return *listed_;
}

bool ChainListing::Answers() {
  if (listed_.has_value()) return listed_->ok();
  return nft_->ExistingChains("ip", "hostport-probe", {"probe"}).ok();
}

absl::StatusOr<Backend> ResolveBackend(Backend prefer, CommandRunner* commands,
                                       ChainListing* chains) {
  if (prefer == Backend::kIptables) {
    absl::StatusOr<CommandResult> version =
        commands->Run({"iptables", "--version"}, "");
    if (!version.ok() || version->exit_code != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "backend iptables: cannot tell which variant `iptables` is: ",
          version.ok() ? version->stderr_text : version.status().message()));
    }
    return absl::StrContains(version->stdout_text, "legacy")
               ? Backend::kIptablesLegacy
               : Backend::kIptablesNft;
  }
  if (prefer != Backend::kAuto) return prefer;
  if (chains->Answers()) return Backend::kNftables;
  absl::StatusOr<CommandResult> probe =
      commands->Run({"iptables-nft-save", "--version"}, "");
  return probe.ok() && probe->exit_code == 0 ? Backend::kIptablesNft
                                             : Backend::kIptablesLegacy;
}

absl::StatusOr<std::unique_ptr<FamilyBackend>> Loaded(
    std::unique_ptr<FamilyBackend> backend, bool base_only) {
  if (absl::Status s = base_only ? backend->LoadBase() : backend->Load();
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("reading what ", Label(*backend),
                                               " holds: ", s.message()));
  }
  return backend;
}

absl::StatusOr<std::unique_ptr<FamilyBackend>> OpenFamilyBackend(
    Backend backend, IPFamily family, const HostportEnv& env,
    const ObjectNames& names, bool base_only) {
  if (backend != Backend::kNftables) {
    const IptablesVariant variant = backend == Backend::kIptablesNft
                                        ? IptablesVariant::kNft
                                        : IptablesVariant::kLegacy;
    return Loaded(std::make_unique<IptablesBackend>(
                      family, variant, env.commands, names, env.nft),
                  base_only);
  }
  return Loaded(std::make_unique<NftBackend>(family, env.nft, names),
                base_only);
}

std::vector<std::unique_ptr<FamilyBackend>> OtherBackendsPresent(
    Backend chosen, IPFamily family, const HostportEnv& env,
    const ObjectNames& names, ChainListing* chains,
    const std::function<void(absl::string_view)>& log) {
  std::vector<std::unique_ptr<FamilyBackend>> present;
  const std::string ip = family == IPFamily::kIPv4 ? "ip" : "ip6";
  const std::string listed = chains->Get().ok() ? *chains->Get() : "";
  if (chosen != Backend::kNftables &&
      absl::StrContains(
          listed, absl::StrCat("table ", ip, " ", names.nft_table, " {"))) {
    present.push_back(std::make_unique<NftBackend>(family, env.nft, names));
  }
  absl::StatusOr<std::string> legacy = env.sysctl->ReadProcNet(
      family == IPFamily::kIPv4 ? "ip_tables_names" : "ip6_tables_names");
  if (chosen != Backend::kIptablesLegacy && legacy.ok() &&
      absl::StrContains(*legacy, "nat")) {
    present.push_back(std::make_unique<IptablesBackend>(
        family, IptablesVariant::kLegacy, env.commands, names));
  }
  // iptables-nft keeps its tables in nftables, as "table ip nat".
  if (chosen != Backend::kIptablesNft &&
      absl::StrContains(listed, absl::StrCat("table ", ip, " nat {"))) {
    present.push_back(std::make_unique<IptablesBackend>(
        family, IptablesVariant::kNft, env.commands, names, env.nft));
  }
  std::vector<std::unique_ptr<FamilyBackend>> loaded;
  for (auto& b : present) {
    if (absl::Status s = b->Load(); !s.ok()) {
      if (log)
        log(absl::StrCat("not cleaning up ", Label(*b), ": ", s.message()));
      continue;
    }
    loaded.push_back(std::move(b));
  }
  return loaded;
}

absl::StatusOr<Backend> ParseBackendName(absl::string_view name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "nftables") return Backend::kNftables;
  if (name == "iptables") return Backend::kIptables;
  if (name == "iptables-legacy") return Backend::kIptablesLegacy;
  if (name == "iptables-nft") return Backend::kIptablesNft;
  return absl::InvalidArgumentError(
      absl::StrCat("backend \"", name,
                   "\" is not a backend: want auto, nftables, iptables, "
                   "iptables-legacy or iptables-nft"));
}

}  // namespace hostport
