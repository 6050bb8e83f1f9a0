#include "hostport/os/iptables_tools.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hostport {

std::string IptablesProgram(IPFamily family, IptablesVariant variant,
                            absl::string_view tool) {
  return absl::StrCat(
      family == IPFamily::kIPv4 ? "iptables" : "ip6tables",
      variant == IptablesVariant::kLegacy ? "-legacy-" : "-nft-", tool);
}

absl::StatusOr<std::string> SaveIptablesTable(CommandRunner* runner,
                                              IPFamily family,
                                              IptablesVariant variant,
                                              absl::string_view table) {
  const std::string program = IptablesProgram(family, variant, "save");
  absl::StatusOr<CommandResult> r =
      runner->Run({program, "-t", std::string(table)}, "");
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat(program, " -t ", table, " exited ", r->exit_code, ": ",
                     absl::StripTrailingAsciiWhitespace(r->stderr_text)));
  }
  return r->stdout_text;
}

absl::Status RestoreIptables(CommandRunner* runner, IPFamily family,
                             IptablesVariant variant, const std::string& input,
                             absl::string_view what) {
  const std::string program = IptablesProgram(family, variant, "restore");
  absl::StatusOr<CommandResult> r =
      runner->Run({program, "-w", "--noflush"}, input);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        program, " refused ", what, " (exit ", r->exit_code,
        "): ", absl::StripTrailingAsciiWhitespace(r->stderr_text)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ListIptablesChain(
    CommandRunner* runner, IPFamily family, IptablesVariant variant,
    absl::string_view table, absl::string_view chain) {
  const std::string program =
      absl::StrCat(family == IPFamily::kIPv4 ? "iptables" : "ip6tables",
                   variant == IptablesVariant::kLegacy ? "-legacy" : "-nft");
  absl::StatusOr<CommandResult> r = runner->Run(
      {program, "-w", "-t", std::string(table), "-S", std::string(chain)}, "");
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    // Legacy says so; iptables-nft 1.8.9 calls a missing chain
    // "incompatible" (seen on the kernel, with and without the table).
    if (absl::StrContains(r->stderr_text, "No chain/target/match") ||
        absl::StrContains(r->stderr_text, "is incompatible")) {
      return std::nullopt;
    }
    return absl::UnavailableError(absl::StrCat(
        program, " -t ", table, " -S ", chain, " exited ", r->exit_code, ": ",
        absl::StripTrailingAsciiWhitespace(r->stderr_text)));
  }
  return r->stdout_text;
}

}  // namespace hostport
