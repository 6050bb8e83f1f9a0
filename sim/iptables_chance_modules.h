// The iptables match modules whose answer depends on state a trace cannot
// know: `-m statistic` (a random draw or a packet counter), `-m recent` (the
// recent list) and `-m limit` (a token bucket). Internal to the iptables
// parser.
//
// Promises: options are checked as iptables 1.8.9 checks them and printed
// back as iptables-save prints them (probabilities in the kernel's 2^-31
// steps with %.11f, recent's defaults filled in, limit rates in the unit
// iptables picks); the match they become is a Match::Kind::kChance whose
// chance is the kernel's probability of matching (negation folded in), or
// negative when the state decides. Requires: options are fed in rule order.
#ifndef SIM_IPTABLES_CHANCE_MODULES_H_
#define SIM_IPTABLES_CHANCE_MODULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/ruleset.h"

namespace sim {

// One loaded module and its options as read.
struct ChanceModule {
  std::string name;     // statistic, recent or limit
  size_t canon_at = 0;  // where its options go in the rule's canonical text
  bool negate = false;
  // statistic
  std::string mode;                     // random or nth
  std::optional<uint32_t> probability;  // in 2^-31 steps, as the kernel
  std::optional<uint32_t> every, packet;
  // recent
  std::string command;  // set, rcheck, update, remove
  uint32_t seconds = 0, hitcount = 0;
  bool reap = false, rttl = false;
  std::string rname = "DEFAULT", mask, side = "--rsource";
  // limit: the kernel's period between packets in 1/10000 s; 0: default.
  uint32_t period = 0;
  uint32_t burst = 5;
};

// Whether `opt` is an option of module `m`.
bool ChanceOwns(const ChanceModule& m, absl::string_view opt);
// Whether `opt` is followed by a value.
bool ChanceOptionTakesValue(absl::string_view opt);
// Reads one option of `m`, `neg` when "!" came before it. Fails naming the
// module and option on a bad value or an inversion iptables refuses.
absl::Status ChanceOption(ChanceModule* m, absl::string_view opt,
                          absl::string_view value, bool neg);
// Checks what iptables checks once the module's options are all read, and
// builds its match; `canon` receives the options as iptables-save prints
// them.
absl::StatusOr<Match> FinishChanceModule(const ChanceModule& m,
                                         std::vector<std::string>* canon);

}  // namespace sim

#endif  // SIM_IPTABLES_CHANCE_MODULES_H_
