#include "tools/verify_command.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"
#include "semantics/semantics.h"
#include "sim/ruleset_text.h"
#include "tools/cli.h"
#include "tools/pods_file.h"
#include "tools/reachability.h"

namespace hostport {
namespace {

constexpr char kUsage[] =
    "usage: hostportctl verify --pods FILE [--host FILE]\n"
    "         [--backend iptables|nftables|both] [--output text|json]\n"
    "Renders the pods' rules, simulates every mapping from every kind of "
    "client\n"
    "and prints what each reaches. Exit 0 iff all agree with the semantics.\n"
    "The host file (interfaces, routes, bridges) defaults to host.json beside\n"
    "the pods file. Needs no root; changes nothing.\n";

int Fail(std::ostream& err, absl::string_view message, int code) {
  err << "hostportctl verify: " << message << "\n";
  if (code == kExitUsage) err << kUsage;
  return code;
}

}  // namespace

int RunVerifyCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err) {
  std::vector<FlagSpec> specs = CommonFlags();
  specs.push_back({"pods", true});
  specs.push_back({"host", true});
  specs.push_back({"backend", true});
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, specs);
  if (!flags.ok()) return Fail(err, flags.status().message(), kExitUsage);
  if (flags->Has("help")) {
    out << kUsage;
    return kExitOk;
  }
  bool json = false;
  if (absl::Status s = ParseOutputFlag(*flags, &json); !s.ok()) {
    return Fail(err, s.message(), kExitUsage);
  }
  if (!flags->Has("pods"))
    return Fail(err, "--pods FILE is required", kExitUsage);
  const std::string backend = flags->Get("backend", "both");
  if (backend != "iptables" && backend != "nftables" && backend != "both") {
    return Fail(
        err,
        absl::StrCat("--backend \"", backend,
                     "\" is not a backend: want iptables, nftables or both"),
        kExitUsage);
  }
  const std::string pods_path = flags->Get("pods");
  std::string host_path = flags->Get("host");
  if (host_path.empty()) {
    const size_t slash = pods_path.rfind('/');
    host_path = slash == std::string::npos
                    ? "host.json"
                    : absl::StrCat(pods_path.substr(0, slash), "/host.json");
  }
  absl::StatusOr<std::vector<PodRequest>> pods = ReadPodsFile(pods_path);
  if (!pods.ok()) return Fail(err, pods.status().message(), kExitUsage);
  for (PodRequest& e : *pods) {
    if (e.nat_interface.empty()) e.nat_interface = flags->Get("nat-interface");
  }
  absl::StatusOr<std::string> host_text = ReadTextFile(host_path);
  if (!host_text.ok()) {
    return Fail(err,
                absl::StrCat(host_text.status().message(),
                             " (give the host with --host FILE)"),
                kExitUsage);
  }
  absl::StatusOr<sim::HostModel> host = sim::HostModel::FromJson(*host_text);
  if (!host.ok()) {
    return Fail(err, absl::StrCat(host_path, ": ", host.status().message()),
                kExitUsage);
  }
  std::vector<PodPlan> plans;
  PortClaims claims;
  for (const PodRequest& e : *pods) {
    absl::StatusOr<PodPlan> plan = PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok()) {
      return Fail(err, absl::StrCat(pods_path, ": ", plan.status().message()),
                  kExitUsage);
    }
    if (absl::Status s = claims.Check(*plan); !s.ok()) {
      return Fail(err, absl::StrCat(pods_path, ": ", s.message()), kExitFailed);
    }
    claims.Claim(*plan);
    plans.push_back(std::move(*plan));
  }
  // What hostport accepted, held to DESIGN §4 on its own.
  std::vector<std::string> refused;
  std::vector<semantics::Pod> kept;
  for (const PodRequest& e : *pods) {
    semantics::Pod pod{e.id, e.pod, e.nat_interface};
    if (absl::Status s = semantics::CheckPod(pod); !s.ok()) {
      refused.push_back(std::string(s.message()));
      continue;
    }
    for (const semantics::Pod& other : kept) {
      if (std::optional<std::string> c = semantics::FindConflict(other, pod)) {
        refused.push_back(*c);
      }
    }
    kept.push_back(std::move(pod));
  }

  std::vector<std::string> backends;
  if (backend != "nftables") backends.push_back("iptables");
  if (backend != "iptables") backends.push_back("nftables");
  nlohmann::json doc = nlohmann::json::array();
  int cells = 0;
  int mismatches = static_cast<int>(refused.size());
  if (!json) {
    for (const std::string& r : refused) {
      out << "MISMATCH: hostport accepts what DESIGN §4 refuses: " << r << "\n";
    }
  }
  for (const std::string& b : backends) {
    sim::Ruleset ruleset;
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      const std::string text = b == "iptables"
                                   ? IptablesRenderer().Full(f, plans).Render()
                                   : NftRenderer().Full(f, plans).Render();
      absl::Status s = sim::ApplyRulesetText(
          text, absl::StrCat(b, " IPv", IPFamilyName(f)),
          f == IPFamily::kIPv4 ? sim::IpFamily::kV4 : sim::IpFamily::kV6,
          &ruleset);
      if (!s.ok()) {
        return Fail(err,
                    absl::StrCat("the simulator cannot read the ", b,
                                 " rules: ", s.message()),
                    kExitFailed);
      }
    }
    absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
        sim::Simulator::Create(std::move(ruleset), *host);
    if (!simulator.ok()) {
      return Fail(err, simulator.status().message(), kExitFailed);
    }
    absl::StatusOr<std::vector<Row>> rows =
        VerifyReachability(*pods, **simulator);
    if (!rows.ok()) return Fail(err, rows.status().message(), kExitFailed);
    nlohmann::json jrows = nlohmann::json::array();
    if (!json) out << "== " << b << " ==\n";
    for (const Row& row : *rows) {
      nlohmann::json jcells = nlohmann::json::array();
      if (!json) {
        out << row.pod << "  " << row.mapping << "  (" << row.family << ")\n";
        if (!row.note.empty()) out << "    " << row.note << "\n";
      }
      for (const Cell& cell : row.cells) {
        ++cells;
        if (!cell.matches) ++mismatches;
        if (json) {
          jcells.push_back({{"client", cell.client},
                            {"result", cell.Text()},
                            {"expected", cell.ExpectedText()},
                            {"matches", cell.matches}});
        } else {
          out << absl::StrFormat("    %-34s %s%s\n", cell.client, cell.Text(),
                                 cell.matches
                                     ? ""
                                     : absl::StrCat("   MISMATCH: expected ",
                                                    cell.ExpectedText()));
        }
      }
      jrows.push_back({{"pod", row.pod},
                       {"mapping", row.mapping},
                       {"family", row.family},
                       {"note", row.note},
                       {"cells", jcells}});
    }
    doc.push_back({{"backend", b}, {"rows", jrows}});
  }
  if (json) {
    out << nlohmann::json({{"backends", doc},
                           {"refused_by_semantics", refused},
                           {"cells", cells},
                           {"mismatches", mismatches}})
               .dump(2)
        << "\n";
  } else {
    out << cells << " cells, " << mismatches << " mismatches\n";
  }
  return mismatches == 0 ? kExitOk : kExitFailed;
}

}  // namespace hostport
