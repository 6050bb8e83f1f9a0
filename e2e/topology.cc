#include "e2e/topology.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hostport::e2e {
namespace {

using Commands = std::vector<std::vector<std::string>>;

absl::Status RunAll(Netns& ns, const Commands& commands) {
  for (const std::vector<std::string>& argv : commands) {
    absl::StatusOr<std::string> r = ns.Check(argv);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

// Without DAD, addresses are usable at once (no "tentative" window in which
// IPv6 packets are dropped).
Commands NoDad() {
  return {{"sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"},
          {"sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"}};
}

}  // namespace

std::string Topology::HostAddress(IPFamily family, int which) {
  return family == IPFamily::kIPv4 ? absl::StrCat("192.0.2.", 10 + which)
                                   : absl::StrCat("2001:db8::", 10 + which);
}

std::string Topology::ClientAddress(IPFamily family) {
  return family == IPFamily::kIPv4 ? "192.0.2.100" : "2001:db8::100";
}

std::string Topology::BridgeAddress(IPFamily family) {
  return family == IPFamily::kIPv4 ? "10.88.0.1" : "fd00:88::1";
}

std::string Topology::PodAddress(IPFamily family, int index) {
  return family == IPFamily::kIPv4 ? absl::StrCat("10.88.0.", index)
                                   : absl::StrCat("fd00:88::", index);
}

std::string Topology::SecondPodAddress(IPFamily family, int index) {
  return family == IPFamily::kIPv4 ? absl::StrCat("10.88.1.", index)
                                   : absl::StrCat("fd00:88::1:", index);
}

std::vector<std::string> Topology::PodIps(int i) const {
  std::vector<std::string> ips = {PodAddress(IPFamily::kIPv4, specs_[i].index),
                                  PodAddress(IPFamily::kIPv6, specs_[i].index)};
  if (specs_[i].second_address) {
    ips.push_back(SecondPodAddress(IPFamily::kIPv4, specs_[i].index));
    ips.push_back(SecondPodAddress(IPFamily::kIPv6, specs_[i].index));
  }
  return ips;
}

absl::StatusOr<std::unique_ptr<Topology>> Topology::Create(
    const TopologyOptions& options) {
  if (options.pods.empty() || options.pods.size() > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("a topology has 1..3 pods, not ", options.pods.size()));
  }
  for (size_t i = 0; i < options.pods.size(); ++i) {
    const int index = options.pods[i].index;
    if (index < 2 || index > 254) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod ", i, " has index ", index,
                       "; valid: 2..254 (1 is the bridge)"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (options.pods[j].index == index) {
        return absl::InvalidArgumentError(
            absl::StrCat("pods ", j, " and ", i, " share index ", index));
      }
    }
  }
  std::unique_ptr<Topology> topology(new Topology());
  if (absl::Status s = topology->Build(options); !s.ok()) return s;
  return topology;
}

absl::Status Topology::Build(const TopologyOptions& options) {
  specs_ = options.pods;
  absl::StatusOr<std::unique_ptr<Netns>> ns = Netns::Create("host");
  if (!ns.ok()) return ns.status();
  host_ = std::move(*ns);
  ns = Netns::Create("client");
  if (!ns.ok()) return ns.status();
  client_ = std::move(*ns);

  Commands host = NoDad();
  host.insert(
      host.end(),
      {
          {"sysctl", "-qw", "net.ipv4.ip_forward=1"},
          {"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
          {"ip", "link", "add", kHostExternal, "type", "veth", "peer", "name",
           "eth0", "netns", client_->name()},
          {"ip", "addr", "add", "192.0.2.10/24", "dev", kHostExternal},
          {"ip", "addr", "add", "192.0.2.11/24", "dev", kHostExternal},
          {"ip", "addr", "add", "2001:db8::10/64", "dev", kHostExternal,
           "nodad"},
          {"ip", "addr", "add", "2001:db8::11/64", "dev", kHostExternal,
           "nodad"},
          {"ip", "link", "set", kHostExternal, "up"},
          {"ip", "link", "add", kBridge, "type", "bridge", "forward_delay", "0",
           "stp_state", "0"},
          {"ip", "addr", "add", "10.88.0.1/16", "dev", kBridge},
          {"ip", "addr", "add", "fd00:88::1/64", "dev", kBridge, "nodad"},
          {"ip", "link", "set", kBridge, "up"},
      });
  // The client's side must see DAD off before its link appears.
  if (absl::Status s = RunAll(*client_, NoDad()); !s.ok()) return s;
  if (absl::Status s = RunAll(*host_, host); !s.ok()) return s;
  if (absl::Status s = RunAll(
          *client_,
          {
              {"ip", "addr", "add", "192.0.2.100/24", "dev", "eth0"},
              {"ip", "addr", "add", "2001:db8::100/64", "dev", "eth0", "nodad"},
              {"ip", "link", "set", "eth0", "up"},
              {"ip", "route", "add", "default", "via", "192.0.2.10"},
              {"ip", "-6", "route", "add", "default", "via", "2001:db8::10"},
          });
      !s.ok()) {
    return s;
  }

  for (const PodSpec& spec : options.pods) {
    ns = Netns::Create(absl::StrCat("pod", spec.index));
    if (!ns.ok()) return ns.status();
    Netns& pod = **ns;
    pods_.push_back(std::move(*ns));
    if (absl::Status s = RunAll(pod, NoDad()); !s.ok()) return s;
    const std::string port = absl::StrCat("hp-veth", spec.index);
    if (absl::Status s =
            RunAll(*host_,
                   {
                       {"ip", "link", "add", port, "type", "veth", "peer",
                        "name", "eth0", "netns", pod.name()},
                       {"ip", "link", "set", port, "master", kBridge},
                       {"ip", "link", "set", port, "type", "bridge_slave",
                        "hairpin", spec.hairpin ? "on" : "off"},
                       {"ip", "link", "set", port, "up"},
                   });
        !s.ok()) {
      return s;
    }
    const std::string v4 = PodAddress(IPFamily::kIPv4, spec.index);
    const std::string v6 = PodAddress(IPFamily::kIPv6, spec.index);
    if (absl::Status s = RunAll(
            pod,
            {
                {"ip", "addr", "add", absl::StrCat(v4, "/16"), "dev", "eth0"},
                {"ip", "addr", "add", absl::StrCat(v6, "/64"), "dev", "eth0",
                 "nodad"},
                {"ip", "link", "set", "eth0", "up"},
                {"ip", "route", "add", "default", "via", "10.88.0.1"},
                {"ip", "-6", "route", "add", "default", "via", "fd00:88::1"},
            });
        !s.ok()) {
      return s;
    }
    if (spec.second_address) {
      if (absl::Status s = RunAll(
              pod,
              {
                  {"ip", "addr", "add",
                   absl::StrCat(SecondPodAddress(IPFamily::kIPv4, spec.index),
                                "/16"),
                   "dev", "eth0"},
                  {"ip", "addr", "add",
                   absl::StrCat(SecondPodAddress(IPFamily::kIPv6, spec.index),
                                "/64"),
                   "dev", "eth0", "nodad"},
              });
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace hostport::e2e
