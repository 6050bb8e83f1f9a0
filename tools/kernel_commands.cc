#include "tools/kernel_commands.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "hostport/hostport_manager.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"
#include "tools/cli.h"
#include "tools/locked_host.h"
#include "tools/pods_file.h"
#include "tools/state_dir.h"

namespace hostport {
namespace {

constexpr char kDefaultStateDir[] = "/run/hostport";

constexpr char kAddUsage[] =
    "usage: hostportctl add --pods FILE\n"
    "         [--backend auto|iptables|iptables-legacy|iptables-nft|nftables]\n"
    "         [--allow-forward]\n"
    "         [--state-dir DIR] [--nat-interface IF] [--output text|json]\n"
    "Applies the pods' mappings to this network namespace's kernel (root).\n"
    "Nothing is half-applied: if one pod fails, the others are taken back.\n"
    "--allow-forward: where iptables' filter FORWARD drops by policy\n"
    "(Docker), accept the DNATed flows there first.\n";
constexpr char kRemoveUsage[] =
    "usage: hostportctl remove (--id ID[,ID...] | --pods FILE)\n"
    "         [--state-dir DIR] [--output text|json]\n"
    "Removes the pods' mappings (no pod IP needed) and their records (root).\n";
constexpr char kListUsage[] =
    "usage: hostportctl list [--state-dir DIR] [--output text|json]\n"
    "Shows the pods and mappings this host holds.\n";

int Fail(std::ostream& err, absl::string_view verb, absl::string_view message,
         int code) {
  err << "hostportctl " << verb << ": " << message << "\n";
  return code;
}

// Parses flags common to the kernel verbs; returns an exit code, or -1 to go
// on.
int Parse(const std::vector<std::string>& args, std::vector<FlagSpec> extra,
          absl::string_view verb, const char* usage, std::ostream& out,
          std::ostream& err, ParsedFlags* flags, bool* json) {
  std::vector<FlagSpec> specs = CommonFlags();
  specs.insert(specs.end(), extra.begin(), extra.end());
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(args, specs);
  if (!parsed.ok()) {
    err << "hostportctl " << verb << ": " << parsed.status().message() << "\n"
        << usage;
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    out << usage;
    return kExitOk;
  }
  if (absl::Status s = ParseOutputFlag(*parsed, json); !s.ok()) {
    err << "hostportctl " << verb << ": " << s.message() << "\n" << usage;
    return kExitUsage;
  }
  *flags = std::move(*parsed);
  return -1;
}

// Waits for the host-wide lock of `state_dir` and opens the host with a
// manager that does not hold ports (a one-shot command cannot keep sockets)
// and, unless told otherwise, trusts the records, so that a change reads only
// what it concerns.
absl::StatusOr<std::unique_ptr<LockedHost>> OpenHost(
    const std::string& state_dir, MetaOptions::Backend backend,
    bool allow_forward, std::ostream& err, bool trust_records = true) {
  MetaOptions options;
  options.prefer = backend;
  options.allow_forward = allow_forward;
  options.hold_ports = false;
  options.trust_records = trust_records;
  options.log = LogLinesTo(err, "hostportctl");
  return LockedHost::Open(state_dir, std::move(options));
}

std::string DescribeEntry(const PodEntry& e) {
  std::vector<std::string> mappings;
  for (size_t i = 0; i < e.pod.port_mappings.size(); ++i) {
    const PortMapping& m = e.pod.port_mappings[i];
    mappings.push_back(
        absl::StrCat(m.host_port, "/", ProtocolName(m.protocol), " on ",
                     m.host_ip.empty() ? "all addresses" : m.host_ip, " -> ",
                     m.container_port));
  }
  return absl::StrJoin(mappings, "; ");
}

}  // namespace

// "hostportctl add: 1200/5000 pods" on one line, while a person watches (stderr
// is a terminal) a long run (many pods).
class Progress {
 public:
  static constexpr size_t kMinPods = 100;
  Progress(std::ostream& err, absl::string_view verb, size_t total)
      : err_(err),
        verb_(verb),
        total_(total),
        on_(total >= kMinPods && isatty(STDERR_FILENO)) {}
  void Step(size_t done) {
    if (on_ && (done % 50 == 0 || done == total_)) {
      err_ << "\rhostportctl " << verb_ << ": " << done << "/" << total_
           << " pods" << std::flush;
    }
  }
  void Done() {
    if (on_) err_ << "\n";
    on_ = false;
  }

