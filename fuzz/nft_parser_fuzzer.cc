// Fuzzes the simulator's nft parser (`nft list ruleset` output and `nft -f`
// scripts) and ApplyRulesetText's detection: no crash, no hang, every
// rejection carries a message, a failed script leaves the ruleset as it was,
// and whatever parses can be given to the simulator (which either refuses it
// with a message, e.g. for an unsupported construct, or walks packets).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/outcomes_check.h"
#include "sim/host_model.h"
#include "sim/nft_parser.h"
#include "sim/ruleset_text.h"
#include "sim/simulator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<sim::Ruleset> parsed = sim::ParseNftRuleset(text, "fuzz");
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();
  } else {
    absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
        sim::Simulator::Create(std::move(*parsed), sim::HostModel::Default());
    if (!simulator.ok()) {
      if (simulator.status().message().empty()) std::abort();
    } else {
      for (const char* dst : {"192.0.2.10", "127.0.0.1", "2001:db8::10"}) {
        for (auto proto : {sim::Protocol::kTcp, sim::Protocol::kUdp}) {
          sim::Packet p;
          p.protocol = proto;
          p.dst = *sim::IpAddress::Parse(dst);
          p.dst_port = 8080;
          p.origin.kind = sim::PacketOrigin::Kind::kExternal;
          fuzz::CheckOutcomes(**simulator, p);
          p.origin.kind = sim::PacketOrigin::Kind::kLocal;
          fuzz::CheckOutcomes(**simulator, p);
        }
      }
    }
  }
  // A script on top of an existing table: all or nothing.
  sim::Ruleset ruleset;
  if (!sim::ApplyNftScript("add table ip t\n", "seed", &ruleset).ok()) {
    std::abort();
  }
  absl::Status s = sim::ApplyNftScript(text, "fuzz", &ruleset);
  if (!s.ok()) {
    if (s.message().empty()) std::abort();
    if (ruleset.tables.size() != 1 || ruleset.tables[0].name != "t" ||
        !ruleset.tables[0].chains.empty()) {
      std::abort();
    }
  }
  sim::Ruleset detected;
  s = sim::ApplyRulesetText(text, "fuzz", std::nullopt, &detected);
  if (!s.ok() && s.message().empty()) std::abort();
  return 0;
}
