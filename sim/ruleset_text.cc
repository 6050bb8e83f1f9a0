#include "sim/ruleset_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"

namespace sim {

absl::Status ApplyRulesetText(absl::string_view text, absl::string_view source,
                              std::optional<IpFamily> family,
                              Ruleset* ruleset) {
  if (LooksLikeIptablesText(text)) {
    IptablesParseOptions options;
    options.source = std::string(source);
    options.noflush = true;
    std::optional<IpFamily> guessed =
        family ? family : GuessIptablesFamily(text);
    Ruleset copy = *ruleset;
    if (guessed) {
      options.family = *guessed;
    } else {
      copy.notes.push_back(absl::StrCat(
          source,
          ": nothing tells the family of these iptables rules; taken as IPv4 "
          "(add a \"# family 6\" line for IPv6)"));
    }
    absl::Status s = ApplyIptablesRestore(text, options, &copy);
    if (!s.ok()) return s;
    *ruleset = std::move(copy);
    return absl::OkStatus();
  }
  if (LooksLikeNftText(text)) return ApplyNftScript(text, source, ruleset);
  if (absl::StripAsciiWhitespace(text).empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      source,
      ": neither iptables-save nor nft syntax (the first line is neither "
      "\"*table\" nor an nft command)"));
}

}  // namespace sim
