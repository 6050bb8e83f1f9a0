#include "tools/remove_command.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/cli.h"
#include "tools/kernel_command.h"
#include "tools/locked_host.h"
#include "tools/netlink_handoff.h"
#include "tools/pods_file.h"

namespace hostport {
namespace {

constexpr char kUsage[] =
    "usage: hostportctl remove (--id ID[,ID...] | --pods FILE)\n"
    "         [--state-dir DIR] [--output text|json]\n"
    "Removes the pods' mappings (no pod IP needed) and their records (root).\n";

}  // namespace

int RunRemoveCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err) {
  ParsedFlags flags;
  bool json = false;
  if (int code = ParseVerbFlags(args, {{"id", true}, {"pods", true}}, "remove",
                                kUsage, out, err, &flags, &json);
      code >= 0) {
    return code;
  }
  if (flags.Has("id") == flags.Has("pods")) {
    return Fail(err, "remove",
                absl::StrCat("give exactly one of --id and --pods\n", kUsage),
                kExitUsage);
  }
  std::vector<PodRequest> targets;
  if (flags.Has("id")) {
    for (absl::string_view id : absl::StrSplit(flags.Get("id"), ',')) {
      if (id.empty()) {
        return Fail(err, "remove",
                    absl::StrCat("--id \"", flags.Get("id"),
                                 "\" has an empty id: want ID[,ID...]"),
                    kExitUsage);
      }
      targets.push_back(PodRequest{std::string(id), {}, ""});
    }
  } else {
    absl::StatusOr<std::vector<PodRequest>> entries =
        ReadPodsFile(flags.Get("pods"));
    if (!entries.ok()) {
      return Fail(err, "remove", entries.status().message(), kExitUsage);
    }
    targets = std::move(*entries);
  }
  if (int code = RequireRoot(err, "remove"); code >= 0) return code;
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(flags.Get("state-dir", kDefaultStateDir),
               MetaOptions::Backend::kAuto, /*allow_forward=*/false, err);
  if (!host.ok()) {
    return Fail(err, "remove", host.status().message(), kExitFailed);
  }
  if (absl::Status s = (*host)->Prepare(targets); !s.ok()) {
    return Fail(err, "remove", s.message(), kExitFailed);
  }
  int code = kExitOk;
  nlohmann::json removed = nlohmann::json::array();
  for (const PodRequest& target : targets) {
    if (absl::Status s = (*host)->Remove(target); !s.ok()) {
      err << "hostportctl remove: " << s.message() << "\n";
      code = kExitFailed;
      continue;
    }
    removed.push_back(target.id);
    if (!json) out << "removed " << target.id << "\n";
  }
  if (json) out << nlohmann::json({{"removed", removed}}).dump(2) << "\n";
  HandOffNetlinkSockets();
  return code;
}

}  // namespace hostport
