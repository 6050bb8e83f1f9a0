#include "tools/run_command.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "hostport/hostport_manager.h"
#include "tools/cli.h"
#include "tools/kernel_command.h"
#include "tools/locked_host.h"
#include "tools/pods_file.h"

namespace hostport {
namespace {

constexpr char kUsage[] =
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

int RunRunCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err) {
  PodsFileInput input;
  if (int code = ReadPodsFileInput(args, "run", kUsage, out, err, &input);
      code >= 0) {
    return code;
  }
  const std::string dir = input.flags.Get("state-dir", kDefaultStateDir);
  absl::StatusOr<int> lock = LockStateDir(dir);
  if (!lock.ok()) return Fail(err, "run", lock.status().message(), kExitFailed);

  // Signals are taken synchronously, one at a time, by sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  MetaOptions options;
  options.prefer = input.backend;
  options.allow_forward = input.flags.Has("allow-forward");
  options.log = LogLinesTo(err, "hostportctl run");
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
      NewMetaHostportManager(options);
  if (!manager.ok()) {
    return Fail(err, "run", manager.status().message(), kExitFailed);
  }
  // Each sync takes the host's lock for its duration, so that the CNI plugin
  // and other hostportctl calls may work in between.
  auto sync = [&](const std::vector<PodRequest>& pods) -> absl::Status {
    absl::StatusOr<std::unique_ptr<LockedHost>> host =
        LockedHost::OpenWith(dir, manager->get(), options.log);
    if (!host.ok()) return host.status();
    return (*host)->Sync(pods);
  };
  const std::string backend = BackendName(**manager);
  NoteLongSync(err, input.pods.size());
  if (absl::Status s = sync(input.pods); !s.ok()) {
    return FailChange(err, "run", input, s);
  }
  err << "hostportctl run: holding " << input.pods.size() << " pods ("
      << backend << "); SIGHUP re-reads " << input.path
      << ", SIGTERM removes everything\n";
  std::vector<PodRequest> current = input.pods;
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      PodsFileInput reread;
      std::ostringstream quiet;
      if (ReadPodsFileInput(args, "run", kUsage, quiet, err, &reread) >= 0) {
        err << "hostportctl run: keeping the previous pods\n";
        continue;
      }
      if (absl::Status s = sync(reread.pods); !s.ok()) {
        err << "hostportctl run: sync failed, keeping the previous pods: "
            << s.message() << "\n";
        continue;
      }
      current = reread.pods;
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
