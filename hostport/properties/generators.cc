#include "hostport/properties/generators.h"

#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hostport::properties {

namespace {

// `gen` at the nominal size whatever the size around it: rc::gen::resize
// bounds the containers below, and inRange/elementOf scale their range with
// the size, so without this they would pick only the first few values.
template <typename T>
rc::Gen<T> Unsized(rc::Gen<T> gen) {
  return rc::gen::resize(rc::kNominalSize, std::move(gen));
}

}  // namespace

rc::Gen<HostSpec> GenHostSpec() {
  // Interface kinds: 0 both families, 1 IPv4 only, 2 IPv6 only. Pods are
  // bridged with hairpin_mode on unless the two (shrinking to false) say so.
  return rc::gen::apply(
      [](const std::vector<int>& kinds, bool routed, bool hairpin_off) {
        HostSpec h;
        h.bridged = !routed;
        h.hairpin_mode = !hairpin_off;
        for (size_t i = 0; i < kinds.size(); ++i) {
          h.interfaces.push_back(
              {static_cast<int>(i), kinds[i] != 2, kinds[i] != 1});
        }
        return h;
      },
      rc::gen::resize(3, rc::gen::nonEmpty(rc::gen::container<std::vector<int>>(
                             Unsized(rc::gen::inRange(0, 3))))),
      rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>());
}

rc::Gen<int> GenPort() {
  return rc::gen::weightedOneOf<int>(
      {{3, Unsized(rc::gen::elementOf(PortPool()))},
       {1, Unsized(rc::gen::inRange(1, 65536))}});
}

rc::Gen<int> GenRawPort() {
  return rc::gen::weightedOneOf<int>(
      {{19, GenPort()}, {1, rc::gen::element(0, 65536)}});
}

rc::Gen<std::vector<PodRequest>> GenRawPods(const HostSpec& host) {
  std::vector<std::string> host_ips = {"", "0.0.0.0", "::"};
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const std::string& a : host.Addresses(f)) host_ips.push_back(a);
  }
  for (const char* a :
       {"127.0.0.1", "::1", "198.51.100.99", "2001:db8:dead::1"}) {
    host_ips.push_back(a);
  }
  auto mapping = rc::gen::apply(
      [](int host_port, int container_port, Protocol protocol,
         std::string host_ip) {
        return PortMapping{host_port, container_port, protocol,
                           std::move(host_ip)};
      },
      GenRawPort(), GenRawPort(),
      rc::gen::elementOf(std::vector<Protocol>{Protocol::kTCP, Protocol::kUDP,
                                               Protocol::kSCTP}),
      rc::gen::elementOf(host_ips));
  auto pod = rc::gen::apply(
      [](std::vector<std::string> ips, std::vector<PortMapping> mappings,
         std::string nat) {
        PodRequest e;
        e.pod.namespace_ = "ns";
        e.pod.ips = std::move(ips);
        e.pod.port_mappings = std::move(mappings);
        e.nat_interface = std::move(nat);
        return e;
      },
      // Variable-size containers, so shrinking removes elements.
      rc::gen::resize(
          4, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(
                 Unsized(rc::gen::elementOf(PodIpPool()))))),
      rc::gen::resize(
          8, rc::gen::container<std::vector<PortMapping>>(Unsized(mapping))),
      Unsized(
          rc::gen::elementOf(std::vector<std::string>{kPodBridge, "", "lo"})));
  return rc::gen::map(
      rc::gen::resize(4, rc::gen::nonEmpty(
                             rc::gen::container<std::vector<PodRequest>>(pod))),
      [](std::vector<PodRequest> pods) {
        for (size_t i = 0; i < pods.size(); ++i) {
          pods[i].id = absl::StrCat("pod", i);
          pods[i].pod.name = absl::StrCat("p", i);
        }
        return pods;
      });
}

rc::Gen<Scenario> GenScenario() {
  return rc::gen::mapcat(GenHostSpec(), [](HostSpec host) {
    return rc::gen::map(GenRawPods(host), [host](std::vector<PodRequest> raw) {
      return MakeValid(host, std::move(raw));
    });
  });
}

void showValue(const ExternalInterface& v, std::ostream& os) {
  os << v.Name() << "{" << (v.v4 ? v.V4() : "") << (v.v4 && v.v6 ? " " : "")
     << (v.v6 ? v.V6() : "") << "}";
}

void showValue(const HostSpec& v, std::ostream& os) {
  os << "host [";
  for (const ExternalInterface& i : v.interfaces) {
    showValue(i, os);
    os << " ";
  }
  os << kPodBridge << "{10.88.0.1/16 fd00:88::1/64 route_localnet}"
     << (v.bridged ? (v.hairpin_mode ? " bridged" : " bridged, hairpin off")
                   : " routed")
     << "]";
}

void showValue(const Scenario& v, std::ostream& os) {
  showValue(v.host, os);
  os << "\n";
  for (const PodRequest& p : v.pods) {
    os << "  ";
    hostport::showValue(p, os);
    os << "\n";
  }
  for (const std::string& d : v.dropped) os << "  (dropped: " << d << ")\n";
}

void showValue(const Probe& v, std::ostream& os) { os << DescribeProbe(v); }

}  // namespace hostport::properties

namespace hostport {

void showValue(const PortMapping& v, std::ostream& os) {
  os << v.host_port << "/" << ProtocolName(v.protocol) << " on "
     << (v.host_ip.empty() ? "\"\"" : v.host_ip) << " -> " << v.container_port;
}

void showValue(const PodRequest& v, std::ostream& os) {
  os << v.id << " ips [" << absl::StrJoin(v.pod.ips, " ") << "] nat \""
     << v.nat_interface << "\" {";
  for (size_t i = 0; i < v.pod.port_mappings.size(); ++i) {
    os << (i ? ", " : "");
    showValue(v.pod.port_mappings[i], os);
  }
  os << "}";
}

}  // namespace hostport
