#include "tools/render_command.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"
#include "tools/cli.h"
#include "tools/pods_file.h"

namespace hostport {
namespace {

constexpr char kUsage[] =
    "usage: hostportctl render --pods FILE [--backend iptables|nftables]\n"
    "                          [--family 4|6|all] [--output text|json]\n"
    "                          [--nat-interface IF]\n"
    "Prints the complete ruleset the pods in FILE need: iptables-restore "
    "input\n"
    "or an nft -f script, one block per family. Needs no root; changes "
    "nothing.\n";

int UsageError(std::ostream& err, absl::string_view message) {
  err << "hostportctl render: " << message << "\n" << kUsage;
  return kExitUsage;
}

}  // namespace

int RunRenderCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err) {
  std::vector<FlagSpec> specs = CommonFlags();
  specs.push_back({"pods", true});
  specs.push_back({"backend", true});
  specs.push_back({"family", true});
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, specs);
  if (!flags.ok()) return UsageError(err, flags.status().message());
  if (flags->Has("help")) {
    out << kUsage;
    return kExitOk;
  }
  bool json_output = false;
  if (absl::Status s = ParseOutputFlag(*flags, &json_output); !s.ok()) {
    return UsageError(err, s.message());
  }
  if (!flags->Has("pods")) return UsageError(err, "--pods FILE is required");
  const std::string backend = flags->Get("backend", "iptables");
  if (backend != "iptables" && backend != "nftables") {
    return UsageError(err, absl::StrCat("--backend \"", backend,
                                        "\" is not a backend: want iptables or "
                                        "nftables"));
  }
  const std::string family_flag = flags->Get("family", "all");
  std::vector<IPFamily> families;
  if (family_flag == "4" || family_flag == "all") {
    families.push_back(IPFamily::kIPv4);
  }
  if (family_flag == "6" || family_flag == "all") {
    families.push_back(IPFamily::kIPv6);
  }
  if (families.empty()) {
    return UsageError(err,
                      absl::StrCat("--family \"", family_flag,
                                   "\" is not a family: want 4, 6 or all"));
  }

  const std::string path = flags->Get("pods");
  absl::StatusOr<std::vector<PodRequest>> entries = ReadPodsFile(path);
  if (!entries.ok()) {
    err << "hostportctl render: " << entries.status().message() << "\n";
    return entries.status().code() == absl::StatusCode::kDataLoss ? kExitFailed
                                                                  : kExitUsage;
  }
  std::vector<PodPlan> plans;
  PortClaims claims;
  for (const PodRequest& entry : *entries) {
    const std::string nat_interface = entry.nat_interface.empty()
                                          ? flags->Get("nat-interface")
                                          : entry.nat_interface;
    absl::StatusOr<PodPlan> plan = PlanPod(entry.id, entry.pod, nat_interface);
    if (!plan.ok()) {
      err << "hostportctl render: " << path << ": " << plan.status().message()
          << "\n";
      return kExitUsage;
    }
    if (absl::Status s = claims.Check(*plan); !s.ok()) {
      err << "hostportctl render: " << path << ": " << s.message() << "\n";
      return kExitFailed;
    }
    claims.Claim(*plan);
    plans.push_back(std::move(*plan));
  }

  nlohmann::json doc = {{"backend", backend},
                        {"families", nlohmann::json::array()},
                        {"skipped", nlohmann::json::array()}};
  for (const PodPlan& plan : plans) {
    for (const SkippedMapping& s : plan.skipped) {
      if (std::find(families.begin(), families.end(), s.family) ==
          families.end()) {
        continue;
      }
      if (json_output) {
        doc["skipped"].push_back(
            {{"id", plan.id},
             {"mapping", s.index},
             {"family", std::string(IPFamilyName(s.family))},
             {"reason", s.reason}});
      } else {
        err << "hostportctl render: note: " << s.reason << "\n";
      }
    }
  }
  for (IPFamily family : families) {
    std::string ruleset;
    if (backend == "iptables") {
      ruleset = IptablesRenderer().Full(family, plans).Render();
    } else {
      ruleset = NftRenderer().Full(family, plans).Render();
    }
    if (json_output) {
      doc["families"].push_back({{"family", std::string(IPFamilyName(family))},
                                 {"ruleset", ruleset}});
    } else {
      out << "# family " << IPFamilyName(family) << "\n" << ruleset;
    }
  }
  if (json_output) out << doc.dump(2) << "\n";
  return kExitOk;
}

}  // namespace hostport
