#include "tools/add_command.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "tools/cli.h"
#include "tools/kernel_command.h"
#include "tools/locked_host.h"
#include "tools/netlink_handoff.h"
#include "tools/pods_file.h"

namespace hostport {
namespace {

constexpr char kUsage[] =
    "usage: hostportctl add --pods FILE\n"
    "         [--backend auto|iptables|iptables-legacy|iptables-nft|nftables]\n"
    "         [--allow-forward]\n"
    "         [--state-dir DIR] [--nat-interface IF] [--output text|json]\n"
    "Applies the pods' mappings to this network namespace's kernel (root).\n"
    "Nothing is half-applied: if one pod fails, the others are taken back.\n"
    "--allow-forward: where iptables' filter FORWARD drops by policy\n"
    "(Docker), accept the DNATed flows there first.\n";

}  // namespace

int RunAddCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err) {
  PodsFileInput input;
  if (int code = ReadPodsFileInput(args, "add", kUsage, out, err, &input);
      code >= 0) {
    return code;
  }
  const std::vector<PodRequest>& pods = input.pods;
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(input.flags.Get("state-dir", kDefaultStateDir), input.backend,
               input.flags.Has("allow-forward"), err);
  if (!host.ok()) return Fail(err, "add", host.status().message(), kExitFailed);
  Progress progress(err, "add", pods.size());
  absl::Status added =
      (*host)->Add(pods, [&](size_t done) { progress.Step(done); });
  progress.Done();
  if (!added.ok()) return FailChange(err, "add", input, added);
  const std::string backend_name = (*host)->backend();
  if (input.json) {
    nlohmann::json ids = nlohmann::json::array();
    for (const PodRequest& e : pods) ids.push_back(e.id);
    out << nlohmann::json({{"added", ids}, {"backend", backend_name}}).dump(2)
        << "\n";
  } else {
    for (const PodRequest& e : pods) {
      out << "added " << e.id << " (" << backend_name << ")\n";
    }
  }
  HandOffNetlinkSockets();
  return kExitOk;
}

}  // namespace hostport
