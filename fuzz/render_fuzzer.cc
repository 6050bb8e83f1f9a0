// Fuzzes rule generation end to end: bytes decode (with a small structured
// decoder) into a host and pods; //semantics keeps what DESIGN §4 calls valid
// and free of conflicts; PlanPod must accept all of it; both backends render;
// the simulator must parse everything we render; and on a sample of packets
// the simulator's verdict must equal DESIGN §4 (semantics::Expect), each
// family's text must name only its own addresses, and a mapping of a family
// the pod lacks must be reported skipped. Any violation is printed and
// abort()s.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hostport/model/plan.h"
#include "hostport/properties/scenario.h"
#include "semantics/semantics.h"

namespace hostport::properties {
namespace {

// Reads small numbers from the input; past its end every read is 0, so any
// input decodes to something.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  // 0..n-1.
  int Below(int n) { return Byte() % n; }
  int Port() {
    // Mostly the pool (collisions, the edges 1 and 65535); sometimes any
    // 16-bit value, 0 included, or 65536.
    if (Below(8) != 0) return PortPool()[Below(PortPool().size())];
    if (Below(16) == 0) return 65536;
    return (Byte() << 8) | Byte();
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

[[noreturn]] void Violation(const Scenario& s, const std::string& what) {
  std::fprintf(stderr, "render_fuzzer: %s\nhost interfaces: %zu\n",
               what.c_str(), s.host.interfaces.size());
  for (const PodRequest& e : s.pods) {
    std::string line = e.id + " ips [";
    for (const std::string& ip : e.pod.ips) line += ip + " ";
    line += "] nat \"" + e.nat_interface + "\" {";
    for (const PortMapping& m : e.pod.port_mappings) {
      line += std::to_string(m.host_port) + "/" +
              std::string(ProtocolName(m.protocol)) + " on \"" + m.host_ip +
              "\" -> " + std::to_string(m.container_port) + ", ";
    }
    std::fprintf(stderr, "  %s}\n", line.c_str());
  }
  std::abort();
}

Scenario Decode(ByteReader& in) {
  HostSpec host;
  const int interfaces = 1 + in.Below(3);
  for (int i = 0; i < interfaces; ++i) {
    const int kind = in.Below(3);
    host.interfaces.push_back({i, kind != 2, kind != 1});
  }
  host.bridged = in.Below(4) != 0;
  host.hairpin_mode = in.Below(4) != 0;
  std::vector<std::string> host_ips = {"", "0.0.0.0", "::"};
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const std::string& a : host.Addresses(f)) host_ips.push_back(a);
  }
  for (const char* a : {"127.0.0.1", "::1", "198.51.100.99", "2001:db8:dead::1",
                        "127.0.0.2", "::ffff:10.0.0.1", "fe80::1", "bogus"}) {
    host_ips.push_back(a);
  }
  std::vector<PodRequest> pods(1 + in.Below(4));
  for (size_t p = 0; p < pods.size(); ++p) {
    PodRequest& e = pods[p];
    e.id = "pod" + std::to_string(p);
    e.pod.namespace_ = "ns";
    e.pod.name = "p" + std::to_string(p);
    const int ips = 1 + in.Below(4);
    for (int i = 0; i < ips; ++i) {
      e.pod.ips.push_back(PodIpPool()[in.Below(PodIpPool().size())]);
    }
    const int mappings = in.Below(9);
    for (int i = 0; i < mappings; ++i) {
      PortMapping m;
      m.host_port = in.Port();
      m.container_port = in.Port();
      m.protocol = static_cast<Protocol>(in.Below(3));
      m.host_ip = host_ips[in.Below(host_ips.size())];
      e.pod.port_mappings.push_back(m);
    }
    static const char* kNat[] = {kPodBridge, "", "lo", "bad/name"};
    e.nat_interface = kNat[in.Below(4)];
  }
  return MakeValid(host, std::move(pods));
}

void CheckFamilies(const Scenario& s, const std::vector<PodPlan>& plans) {
  for (Backend b : {Backend::kIptables, Backend::kNftables}) {
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      const std::string foreign = ForeignAddress(RenderFull(b, f, plans), f);
      if (!foreign.empty()) {
        Violation(s, BackendName(b) + " IPv" + std::string(IPFamilyName(f)) +
                         " ruleset names " + foreign);
      }
    }
  }
  const std::vector<semantics::Pod> pods = SemanticPods(s.pods);
  for (size_t i = 0; i < pods.size(); ++i) {
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      const sim::IpFamily sf =
          f == IPFamily::kIPv4 ? sim::IpFamily::kV4 : sim::IpFamily::kV6;
      const bool pod_has = semantics::Target(pods[i], sf).has_value();
      const auto& mappings = pods[i].pod.port_mappings;
      for (size_t k = 0; k < mappings.size(); ++k) {
        if (!semantics::Names(mappings[k], sf)) continue;
        bool planned = false, skipped = false;
        for (const PlannedMapping& pm : plans[i].family(f).mappings) {
          planned |= pm.index == static_cast<int>(k);
        }
        for (const SkippedMapping& sm : plans[i].skipped) {
          skipped |= sm.index == static_cast<int>(k) && sm.family == f;
        }
        if (planned != pod_has || skipped == pod_has) {
          Violation(s, "mapping " + std::to_string(k) + " of " + s.pods[i].id +
                           " is " + (planned ? "planned" : "not planned") +
                           " and " + (skipped ? "skipped" : "not skipped") +
                           " in IPv" + std::string(IPFamilyName(f)));
        }
      }
    }
  }
}

}  // namespace
}  // namespace hostport::properties

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hostport::properties;  // NOLINT: one entry point.
  ByteReader in(data, size);
  const Scenario s = Decode(in);
  const absl::StatusOr<std::vector<hostport::PodPlan>> plans = Plans(s.pods);
  if (!plans.ok()) Violation(s, std::string(plans.status().message()));
  CheckFamilies(s, *plans);
  const sim::HostModel host = s.host.Model(s.pods);
  const std::vector<Probe> probes = AllProbes(s);
  // A sample of packets, chosen by the rest of the input.
  std::vector<Probe> sample;
  for (int i = 0; i < 48 && !probes.empty(); ++i) {
    const int pick = (in.Byte() << 8 | in.Byte()) + i * 7919;
    sample.push_back(probes[pick % probes.size()]);
  }
  for (Backend b : {Backend::kIptables, Backend::kNftables}) {
    absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
        SimulateFull(b, s);
    if (!simulator.ok()) {
      Violation(s,
                "the simulator cannot read the " + BackendName(b) +
                    " rendering: " + std::string(simulator.status().message()));
    }
    std::optional<std::string> mismatch = FirstMismatch(
        s, host, **simulator, sample, [](const Probe&) { return false; });
    if (mismatch) Violation(s, BackendName(b) + ": " + *mismatch);
  }
  return 0;
}
