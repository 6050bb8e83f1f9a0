#include "tools/sync_command.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "tools/cli.h"
#include "tools/kernel_command.h"
#include "tools/locked_host.h"
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
  PodsRequest request;
  if (int code = ReadPodsRequest(args, "sync", kUsage, out, err, &request);
      code >= 0) {
    return code;
  }
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(request.flags.Get("state-dir", kDefaultStateDir),
               request.backend, request.flags.Has("allow-forward"), err,
               /*trust_records=*/!request.flags.Has("read-kernel"));
  if (!host.ok()) {
    return Fail(err, "sync", host.status().message(), kExitFailed);
  }
  NoteLongSync(err, request.entries.size());
  if (absl::Status s = (*host)->Sync(request.entries); !s.ok()) {
    return FailChange(err, "sync", request, s);
  }
  const std::string backend = (*host)->backend();
  if (request.json) {
    nlohmann::json ids = nlohmann::json::array();
    for (const PodRequest& e : request.entries) ids.push_back(e.id);
    out << nlohmann::json({{"synced", ids}, {"backend", backend}}).dump(2)
        << "\n";
  } else {
    out << "synced " << request.entries.size() << " pods (" << backend << ")\n";
  }
  return kExitOk;
}

}  // namespace hostport
