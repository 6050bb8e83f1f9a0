// Reads `ipset save` output (ipset v7) into Ruleset::ipsets, for iptables
// `-m set --match-set` rules.
//
// Promises: `create NAME TYPE [options]` and `add NAME ELEMENT [options]`
// lines of the types hash:ip, hash:net, hash:ip,port, hash:net,port,
// bitmap:port and list:set become IpSets whose elements are an ElementSet
// keyed by address (prefixes for hash:net), protocol and port. Storage and
// accounting options (hashsize, maxelem, bucketsize, initval, timeout,
// counters, comment, skbinfo, size, range, forceadd and per-element
// timeout/packets/bytes/comment) are accepted; what changes matching and is
// not modelled (other types, `netmask`, `markmask`, `nomatch` elements) is an
// error naming it, the file and the line. All-or-nothing: on error the
// ruleset is unchanged. Requires: nothing.
#ifndef SIM_IPSET_PARSER_H_
#define SIM_IPSET_PARSER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sim/ruleset.h"

namespace sim {

// Adds the sets `text` creates to ruleset->ipsets; `source` names the file
// in messages. A set created twice is an error.
absl::Status ApplyIpsetSave(absl::string_view text, absl::string_view source,
                            Ruleset* ruleset);

}  // namespace sim

#endif  // SIM_IPSET_PARSER_H_
