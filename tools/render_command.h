// `hostportctl render`: prints the complete ruleset a pods file needs (DESIGN
// §8).
//
//   render --pods FILE [--backend iptables|nftables] [--family 4|6|all]
//          [--output text|json]
//
// iptables: restore input, one block per family headed "# family 4" / "# family
// 6"; nftables: an `nft -f` script with the same headings. Needs no privileges
// and touches nothing. Skipped mappings are reported on stderr (or in the
// JSON).
#ifndef TOOLS_RENDER_COMMAND_H_
#define TOOLS_RENDER_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hostport {

// `args` are the arguments after the verb. Returns the exit code (cli.h).
int RunRenderCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err);

}  // namespace hostport

#endif  // TOOLS_RENDER_COMMAND_H_
