// What hostportctl's verbs that change or read the kernel (add, remove, list,
// sync, run) share: flag handling, reading and checking a pods file, opening
// the locked host, and printing failures and progress.
//
// Every function that may end a verb returns its exit code (cli.h) after
// printing why to `err` as "hostportctl VERB: ...", or -1 when the verb goes
// on. A change goes through a LockedHost (locked_host.h): the host-wide lock
// in --state-dir, shared with hostport-cni, is held from reading the records
// to writing them, so concurrent processes see each other's pods.
#ifndef TOOLS_KERNEL_COMMAND_H_
#define TOOLS_KERNEL_COMMAND_H_

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/hostport_manager.h"
#include "tools/cli.h"
#include "tools/locked_host.h"
#include "tools/pods_file.h"

namespace hostport {

// Where the records live unless --state-dir says otherwise.
inline constexpr char kDefaultStateDir[] = "/run/hostport";

// Prints "hostportctl VERB: MESSAGE" to `err`; returns `code`.
int Fail(std::ostream& err, absl::string_view verb, absl::string_view message,
         int code);

// Parses the flags every verb takes (cli.h) and `extra` into *flags, and
// --output into *json. Returns kExitOk after printing `usage` to `out` for
// --help, kExitUsage for bad flags, or -1 to go on.
int ParseVerbFlags(const std::vector<std::string>& args,
                   std::vector<FlagSpec> extra, absl::string_view verb,
                   const char* usage, std::ostream& out, std::ostream& err,
                   ParsedFlags* flags, bool* json);

// kExitFailed unless this process runs as root (it changes the kernel's NAT
// rules); -1 to go on.
int RequireRoot(std::ostream& err, absl::string_view verb);

// Waits for the host-wide lock of `state_dir` and opens the host with a
// manager that does not hold ports (a one-shot command cannot keep sockets)
// and, unless told otherwise, trusts the records, so that a change reads only
// what it concerns. The manager's log lines go to `err`.
absl::StatusOr<std::unique_ptr<LockedHost>> OpenHost(
    const std::string& state_dir, MetaOptions::Backend backend,
    bool allow_forward, std::ostream& err, bool trust_records = true);

// "hostportctl add: 1200/5000 pods" on one line, while a person watches (stderr
// is a terminal) a long run (many pods).
class Progress {
 public:
  static constexpr size_t kMinPods = 100;
  Progress(std::ostream& err, absl::string_view verb, size_t total);
  // `done` pods of the total are through.
  void Step(size_t done);
  // Ends the line; later Steps print nothing.
  void Done();

 private:
  std::ostream& err_;
  std::string verb_;
  size_t total_;
  bool on_;
};

// Says "syncing N pods..." before a sync of at least Progress::kMinPods pods
// while a person watches, since a sync reports no steps.
void NoteLongSync(std::ostream& err, size_t pods);

// What the verbs that apply a pods file (add, sync, run) share: flags, the
// file, and every check that can be made before the kernel is touched.
struct PodsFileInput {
  ParsedFlags flags;
  bool json = false;
  MetaOptions::Backend backend = MetaOptions::Backend::kAuto;
  std::string path;
  // The file's pods; those without a nat_interface take --nat-interface.
  std::vector<PodRequest> pods;
};

// Parses `args` (--pods, --backend, --allow-forward and, for sync only,
// --read-kernel), reads the pods file and checks what needs no kernel: each
// pod plans, the file's pods do not conflict with each other, the process is
// root. Returns an exit code, or -1 to go on with *input filled in.
// Conflicts with the pods the host holds are checked under the host's lock;
// for sync run as root, so are the file's pods among themselves
// (LockedHost::Sync checks only those that differ from their records).
int ReadPodsFileInput(const std::vector<std::string>& args,
                      absl::string_view verb, const char* usage,
                      std::ostream& out, std::ostream& err,
                      PodsFileInput* input);

// A failure of a change to the host: a conflict or an invalid pod names the
// pods file it came from. Returns kExitUsage for an invalid pod, kExitFailed
// otherwise.
int FailChange(std::ostream& err, absl::string_view verb,
               const PodsFileInput& input, const absl::Status& s);

}  // namespace hostport

#endif  // TOOLS_KERNEL_COMMAND_H_
