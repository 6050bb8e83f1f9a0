// hostportctl: the command line for people (DESIGN §8). Each verb lives in its
// own
// *_command.cc; this file only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "tools/cli.h"
#include "tools/kernel_commands.h"
#include "tools/render_command.h"

namespace {

constexpr char kUsage[] =
    "usage: hostportctl VERB [flags]\n"
    "verbs:\n"
    "  render  print the ruleset a pods file needs (iptables or nftables)\n"
    "  add     apply a pods file's mappings to the kernel (root)\n"
    "  remove  remove pods' mappings by id or pods file (root)\n"
    "  list    the pods and mappings this host holds\n"
    "flags every verb takes: --output text|json, --state-dir DIR,\n"
    "  --nat-interface IF; `hostportctl VERB --help` for the verb's own.\n"
    "exit status: 0 success, 1 the operation failed, 2 bad usage or input.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return hostport::kExitUsage;
  }
  const std::string verb = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (verb == "render") {
    return hostport::RunRenderCommand(args, std::cout, std::cerr);
  }
  if (verb == "add") return hostport::RunAddCommand(args, std::cout, std::cerr);
  if (verb == "remove") {
    return hostport::RunRemoveCommand(args, std::cout, std::cerr);
  }
  if (verb == "list")
    return hostport::RunListCommand(args, std::cout, std::cerr);
  if (verb == "--help" || verb == "help" || verb == "-h") {
    std::cout << kUsage;
    return hostport::kExitOk;
  }
  std::cerr << "hostportctl: unknown verb \"" << verb << "\"\n" << kUsage;
  return hostport::kExitUsage;
}
