// The inside of an nft rule: matches (selectors compared with values,
// anonymous sets, named sets) and statements (verdicts, NAT, marks, verdict
// maps); also the "{ ... }" element blocks of sets and maps, which share the
// value syntax.
//
// Promises: each function reads from the cursor it is given and fails on the
// first construct the simulator does not model, naming the line and the token
// ("line 12: unsupported expression \"ct mark\" at \"ct\""); the caller
// decides whether that fails the script or only marks the rule. Named sets
// and maps are looked up in the rule's table and checked against the
// selector's types.
// Requires: for ParseRule, a cursor over exactly the rule's tokens (up to the
// newline, ";" or "}" that ends it). Internal to //sim, for nft_parser.cc.
#ifndef SIM_NFT_RULE_PARSER_H_
#define SIM_NFT_RULE_PARSER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/nft_lexer.h"
#include "sim/ruleset.h"

namespace sim {
namespace nft {

// The rule the cursor's tokens spell, for a chain of `table`; its text is
// those tokens. Reads them all on success.
absl::StatusOr<Rule> ParseRule(TokenCursor* tokens, const Table& table);

// Why `nft list` showed a statement of this rule as nothing, or "" when it
// showed them all. nft puts one space between statements and prints an
// iptables-nft xt match or target it cannot translate (no xtables library:
// "XT target DNAT not found") as nothing, so in a rule it listed (one with
// `counter packets N`) a leading, doubled or trailing space is such a
// statement. `tokens` holds the rule; `terminator` is the token after it.
std::string ListedWithoutStatement(TokenCursor* tokens,
                                   const Token& terminator);

// Reads one "{ element, ... }" block into `set`, with the set's key and data
// types. Fails on a duplicate key.
absl::Status ParseElements(TokenCursor* tokens, const Table& table,
                           ElementSet* set);

}  // namespace nft
}  // namespace sim

#endif  // SIM_NFT_RULE_PARSER_H_
