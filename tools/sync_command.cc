#include "tools/sync_command.h"

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
    "usage: hostportctl sync --pods FILE\n"
    "         [--backend auto|iptables|iptables-legacy|iptables-nft|nftables]\n"
    "         [--allow-forward] [--read-kernel]\n"
    "         [--state-dir DIR] [--nat-interface IF] [--output text|json]\n"
    "Makes the host hold exactly FILE's pods (root). Compares them with the\n"
    "records and changes only what differs: recorded pods FILE lacks are\n"
    "removed, then pods not recorded exactly are added (the removed come back\n"
    "if that fails). --read-kernel reads the kernel whole instead: rules of\n"
    "ours that no pod owns go too, one transaction per family.\n";

}  // namespace

int RunSyncCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  PodsFileInput input;
  if (int code = ReadPodsFileInput(args, "sync", kUsage, out, err, &input);
      code >= 0) {
    return code;
  }
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(input.flags.Get("state-dir", kDefaultStateDir), input.backend,
               input.flags.Has("allow-forward"), err,
               /*trust_records=*/!input.flags.Has("read-kernel"));
  if (!host.ok()) {
    return Fail(err, "sync", host.status().message(), kExitFailed);
  }
  NoteLongSync(err, input.pods.size());
  if (absl::Status s = (*host)->Sync(input.pods); !s.ok()) {
    return FailChange(err, "sync", input, s);
  }
  const std::string backend = (*host)->backend();
  if (input.json) {
    nlohmann::json ids = nlohmann::json::array();
    for (const PodRequest& e : input.pods) ids.push_back(e.id);
    out << nlohmann::json({{"synced", ids}, {"backend", backend}}).dump(2)
        << "\n";
  } else {
    out << "synced " << input.pods.size() << " pods (" << backend << ")\n";
  }
  HandOffNetlinkSockets();
  return kExitOk;
}

}  // namespace hostport
