// Properties over generated iptables rulesets: what the parser accepts prints
// and parses back unchanged, and the (protocol, port) rule index never
// changes an answer.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "sim/iptables_parser.h"
#include "sim/simulator.h"

namespace sim {
namespace {

rc::Gen<std::string> RuleSpec() {
  return rc::gen::exec([]() {
    std::string spec;
    if (*rc::gen::arbitrary<bool>()) {
      absl::StrAppend(&spec, *rc::gen::element<std::string>("", "! "), "-s ",
                      *rc::gen::element<std::string>(
                          "10.0.0.0/8", "198.51.100.0/24", "203.0.113.7"),
                      " ");
    }
    if (*rc::gen::arbitrary<bool>()) {
      absl::StrAppend(&spec, "-d ",
                      *rc::gen::element<std::string>("192.0.2.10", "10.0.0.1"),
                      " ");
    }
    std::string proto = *rc::gen::element<std::string>("", "tcp", "udp");
    if (!proto.empty()) absl::StrAppend(&spec, "-p ", proto, " ");
    if (*rc::gen::arbitrary<bool>()) {
      absl::StrAppend(&spec, "-m comment --comment \"c ",
                      *rc::gen::inRange(0, 100), "\" ");
    }
    if (!proto.empty()) {
      int port = *rc::gen::inRange(80, 86);
      switch (*rc::gen::inRange(0, 4)) {
        case 0:
          absl::StrAppend(&spec, "-m ", proto, " --dport ", port, " ");
          break;
        case 1:
          absl::StrAppend(&spec, "-m multiport --dports ", port, ",", port + 1,
                          " ");
          break;
        case 2:
          absl::StrAppend(&spec, "-m ", proto, " ! --dport ", port, " ");
          break;
        default:
          break;
      }
    }
    if (*rc::gen::arbitrary<bool>()) {
      absl::StrAppend(&spec, "-m mark --mark 0x", *rc::gen::inRange(0, 4),
                      "/0x3 ");
    }
    switch (*rc::gen::inRange(0, 7)) {
      case 0:
        absl::StrAppend(&spec, "-j ACCEPT");
        break;
      case 1:
        absl::StrAppend(&spec, "-j RETURN");
        break;
      case 2:
        absl::StrAppend(&spec, "-j MARK --set-xmark 0x",
                        *rc::gen::inRange(0, 4), "/0x3");
        break;
      case 3:
        absl::StrAppend(&spec, "-j SUB");
        break;
      case 4:
        absl::StrAppend(&spec, "-g SUB");
        break;
      default:
        if (proto.empty()) {
          absl::StrAppend(&spec, "-j DNAT --to-destination 10.1.0.",
                          *rc::gen::inRange(1, 200));
        } else {
          absl::StrAppend(&spec, "-j DNAT --to-destination 10.1.0.",
                          *rc::gen::inRange(1, 200), ":",
                          *rc::gen::inRange(1, 9));
        }
    }
    return spec;
  });
}

std::string RulesetText(const std::vector<std::string>& pre,
                        const std::vector<std::string>& sub) {
  std::string out =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n:POSTROUTING ACCEPT [0:0]\n:SUB - [0:0]\n";
  for (const std::string& r : pre)
    absl::StrAppend(&out, "-A PREROUTING ", r, "\n");
  for (const std::string& r : sub) {
    // SUB must not reach itself.
    if (r.find("SUB") == std::string::npos) {
      absl::StrAppend(&out, "-A SUB ", r, "\n");
    }
  }
  return out + "COMMIT\n";
}

RC_GTEST_PROP(IndexPropertyTest, PrintParseRoundTripAndIndexChangesNothing,
              ()) {
  std::vector<std::string> pre = *rc::gen::container<std::vector<std::string>>(
      *rc::gen::inRange(0, 30), RuleSpec());
  std::vector<std::string> sub = *rc::gen::container<std::vector<std::string>>(
      *rc::gen::inRange(0, 30), RuleSpec());
  absl::StatusOr<Ruleset> parsed =
      ParseIptablesSave(RulesetText(pre, sub), IpFamily::kV4);
  RC_ASSERT(parsed.ok());
  std::string printed = FormatIptablesSave(parsed->tables[0]);
  absl::StatusOr<Ruleset> again = ParseIptablesSave(printed, IpFamily::kV4);
  RC_ASSERT(again.ok());
  RC_ASSERT(FormatIptablesSave(again->tables[0]) == printed);

  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(*parsed, HostModel::Default());
  RC_ASSERT(sim.ok());
  TraceOptions indexed, scanned;
  scanned.use_rule_index = false;
  for (int port = 79; port <= 88; ++port) {
    for (Protocol proto : {Protocol::kTcp, Protocol::kUdp}) {
      for (const char* src : {"203.0.113.7", "198.51.100.1", "10.9.9.9"}) {
        Packet p;
        p.protocol = proto;
        p.dst = *IpAddress::Parse("192.0.2.10");
        p.dst_port = static_cast<uint16_t>(port);
        p.src = *IpAddress::Parse(src);
        absl::StatusOr<TraceResult> a = (*sim)->Trace(p, indexed);
        absl::StatusOr<TraceResult> b = (*sim)->Trace(p, scanned);
        RC_ASSERT(a.ok());
        RC_ASSERT(b.ok());
        RC_ASSERT(a->verdict == b->verdict);
        RC_ASSERT(a->To() == b->To());
        RC_ASSERT(a->trace == b->trace);
      }
    }
  }
}

}  // namespace
}  // namespace sim
