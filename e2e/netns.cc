#include "e2e/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace hostport::e2e {
namespace {

constexpr int kMaxLive = 64;
constexpr size_t kMaxPath = 128;
// Paths of live namespaces, readable from a signal handler.
char g_live[kMaxLive][kMaxPath];
std::mutex g_live_mu;
std::atomic<int> g_counter{0};

void DeleteAllLive(int sig) {
  for (int i = 0; i < kMaxLive; ++i) {
    if (g_live[i][0] != '\0') {
      umount2(g_live[i], MNT_DETACH);
      unlink(g_live[i]);
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void InstallHandlersOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = DeleteAllLive;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
  });
}

void Track(const std::string& path, bool live) {
  std::lock_guard<std::mutex> lock(g_live_mu);
  for (int i = 0; i < kMaxLive; ++i) {
    if (live && g_live[i][0] == '\0') {
      strncpy(g_live[i], path.c_str(), kMaxPath - 1);
      return;
    }
    if (!live && path == g_live[i]) {
      g_live[i][0] = '\0';
      return;
    }
  }
}

// Deletes "hp-*-<pid>-<n>" namespaces whose process is gone.
void DeleteStale(CommandRunner& runner) {
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.rfind("hp-", 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(name, '-');
    int pid = 0;
    if (parts.size() < 4 || !absl::SimpleAtoi(parts[parts.size() - 2], &pid)) {
      continue;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  closedir(dir);
  for (const std::string& name : stale) {
    (void)runner.Run({"ip", "netns", "del", name}, "");
  }
}

}  // namespace

std::string KernelTestsUnavailableReason() {
  if (geteuid() != 0) return "not running as root (network namespaces need it)";
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> r = runner.Run({"ip", "-V"}, "");
  if (!r.ok() || r->exit_code != 0)
    return "the `ip` command (iproute2) is missing";
  absl::StatusOr<std::unique_ptr<Netns>> probe = Netns::Create("probe");
  if (!probe.ok()) {
    return absl::StrCat("cannot create a network namespace: ",
                        probe.status().message());
  }
  return "";
}

absl::StatusOr<std::unique_ptr<Netns>> Netns::Create(
    absl::string_view purpose) {
  InstallHandlersOnce();
  RealCommandRunner runner;
  DeleteStale(runner);
  const std::string name =
      absl::StrCat("hp-", purpose, "-", getpid(), "-", g_counter++);
  absl::StatusOr<CommandResult> r =
      runner.Run({"ip", "netns", "add", name}, "");
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("ip netns add ", name, ": ", r->stderr_text));
  }
  Track(absl::StrCat("/run/netns/", name), true);
  std::unique_ptr<Netns> ns(new Netns(name));
  if (absl::StatusOr<std::string> up =
          ns->Check({"ip", "link", "set", "lo", "up"});
      !up.ok()) {
    return up.status();
  }
  return ns;
}

Netns::~Netns() {
  (void)runner_.Run({"ip", "netns", "del", name_}, "");
  Track(absl::StrCat("/run/netns/", name_), false);
}

absl::StatusOr<std::unique_ptr<Netns::Entered>> Netns::Enter() {
  const int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    return absl::InternalError(
        absl::StrCat("open own netns: ", std::strerror(errno)));
  }
  const std::string path = absl::StrCat("/run/netns/", name_);
  const int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0 || setns(target, CLONE_NEWNET) != 0) {
    const int err = errno;
    if (target >= 0) close(target);
    close(original);
    return absl::InternalError(
        absl::StrCat("enter ", path, ": ", std::strerror(err)));
  }
  close(target);
  return std::unique_ptr<Entered>(new Entered(original));
}

Netns::Entered::~Entered() {
  setns(original_, CLONE_NEWNET);
  close(original_);
}

absl::StatusOr<CommandResult> Netns::Run(const std::vector<std::string>& argv,
                                         const std::string& stdin_text) {
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return runner_.Run(full, stdin_text);
}

absl::StatusOr<std::string> Netns::Check(const std::vector<std::string>& argv,
                                         const std::string& stdin_text) {
  absl::StatusOr<CommandResult> r = Run(argv, stdin_text);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("`", absl::StrJoin(argv, " "), "` in ", name_, " exited ",
                     r->exit_code, ": ", r->stderr_text));
  }
  return r->stdout_text;
}

}  // namespace hostport::e2e