 private:
  std::ostream& err_;
  std::string verb_;
  size_t total_;
  bool on_;
};

// What the verbs that apply a pods file share: flags, the file, and every check
// that can be made before the kernel is touched.
struct PodsRequest {
  ParsedFlags flags;
  bool json = false;
  MetaOptions::Backend backend = MetaOptions::Backend::kAuto;
  std::string path;
  std::vector<PodEntry> entries;
};

// Parses, reads and checks what needs no kernel (each pod plans, the file's
// pods do not conflict with each other); returns an exit code, or -1 to go on.
// Conflicts with the pods the host holds are checked under the host's lock.
int ReadPodsRequest(const std::vector<std::string>& args,
                    absl::string_view verb, const char* usage,
                    std::ostream& out, std::ostream& err,
                    PodsRequest* request) {
  if (int code = Parse(args,
                       {{"pods", true},
                        {"backend", true},
                        {"allow-forward", false},
                        {"read-kernel", false}},
                       verb, usage, out, err, &request->flags, &request->json);
      code >= 0) {
    return code;
  }
  const ParsedFlags& flags = request->flags;
  if (verb != "sync" && flags.Has("read-kernel")) {
    return Fail(err, verb,
                absl::StrCat("--read-kernel is a flag of sync only\n", usage),
                kExitUsage);
  }
  if (!flags.Has("pods")) {
    return Fail(err, verb, absl::StrCat("--pods FILE is required\n", usage),
                kExitUsage);
  }
  absl::StatusOr<MetaOptions::Backend> backend =
      ParseBackendName(flags.Get("backend", "auto"));
  if (!backend.ok()) {
    return Fail(err, verb, absl::StrCat("--", backend.status().message()),
                kExitUsage);
  }
  request->backend = *backend;
  request->path = flags.Get("pods");
  absl::StatusOr<std::vector<PodEntry>> entries = ReadPodsFile(request->path);
  if (!entries.ok())
    return Fail(err, verb, entries.status().message(), kExitUsage);
  request->entries = std::move(*entries);
  for (PodEntry& e : request->entries) {
    if (e.nat_interface.empty()) e.nat_interface = flags.Get("nat-interface");
  }
  PortClaims claims;
  for (const PodEntry& e : request->entries) {
    absl::StatusOr<PodPlan> plan = PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok()) {
      return Fail(err, verb,
                  absl::StrCat(request->path, ": ", plan.status().message()),
                  kExitUsage);
    }
    if (absl::Status s = claims.Check(*plan); !s.ok()) {
      return Fail(err, verb, absl::StrCat(request->path, ": ", s.message()),
                  kExitFailed);
    }
    claims.Claim(*plan);
  }
  if (geteuid() != 0) {
    return Fail(err, verb, "needs root: it changes the kernel's NAT rules",
                kExitFailed);
  }
  return -1;
}

// A failure of a change to the host: a conflict or an invalid pod names the
// pods file it came from.
int FailChange(std::ostream& err, absl::string_view verb,
               const PodsRequest& request, const absl::Status& s) {
  if (absl::IsAlreadyExists(s) || absl::IsInvalidArgument(s)) {
    return Fail(err, verb, absl::StrCat(request.path, ": ", s.message()),
                absl::IsInvalidArgument(s) ? kExitUsage : kExitFailed);
  }
  return Fail(err, verb, s.message(), kExitFailed);
}

int RunAddCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err) {
  PodsRequest request;
  if (int code = ReadPodsRequest(args, "add", kAddUsage, out, err, &request);
      code >= 0) {
    return code;
  }
  const std::vector<PodEntry>& entries = request.entries;
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(request.flags.Get("state-dir", kDefaultStateDir),
               request.backend, request.flags.Has("allow-forward"), err);
  if (!host.ok()) return Fail(err, "add", host.status().message(), kExitFailed);
  Progress progress(err, "add", entries.size());
  absl::Status added =
      (*host)->Add(entries, [&](size_t done) { progress.Step(done); });
  progress.Done();
  if (!added.ok()) return FailChange(err, "add", request, added);
  const std::string backend_name = (*host)->backend();
  if (request.json) {
    nlohmann::json ids = nlohmann::json::array();
    for (const PodEntry& e : entries) ids.push_back(e.id);
    out << nlohmann::json({{"added", ids}, {"backend", backend_name}}).dump(2)
        << "\n";
  } else {
    for (const PodEntry& e : entries) {
      out << "added " << e.id << " (" << backend_name << ")\n";
    }
  }
  return kExitOk;
}

