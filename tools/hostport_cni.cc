// hostport-cni: a CNI meta plugin (spec 1.0.0; 0.3.x and 0.4.0 configs
// accepted) that maps the `portMappings` capability with hostport instead of
// `portmap`.
//
// Chained after a plugin that assigns addresses (bridge + host-local), it reads
//   runtimeConfig.portMappings: [{hostPort, containerPort, protocol, hostIP}]
//   prevResult.ips[].address: the pod's addresses, both families
// and the options `backend`
// (auto|iptables|iptables-legacy|iptables-nft|nftables), `natInterface`
// (default: the interface the host routes the pod's IPv4 address by),
// `stateDir` (default /run/hostport, shared with hostportctl) and
// `allowForward` (accept DNATed flows first where iptables' filter FORWARD
// drops by policy). Commands:
//   ADD      map the ports (nothing half-applied), record the pod, pass
//            prevResult on
//   DEL      remove them; idempotent; works without prevResult, with only the
//            container id, even after a process was killed mid-ADD
//   CHECK    the rules are present and as ADD would write them
//   VERSION  the versions spoken
// Every command runs under the host-wide lock of the state directory, shared
// with hostportctl, and a pod conflicting with any recorded pod is refused.
// Errors are CNI error objects on stdout with exit status 1 (code 7: invalid
// configuration or pod; 100: a conflict, the kernel refused, I/O).
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hostport/hostport_manager.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/plan.h"
#include "hostport/os/command_runner.h"
#include "tools/locked_host.h"
#include "tools/netlink_handoff.h"
#include "tools/pods_file.h"

