// ApplyRulesetText: one entry point for ruleset text of either syntax, as
// `hostportctl trace --ruleset` and `verify` take it.
//
// Promises: detects the syntax of `text` (iptables-save / iptables-restore
// input when the first command line is `*table`, nft when it starts with an
// nft command), applies it to `ruleset` (iptables with --noflush semantics,
// so several files stack), and fails without changing `ruleset` on any error,
// naming `source` and the line. The family of iptables text comes from
// `family` when set, else from the text (`# family N` markers, an
// ip6tables-save header, its addresses), else IPv4 with a note.
// Requires: nothing.
#ifndef SIM_RULESET_TEXT_H_
#define SIM_RULESET_TEXT_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sim/ip_address.h"
#include "sim/ruleset.h"

namespace sim {

absl::Status ApplyRulesetText(absl::string_view text, absl::string_view source,
                              std::optional<IpFamily> family, Ruleset* ruleset);

}  // namespace sim

#endif  // SIM_RULESET_TEXT_H_