int RunRemoveCommand(const std::vector<std::string>& args, std::ostream& out,
                     std::ostream& err) {
  ParsedFlags flags;
  bool json = false;
  if (int code = Parse(args, {{"id", true}, {"pods", true}}, "remove",
                       kRemoveUsage, out, err, &flags, &json);
      code >= 0) {
    return code;
  }
  if (flags.Has("id") == flags.Has("pods")) {
    return Fail(
        err, "remove",
        absl::StrCat("give exactly one of --id and --pods\n", kRemoveUsage),
        kExitUsage);
  }
  std::vector<PodEntry> targets;
  if (flags.Has("id")) {
    for (absl::string_view id : absl::StrSplit(flags.Get("id"), ',')) {
      if (id.empty()) {
        return Fail(err, "remove",
                    absl::StrCat("--id \"", flags.Get("id"),
                                 "\" has an empty id: want ID[,ID...]"),
                    kExitUsage);
      }
      targets.push_back(PodEntry{std::string(id), {}, ""});
    }
  } else {
    absl::StatusOr<std::vector<PodEntry>> entries =
        ReadPodsFile(flags.Get("pods"));
    if (!entries.ok()) {
      return Fail(err, "remove", entries.status().message(), kExitUsage);
    }
    targets = std::move(*entries);
  }
  if (geteuid() != 0) {
    return Fail(err, "remove", "needs root: it changes the kernel's NAT rules",
                kExitFailed);
  }
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(flags.Get("state-dir", kDefaultStateDir),
               MetaOptions::Backend::kAuto, /*allow_forward=*/false, err);
  if (!host.ok()) {
    return Fail(err, "remove", host.status().message(), kExitFailed);
  }
  if (absl::Status s = (*host)->Prepare(targets); !s.ok()) {
    return Fail(err, "remove", s.message(), kExitFailed);
  }
  int code = kExitOk;
  nlohmann::json removed = nlohmann::json::array();
  for (const PodEntry& target : targets) {
    if (absl::Status s = (*host)->Remove(target); !s.ok()) {
      err << "hostportctl remove: " << s.message() << "\n";
      code = kExitFailed;
      continue;
    }
    removed.push_back(target.id);
    if (!json) out << "removed " << target.id << "\n";
  }
  if (json) out << nlohmann::json({{"removed", removed}}).dump(2) << "\n";
  return code;
}

int RunListCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  ParsedFlags flags;
  bool json = false;
  if (int code = Parse(args, {}, "list", kListUsage, out, err, &flags, &json);
      code >= 0) {
    return code;
  }
  const StateDir state(flags.Get("state-dir", kDefaultStateDir));
  absl::StatusOr<StateDir::Listing> listing = state.List();
  if (!listing.ok())
    return Fail(err, "list", listing.status().message(), kExitFailed);
  for (const DamagedRecord& d : listing->damaged) {
    err << "hostportctl list: skipping damaged record " << d.error << "\n";
  }
  const std::vector<HeldPod>* held = &listing->pods;
  if (json) {
    nlohmann::json pods = nlohmann::json::array();
    for (const HeldPod& h : *held) {
      nlohmann::json pod = nlohmann::json::parse(PodEntryJson(h.entry));
      pod["backend"] = h.backend;
      if (h.pending) pod["pending"] = true;
      pods.push_back(pod);
    }
    out << pods.dump(2) << "\n";
    return kExitOk;
  }
  if (held->empty()) {
    out << "no pods held (state directory " << state.path() << ")\n";
    return kExitOk;
  }
  for (const HeldPod& h : *held) {
    const std::string owner =
        h.entry.pod.namespace_.empty() && h.entry.pod.name.empty()
            ? std::string("-")
            : absl::StrCat(h.entry.pod.namespace_, "/", h.entry.pod.name);
    out << h.entry.id << "  " << owner << "  " << h.backend << "  ["
        << absl::StrJoin(h.entry.pod.ips, ", ") << "]  "
        << DescribeEntry(h.entry)
        << (h.pending ? "  (pending: a change was interrupted)" : "") << "\n";
  }
  return kExitOk;
}

}  // namespace hostport

