// Parser for nftables text: `nft list ruleset` output and `nft -f` scripts.
//
// Promises: ApplyNftScript applies the text to a Ruleset the way `nft -f`
// would, all or nothing: on a syntax error the Ruleset is unchanged and the
// message names the source, the line and the token. Table blocks, chains
// (base and regular), named sets and maps with concatenated types, elements
// with comments, anonymous sets, verdict maps, and the commands add/create/
// insert/delete/flush of tables, chains, rules, sets and elements are
// understood. A rule or object the simulator does not model does not fail
// the parse: the first one is recorded in Table::unsupported (with its line)
// so that a table that is never evaluated (no NAT chain, or an iptables-nft
// table whose iptables-save text is given) does not get in the way; the
// Simulator refuses to evaluate a table that has one.
// Requires: text as nft prints or accepts it, with ` . ` (spaces around the
// dot) for concatenations and ` : ` for map separators.
#ifndef SIM_NFT_PARSER_H_
#define SIM_NFT_PARSER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/ruleset.h"

namespace sim {

absl::Status ApplyNftScript(absl::string_view text, absl::string_view source,
                            Ruleset* ruleset);

// ApplyNftScript onto an empty Ruleset.
absl::StatusOr<Ruleset> ParseNftRuleset(absl::string_view text,
                                        absl::string_view source = "nft");

// True when the first command line starts with an nft keyword (`table`,
// `add`, `flush`, ...).
bool LooksLikeNftText(absl::string_view text);

}  // namespace sim

#endif  // SIM_NFT_PARSER_H_