namespace hostport {
namespace {

using nlohmann::json;

// CNI error codes (spec §Error).
constexpr int kIncompatibleVersion = 1;
constexpr int kInvalidEnvironment = 4;
constexpr int kDecodeFailure = 6;
constexpr int kInvalidConfig = 7;
constexpr int kPluginFailure = 100;  // Plugin-specific codes start at 100.

const char* const kVersions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};

struct CniError {
  int code;
  std::string msg;
  std::string details;
};

int Report(const std::string& version, const CniError& e) {
  json out = {{"cniVersion", version.empty() ? "1.0.0" : version},
              {"code", e.code},
              {"msg", e.msg}};
  if (!e.details.empty()) out["details"] = e.details;
  std::cout << out.dump() << "\n";
  return 1;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web" → value of `key`.
std::string CniArg(const std::string& args, absl::string_view key) {
  for (absl::string_view kv : absl::StrSplit(args, ';')) {
    std::pair<absl::string_view, absl::string_view> p =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first == key) return std::string(p.second);
  }
  return "";
}

// The interface the host routes `address` by (`ip -j route get`).
absl::StatusOr<std::string> RouteDevice(const std::string& address) {
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> r =
      runner.Run({"ip", "-j", "route", "get", address}, "");
  if (!r.ok()) return r.status();
  json routes = json::parse(r->stdout_text, nullptr, false);
  if (r->exit_code != 0 || !routes.is_array() || routes.empty() ||
      !routes[0].contains("dev")) {
    return absl::NotFoundError(absl::StrCat("no route to pod address ", address,
                                            ": ", r->stderr_text));
  }
  return routes[0]["dev"].get<std::string>();
}

struct Request {
  std::string version;
  json config;
  std::string id;
  PodRequest entry;
  MetaOptions::Backend backend = MetaOptions::Backend::kAuto;
  std::string state_dir = "/run/hostport";
  bool allow_forward = false;
};

// Reads what every command needs; nullopt-like via error.
// DEL skips the value check (`check_values` false): it must clean up by id
// whatever the rest of the request holds, prevResult or not.
absl::Status ParseRequest(const std::string& stdin_text, bool check_values,
                          Request* r, CniError* error) {
  if (absl::Status deep = CheckJsonDepth(stdin_text); !deep.ok()) {
    *error = {kDecodeFailure, "network configuration is not valid JSON",
              std::string(deep.message())};
    return absl::InvalidArgumentError("decode");
  }
  r->config = json::parse(stdin_text, nullptr, false);
  if (r->config.is_discarded() || !r->config.is_object()) {
    *error = {kDecodeFailure, "network configuration is not a JSON object", ""};
    return absl::InvalidArgumentError("decode");
  }
  const json& c = r->config;
  r->version = c.value("cniVersion", "");
  if (std::find(std::begin(kVersions), std::end(kVersions), r->version) ==
      std::end(kVersions)) {
    *error = {kIncompatibleVersion,
              absl::StrCat("cniVersion \"", r->version, "\" is not supported"),
              "supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0"};
    return absl::InvalidArgumentError("version");
  }
  for (const char* field : {"backend", "natInterface", "stateDir"}) {
    if (c.contains(field) && !c[field].is_string()) {
      *error = {kInvalidConfig,
                absl::StrCat("\"", field, "\" must be a string"), ""};
      return absl::InvalidArgumentError("config");
    }
  }
  const std::string backend_name = c.value("backend", "");
  absl::StatusOr<MetaOptions::Backend> backend =
      ParseBackendName(backend_name.empty() ? "auto" : backend_name);
  if (!backend.ok()) {
    *error = {kInvalidConfig, std::string(backend.status().message()), ""};
    return backend.status();
  }
  r->backend = *backend;
  r->state_dir = c.value("stateDir", r->state_dir);
  if (c.contains("allowForward")) {
    if (!c["allowForward"].is_boolean()) {
      *error = {kInvalidConfig, "\"allowForward\" must be true or false", ""};
      return absl::InvalidArgumentError("config");
    }
    r->allow_forward = c["allowForward"].get<bool>();
  }
  r->id = Env("CNI_CONTAINERID");
  if (r->id.empty()) {
    *error = {kInvalidEnvironment, "CNI_CONTAINERID is not set", ""};
    return absl::InvalidArgumentError("env");
  }
  // The pod, as a pods-file entry, so the same validation applies.
  json pod = {{"id", r->id},
              {"namespace", CniArg(Env("CNI_ARGS"), "K8S_POD_NAMESPACE")},
              {"name", CniArg(Env("CNI_ARGS"), "K8S_POD_NAME")},
              {"ips", json::array()},
              {"port_mappings", json::array()}};
  if (c.contains("prevResult") && c["prevResult"].contains("ips")) {
    for (const json& ip : c["prevResult"]["ips"]) {
      if (!ip.is_object() || !ip.contains("address") ||
          !ip["address"].is_string()) {
        *error = {kInvalidConfig, "prevResult.ips[] needs an \"address\"", ""};
        return absl::InvalidArgumentError("config");
      }
      const std::string address = ip["address"].get<std::string>();
      const size_t slash = address.find('/');
      int prefix = -1;
      absl::StatusOr<IpAddress> parsed =
          IpAddress::Parse(address.substr(0, slash));
      if (parsed.ok() && slash != std::string::npos &&
          absl::SimpleAtoi(address.substr(slash + 1), &prefix) &&
          parsed->IsNetworkOrBroadcastIn(prefix)) {
        *error = {kInvalidConfig,
                  absl::StrCat("prevResult.ips[] address \"", address,
                               "\" is the network or broadcast address of "
                               "its subnet, not a pod's"),
                  "want a host address of the subnet"};
        return absl::InvalidArgumentError("config");
      }
      pod["ips"].push_back(address.substr(0, slash));
    }
  }
  const json* mappings = nullptr;
  if (c.contains("runtimeConfig") &&
      c["runtimeConfig"].contains("portMappings")) {
    mappings = &c["runtimeConfig"]["portMappings"];
  }
  if (mappings != nullptr) {
    if (!mappings->is_array()) {
      *error = {kInvalidConfig, "runtimeConfig.portMappings must be an array",
                ""};
      return absl::InvalidArgumentError("config");
    }
    for (const json& m : *mappings) {
      if (!m.is_object()) {
        *error = {kInvalidConfig, "a portMappings entry is not an object", ""};
        return absl::InvalidArgumentError("config");
      }
      json pm = {{"host_port", m.value("hostPort", json())},
                 {"container_port", m.value("containerPort", json())},
                 {"protocol", m.value("protocol", json("tcp"))},
                 {"host_ip", m.value("hostIP", json(""))}};
      pod["port_mappings"].push_back(pm);
    }
  }
  absl::StatusOr<std::vector<PodRequest>> entries = ParsePodsJson(pod.dump());
  if (!entries.ok()) {
    *error = {kInvalidConfig, std::string(entries.status().message()), ""};
    return entries.status();
  }
  r->entry = std::move((*entries)[0]);
  r->entry.nat_interface = c.value("natInterface", "");
  if (!check_values) return absl::OkStatus();
  // Values (ranges, addresses, overlaps) are checked before anything runs.
  absl::StatusOr<PodPlan> plan =
      PlanPod(r->id, r->entry.pod, r->entry.nat_interface);
  if (!plan.ok()) {
    *error = {kInvalidConfig, std::string(plan.status().message()), ""};
    return plan.status();
  }
  return absl::OkStatus();
}

// Waits for the host-wide lock (shared with hostportctl) and opens the host:
// every pod recorded, whichever tool added it, counts.
absl::StatusOr<std::unique_ptr<LockedHost>> OpenHost(const Request& r) {
  MetaOptions options;
  options.prefer = r.backend;
  options.allow_forward = r.allow_forward;
  options.hold_ports = false;    // The plugin exits; it cannot keep sockets.
  options.trust_records = true;  // Read only the records the change concerns.
  options.log = LogLinesTo(std::cerr, "hostport-cni");
  return LockedHost::Open(r.state_dir, std::move(options));
}

// CNI code for a failed change: 7 for a pod that does not plan, 100 for the
// rest (a conflict with another pod, the kernel refused, I/O).
CniError ChangeError(const absl::Status& s) {
  return {absl::IsInvalidArgument(s) ? kInvalidConfig : kPluginFailure,
          std::string(s.message()), ""};
}

int Run() {
  const std::string command = Env("CNI_COMMAND");
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  if (command == "VERSION") {
    json out = {{"cniVersion", "1.0.0"}, {"supportedVersions", json::array()}};
    for (const char* v : kVersions) out["supportedVersions"].push_back(v);
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (command != "ADD" && command != "DEL" && command != "CHECK") {
    return Report("", {kInvalidEnvironment,
                       absl::StrCat("CNI_COMMAND \"", command,
                                    "\" is not ADD, DEL, CHECK or VERSION"),
                       ""});
  }
  Request r;
  CniError error;
  if (!ParseRequest(input, /*check_values=*/command != "DEL", &r, &error)
           .ok()) {
    return Report(r.version, error);
  }
  if (command == "DEL") {
    // Whatever ADD recorded (intent included) and the config names: nothing
    // else is needed, not even prevResult.
    absl::StatusOr<std::unique_ptr<LockedHost>> host = OpenHost(r);
    if (!host.ok()) return Report(r.version, ChangeError(host.status()));
    // After the output, before the host (its sockets) goes.
    absl::Cleanup hand_off = [] { HandOffNetlinkSockets(); };
    if (absl::Status s = (*host)->Remove(r.entry); !s.ok()) {
      return Report(r.version, ChangeError(s));
    }
    return 0;
  }

  if (!r.config.contains("prevResult")) {
    return Report(r.version, {kInvalidConfig,
                              absl::StrCat(command,
                                           " needs prevResult: chain "
                                           "hostport-cni after a plugin "
                                           "that assigns addresses"),
                              ""});
  }
  if (r.entry.nat_interface.empty()) {
    for (const std::string& ip : r.entry.pod.ips) {
      if (absl::StrContains(ip, ':')) continue;
      absl::StatusOr<std::string> dev = RouteDevice(ip);
      if (dev.ok()) r.entry.nat_interface = *dev;
      break;
    }
  }
  absl::StatusOr<std::unique_ptr<LockedHost>> host = OpenHost(r);
  if (!host.ok()) return Report(r.version, ChangeError(host.status()));
  absl::Cleanup hand_off = [] { HandOffNetlinkSockets(); };
  if (command == "CHECK") {
    if (absl::Status s = (*host)->Check(r.entry); !s.ok()) {
      return Report(r.version, ChangeError(s));
    }
    return 0;
  }
  if (absl::Status s = (*host)->Add({r.entry}); !s.ok()) {
    return Report(r.version, ChangeError(s));
  }
  json result = r.config["prevResult"];
  result["cniVersion"] = r.version;
  std::cout << result.dump() << "\n";
  return 0;
}

}  // namespace
}  // namespace hostport

namespace {

constexpr char kUsage[] = R"(usage: hostport-cni
A CNI plugin: the runtime passes the request in the environment and the
network configuration on stdin; it takes no arguments.
  CNI_COMMAND      ADD, DEL, CHECK or VERSION
  CNI_CONTAINERID  the pod's id (the key of its record)
  CNI_NETNS, CNI_IFNAME, CNI_PATH as the CNI spec says
Configuration: "backend" (auto|iptables|iptables-legacy|iptables-nft|
nftables), "natInterface", "stateDir" (default /run/hostport), "allowForward";
runtimeConfig.portMappings [{hostPort, containerPort, protocol, hostIP}] and
prevResult.ips give the mappings and the pod's addresses.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    const std::string arg = argv[1];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "hostport-cni: unexpected argument \"" << arg
              << "\": a CNI plugin takes none (--help prints usage)\n";
    return 2;
  }
  return hostport::Run();
}