namespace hostport {
namespace {

constexpr char kSyncUsage[] =
    "usage: hostportctl sync --pods FILE\n"
    "         [--backend auto|iptables|iptables-legacy|iptables-nft|nftables]\n"
    "         [--allow-forward] [--read-kernel]\n"
    "         [--state-dir DIR] [--nat-interface IF] [--output text|json]\n"
    "Makes the host hold exactly FILE's pods (root). Compares them with the\n"
    "records and changes only what differs: recorded pods FILE lacks are\n"
    "removed, then pods not recorded exactly are added (the removed come back\n"
    "if that fails). --read-kernel reads the kernel whole instead: rules of\n"
    "ours that no pod owns go too, one transaction per family.\n";
constexpr char kRunUsage[] =
    "usage: hostportctl run --pods FILE\n"
    "         [--backend auto|iptables|iptables-legacy|iptables-nft|nftables]\n"
    "         [--allow-forward]\n"
    "         [--state-dir DIR] [--nat-interface IF]\n"
    "Stays in the foreground holding FILE's ports: syncs to FILE, again on\n"
    "SIGHUP, and removes everything and exits 0 on SIGTERM or SIGINT (root).\n";

absl::Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    const std::string partial = path.substr(0, i);
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(
          absl::StrCat("cannot create ", partial, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// Holds DIR/run.lock for the life of the process: one `run` per state
// directory.
absl::StatusOr<int> LockStateDir(const std::string& dir) {
  if (absl::Status s = MakeDirs(dir); !s.ok()) return s;
  const std::string path = absl::StrCat(dir, "/run.lock");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    (void)!read(fd, pid, sizeof(pid) - 1);
    close(fd);
    return absl::AlreadyExistsError(
        absl::StrCat("another hostportctl run (pid ",
                     absl::StripAsciiWhitespace(pid), ") holds ", dir));
  }
  const std::string me = absl::StrCat(getpid(), "\n");
  (void)!ftruncate(fd, 0);
  (void)!pwrite(fd, me.data(), me.size(), 0);
  return fd;
}

}  // namespace

int RunSyncCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  PodsRequest request;
  if (int code = ReadPodsRequest(args, "sync", kSyncUsage, out, err, &request);
      code >= 0) {
    return code;
  }
  absl::StatusOr<std::unique_ptr<LockedHost>> host =
      OpenHost(request.flags.Get("state-dir", kDefaultStateDir),
               request.backend, request.flags.Has("allow-forward"), err,
               /*trust_records=*/!request.flags.Has("read-kernel"));
  if (!host.ok())
    return Fail(err, "sync", host.status().message(), kExitFailed);
  if (isatty(STDERR_FILENO) && request.entries.size() >= Progress::kMinPods) {
    err << "hostportctl: syncing " << request.entries.size() << " pods...\n";
  }
  if (absl::Status s = (*host)->Sync(request.entries); !s.ok()) {
    return FailChange(err, "sync", request, s);
  }
  const std::string backend = (*host)->backend();
  if (request.json) {
    nlohmann::json ids = nlohmann::json::array();
    for (const PodEntry& e : request.entries) ids.push_back(e.id);
    out << nlohmann::json({{"synced", ids}, {"backend", backend}}).dump(2)
        << "\n";
  } else {
    out << "synced " << request.entries.size() << " pods (" << backend << ")\n";
  }
  return kExitOk;
}

int RunRunCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err) {
  PodsRequest request;
  if (int code = ReadPodsRequest(args, "run", kRunUsage, out, err, &request);
      code >= 0) {
    return code;
  }
  const std::string dir = request.flags.Get("state-dir", kDefaultStateDir);
  absl::StatusOr<int> lock = LockStateDir(dir);
  if (!lock.ok()) return Fail(err, "run", lock.status().message(), kExitFailed);

  // Signals are taken synchronously, one at a time, by sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  MetaOptions options;
  options.prefer = request.backend;
  options.allow_forward = request.flags.Has("allow-forward");
  options.log = LogLinesTo(err, "hostportctl run");
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
      NewMetaHostportManager(options);
  if (!manager.ok())
    return Fail(err, "run", manager.status().message(), kExitFailed);
  // Each sync takes the host's lock for its duration, so that the CNI plugin
  // and other hostportctl calls may work in between.
  auto sync = [&](const std::vector<PodEntry>& entries) -> absl::Status {
    absl::StatusOr<std::unique_ptr<LockedHost>> host =
        LockedHost::OpenWith(dir, manager->get(), options.log);
    if (!host.ok()) return host.status();
    return (*host)->Sync(entries);
  };
  const std::string backend = BackendName(**manager);
  if (isatty(STDERR_FILENO) && request.entries.size() >= Progress::kMinPods) {
    err << "hostportctl: syncing " << request.entries.size() << " pods...\n";
  }
  if (absl::Status s = sync(request.entries); !s.ok()) {
    return FailChange(err, "run", request, s);
  }
  err << "hostportctl run: holding " << request.entries.size() << " pods ("
      << backend << "); SIGHUP re-reads " << request.path
      << ", SIGTERM removes everything\n";
  std::vector<PodEntry> current = request.entries;
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      PodsRequest reread;
      std::vector<std::string> again = args;
      std::ostringstream quiet;
      if (ReadPodsRequest(again, "run", kRunUsage, quiet, err, &reread) >= 0) {
        err << "hostportctl run: keeping the previous pods\n";
        continue;
      }
      if (absl::Status s = sync(reread.entries); !s.ok()) {
        err << "hostportctl run: sync failed, keeping the previous pods: "
            << s.message() << "\n";
        continue;
      }
      current = reread.entries;
      err << "hostportctl run: holding " << current.size() << " pods\n";
      continue;
    }
    // SIGTERM or SIGINT: take everything back.
    if (absl::Status s = sync({}); !s.ok()) {
      return Fail(err, "run", s.message(), kExitFailed);
    }
    out << "removed " << current.size() << " pods\n";
    return kExitOk;
  }
}

}  // namespace hostport
