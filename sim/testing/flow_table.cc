#include "sim/testing/flow_table.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "sim/host_model.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"

namespace sim {
namespace testing {

absl::StatusOr<Packet> PacketForFlow(const Flow& flow) {
  Packet p;
  absl::StatusOr<PacketOrigin> origin = ParsePacketOrigin(flow.from);
  if (!origin.ok()) return origin.status();
  p.origin = *origin;
  absl::StatusOr<Protocol> proto = ParseProtocol(flow.proto);
  if (!proto.ok()) return proto.status();
  p.protocol = *proto;
  absl::Status s = ParseEndpoint(flow.dst, false, &p.dst, &p.dst_port);
  if (!s.ok()) return s;
  if (!flow.src.empty()) {
    IpAddress a;
    uint16_t port = 0;
    s = ParseEndpoint(flow.src, true, &a, &port);
    if (!s.ok()) return s;
    p.src = a;
    if (port != 0) p.src_port = port;
  }
  return p;
}

void ExpectFlows(const Simulator& sim, const std::vector<Flow>& flows) {
  for (const Flow& f : flows) {
    SCOPED_TRACE(f.name);
    absl::StatusOr<Packet> p = PacketForFlow(f);
    ASSERT_TRUE(p.ok()) << p.status();
    absl::StatusOr<TraceResult> r = sim.Trace(*p);
    ASSERT_TRUE(r.ok()) << r.status();
    std::string trace = absl::StrJoin(r->trace, "\n  ");
    EXPECT_EQ(PacketVerdictName(r->verdict), f.verdict)
        << "reason: " << r->reason << "\ntrace:\n  " << trace;
    if (!f.endpoint.empty()) {
      EXPECT_EQ(r->To(), f.endpoint) << "trace:\n  " << trace;
    }
    if (!f.source_seen.empty()) {
      EXPECT_EQ(r->SourceSeen(), f.source_seen) << "trace:\n  " << trace;
    }
    if (!f.reason.empty()) {
      EXPECT_NE(r->reason.find(f.reason), std::string::npos)
          << "reason: " << r->reason << "\ntrace:\n  " << trace;
    }
  }
}

std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Simulator> MakeSimulator(const std::string& iptables_v4,
                                         const std::string& iptables_v6,
                                         const std::string& nft,
                                         const std::string& host_json) {
  Ruleset ruleset;
  if (!iptables_v4.empty()) {
    IptablesParseOptions o;
    o.family = IpFamily::kV4;
    o.source = "v4";
    absl::Status s = ApplyIptablesRestore(iptables_v4, o, &ruleset);
    EXPECT_TRUE(s.ok()) << s;
  }
  if (!iptables_v6.empty()) {
    IptablesParseOptions o;
    o.family = IpFamily::kV6;
    o.source = "v6";
    absl::Status s = ApplyIptablesRestore(iptables_v6, o, &ruleset);
    EXPECT_TRUE(s.ok()) << s;
  }
  if (!nft.empty()) {
    absl::Status s = ApplyNftScript(nft, "nft", &ruleset);
    EXPECT_TRUE(s.ok()) << s;
  }
  absl::StatusOr<HostModel> host =
      host_json.empty() ? HostModel::Default() : HostModel::FromJson(host_json);
  EXPECT_TRUE(host.ok()) << host.status();
  if (!host.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(std::move(ruleset), *std::move(host));
  EXPECT_TRUE(sim.ok()) << sim.status();
  if (!sim.ok()) return nullptr;
  return *std::move(sim);
}

}  // namespace testing
}  // namespace sim
