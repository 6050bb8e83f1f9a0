// hostportctl: the command line for people (DESIGN §8). Each verb lives in its
// own *_command.cc; this file only dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "tools/add_command.h"
#include "tools/cli.h"
#include "tools/list_command.h"
#include "tools/remove_command.h"
#include "tools/render_command.h"
#include "tools/run_command.h"
#include "tools/sync_command.h"
#include "tools/trace_command.h"
#include "tools/verify_command.h"

namespace {

constexpr char kUsage[] =
    "usage: hostportctl VERB [flags]\n"
    "verbs:\n"
    "  render  print the ruleset a pods file needs (iptables or nftables)\n"
    "  verify  simulate every mapping from every kind of client and print\n"
    "          a reachability table (exit 0 iff it matches the semantics)\n"
    "  trace   walk one packet through rulesets (files or --live) and print\n"
    "          the verdict and every rule it passed\n"
    "  add     apply a pods file's mappings to the kernel (root)\n"
    "  remove  remove pods' mappings by id or pods file (root)\n"
    "  list    the pods and mappings this host holds\n"
    "  sync    make the kernel hold exactly a pods file's mappings (root)\n"
    "  run     hold a pods file's ports in the foreground; SIGHUP reloads,\n"
    "          SIGTERM removes everything (root)\n"
    "flags every verb takes: --output text|json, --state-dir DIR,\n"
    "  --nat-interface IF; `hostportctl VERB --help` for the verb's own.\n"
    "exit status: 0 success, 1 the operation failed, 2 bad usage or input.\n";

using Verb = int (*)(const std::vector<std::string>&, std::ostream&,
                     std::ostream&);

struct VerbEntry {
  const char* name;
  Verb run;
};

constexpr VerbEntry kVerbs[] = {
    {"render", hostport::RunRenderCommand},
    {"add", hostport::RunAddCommand},
    {"remove", hostport::RunRemoveCommand},
    {"list", hostport::RunListCommand},
    {"sync", hostport::RunSyncCommand},
    {"run", hostport::RunRunCommand},
    {"trace", ::RunTraceCommand},
    {"verify", hostport::RunVerifyCommand},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return hostport::kExitUsage;
  }
  const std::string verb = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const VerbEntry& v : kVerbs) {
    if (verb == v.name) return v.run(args, std::cout, std::cerr);
  }
  if (verb == "--help" || verb == "help" || verb == "-h") {
    std::cout << kUsage;
    return hostport::kExitOk;
  }
  std::cerr << "hostportctl: unknown verb \"" << verb << "\"\n" << kUsage;
  return hostport::kExitUsage;
}
