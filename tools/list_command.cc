#include "tools/list_command.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hostport/model/types.h"
#include "tools/cli.h"
#include "tools/kernel_command.h"
#include "tools/pods_file.h"
#include "tools/state_dir.h"

namespace hostport {
namespace {

constexpr char kUsage[] =
    "usage: hostportctl list [--state-dir DIR] [--output text|json]\n"
    "Shows the pods and mappings this host holds.\n";

// "8080/TCP on all addresses -> 80; 5353/UDP on 10.0.0.1 -> 53"
std::string DescribeMappings(const PodRequest& e) {
  std::vector<std::string> mappings;
  for (const PortMapping& m : e.pod.port_mappings) {
    mappings.push_back(
        absl::StrCat(m.host_port, "/", ProtocolName(m.protocol), " on ",
                     m.host_ip.empty() ? "all addresses" : m.host_ip, " -> ",
                     m.container_port));
  }
  return absl::StrJoin(mappings, "; ");
}

}  // namespace

int RunListCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  ParsedFlags flags;
  bool json = false;
  if (int code =
          ParseVerbFlags(args, {}, "list", kUsage, out, err, &flags, &json);
      code >= 0) {
    return code;
  }
  const StateDir state(flags.Get("state-dir", kDefaultStateDir));
  absl::StatusOr<StateDir::Listing> listing = state.List();
  if (!listing.ok()) {
    return Fail(err, "list", listing.status().message(), kExitFailed);
  }
  for (const DamagedRecord& d : listing->damaged) {
    err << "hostportctl list: skipping damaged record " << d.error << "\n";
  }
  const std::vector<HeldPod>& held = listing->pods;
  if (json) {
    nlohmann::json pods = nlohmann::json::array();
    for (const HeldPod& h : held) {
      nlohmann::json pod = nlohmann::json::parse(PodRequestJson(h.entry));
      pod["backend"] = h.backend;
      if (h.pending) pod["pending"] = true;
      pods.push_back(pod);
    }
    out << pods.dump(2) << "\n";
    return kExitOk;
  }
  if (held.empty()) {
    out << "no pods held (state directory " << state.path() << ")\n";
    return kExitOk;
  }
  for (const HeldPod& h : held) {
    const std::string owner =
        h.entry.pod.namespace_.empty() && h.entry.pod.name.empty()
            ? std::string("-")
            : absl::StrCat(h.entry.pod.namespace_, "/", h.entry.pod.name);
    out << h.entry.id << "  " << owner << "  " << h.backend << "  ["
        << absl::StrJoin(h.entry.pod.ips, ", ") << "]  "
        << DescribeMappings(h.entry)
        << (h.pending ? "  (pending: a change was interrupted)" : "") << "\n";
  }
  return kExitOk;
}

}  // namespace hostport
