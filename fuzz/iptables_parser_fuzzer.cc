// Fuzzes the simulator's iptables-save / iptables-restore parser, in both
// families and through ApplyRulesetText's detection: no crash, no hang, every
// rejection carries a message, a failed apply leaves the ruleset as it was,
// and whatever parses can be given to the simulator (which either refuses it
// with a message or walks packets through it).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/outcomes_check.h"
#include "sim/host_model.h"
#include "sim/iptables_parser.h"
#include "sim/ruleset_text.h"
#include "sim/simulator.h"

namespace {

void Walk(sim::Ruleset ruleset) {
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      sim::Simulator::Create(std::move(ruleset), sim::HostModel::Default());
  if (!simulator.ok()) {
    if (simulator.status().message().empty()) std::abort();
    return;
  }
  for (const char* dst : {"192.0.2.10", "127.0.0.1", "2001:db8::10"}) {
    sim::Packet p;
    p.dst = *sim::IpAddress::Parse(dst);
    p.dst_port = 8080;
    p.src = *sim::IpAddress::Parse(p.dst.is_v4() ? "203.0.113.7"
                                                 : "2001:db8:ffff::7");
    for (auto kind : {sim::PacketOrigin::Kind::kExternal,
                      sim::PacketOrigin::Kind::kLocal}) {
      p.origin.kind = kind;
      fuzz::CheckOutcomes(**simulator, p);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (sim::IpFamily f : {sim::IpFamily::kV4, sim::IpFamily::kV6}) {
    absl::StatusOr<sim::Ruleset> parsed = sim::ParseIptablesSave(text, f);
    if (!parsed.ok()) {
      if (parsed.status().message().empty()) std::abort();
    } else {
      Walk(std::move(*parsed));
    }
  }
  // --noflush on top of an existing ruleset: all or nothing.
  sim::Ruleset ruleset;
  sim::IptablesParseOptions options;
  options.noflush = true;
  if (!sim::ApplyIptablesRestore("*nat\n:KUBE-HOSTPORTS - [0:0]\nCOMMIT\n",
                                 options, &ruleset)
           .ok()) {
    std::abort();
  }
  const size_t tables = ruleset.tables.size();
  absl::Status s = sim::ApplyIptablesRestore(text, options, &ruleset);
  if (!s.ok()) {
    if (s.message().empty()) std::abort();
    if (ruleset.tables.size() != tables) std::abort();
  }
  sim::Ruleset detected;
  s = sim::ApplyRulesetText(text, "fuzz", std::nullopt, &detected);
  if (!s.ok()) {
    if (s.message().empty()) std::abort();
    if (!detected.tables.empty()) std::abort();
  }
  return 0;
}
