// cni_bench: what one CNI ADD, CHECK and DEL cost a container runtime, for
// hostport-cni on each backend and for Debian's CNI portmap plugin (ADD and
// DEL; and `hostportctl add` and `remove` in their place), beside
// 0, 1,000 and 10,000 (or --sizes) existing mappings. Run as root:
//   bazel build -c opt //tools:cni_bench && bazel-bin/tools/cni_bench
// Per size and backend it creates a network namespace (deleted afterwards)
// with a bridge, fills it with the existing pods, one dual-stack pod with one
// TCP mapping each (hostport-cni: with `hostportctl sync`, records in a
// tmpfs state directory as /run is; portmap: its own rules, copied from one
// real portmap ADD), then times, interleaved across backends, a fresh plugin
// process per ADD, CHECK and DEL of one more such pod: fork, setns, exec,
// exit (and, untimed, until the child a plugin hands its netlink sockets to
// has exited too). hostport-cni's columns also time, each round, the DEL of
// one of the pods the sync laid down (the newest in the first round, older
// ones after).
// Prints the median milliseconds, and the largest resident set of a plugin
// process.
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "e2e/netns.h"

namespace hostport {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr char kPortmap[] = "/usr/lib/cni/portmap";
constexpr char kBridge[] = "cni0";

// The i-th pod: its addresses on the bridge's subnets and its host port.
std::string PodIp4(int i) {
  return absl::StrFormat("10.88.%d.%d", 1 + i / 250, 1 + i % 250);
}
std::string PodIp6(int i) { return absl::StrFormat("fd00:88::%x", i + 16); }
int PodPort(int i) { return 1024 + i; }

// The pod ADD and DEL are timed for: beyond every existing one.
constexpr int kBenchPod = 60000;

// The row of DELs of pods the fill's `hostportctl sync` laid down.
constexpr char kDelSynced[] = "DEL of a synced pod";

json PrevResult(int i) {
  return {{"cniVersion", "1.0.0"},
          {"interfaces", {{{"name", "eth0"}, {"sandbox", "/x"}}}},
          {"ips",
           {{{"address", PodIp4(i) + "/16"}, {"interface", 0}},
            {{"address", PodIp6(i) + "/64"}, {"interface", 0}}}}};
}

struct Backend {
  // "portmap" (through `iptables`, iptables-nft on Debian),
  // "portmap-legacy" (through iptables-legacy), "nftables", "iptables-nft",
  // "iptables-legacy"; "hostportctl": `hostportctl add` and `remove` on
  // nftables in place of ADD and DEL.
  std::string name;
  bool portmap() const { return absl::StartsWith(name, "portmap"); }
  bool hostportctl() const { return name == "hostportctl"; }
  // The hostport backend of the column.
  std::string hostport() const { return hostportctl() ? "nftables" : name; }
  // The iptables variant portmap's rules are filled with.
  std::string portmap_variant() const {
    return name == "portmap-legacy" ? "-legacy" : "";
  }
};

// A directory whose iptables, ip6tables and their -save and -restore are
// iptables-legacy, first in portmap-legacy's PATH; removed when destroyed.
class LegacyPath {
 public:
  LegacyPath() {
    char dir[] = "/tmp/cni-bench-legacy-XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    path_ = dir;
    for (const char* family : {"iptables", "ip6tables"}) {
      for (const char* tool : {"", "-save", "-restore"}) {
        const std::string link = absl::StrCat(path_, "/", family, tool);
        links_.push_back(link);
        if (symlink(absl::StrCat("/usr/sbin/", family, "-legacy", tool).c_str(),
                    link.c_str()) != 0) {
          std::fprintf(stderr, "cni_bench: %s: %s\n", link.c_str(),
                       std::strerror(errno));
        }
      }
    }
  }
  ~LegacyPath() {
    for (const std::string& link : links_) unlink(link.c_str());
    if (!path_.empty()) rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> links_;
};

// The plugin's stdin for one ADD or DEL of pod `i`.
std::string Config(const Backend& b, const std::string& state_dir, int i) {
  json c = {{"cniVersion", "1.0.0"},
            {"name", "benchnet"},
            {"runtimeConfig",
             {{"portMappings",
               {{{"hostPort", PodPort(i)},
                 {"containerPort", 80},
                 {"protocol", "tcp"}}}}}},
            {"prevResult", PrevResult(i)}};
  if (b.portmap()) {
    c["type"] = "portmap";
    c["snat"] = true;
  } else {
    c["type"] = "hostport-cni";
    c["backend"] = b.hostport();
    c["stateDir"] = state_dir;
    c["natInterface"] = kBridge;
  }
  return c.dump();
}

struct Timed {
  double ms = 0;
  long max_rss_kb = 0;
  int exit_code = -1;
  std::string output;
};

// One fresh plugin process inside `netns`, with `args` after its name: fork,
// setns, exec; the time until it has exited.
Timed RunPlugin(const std::string& plugin, const std::string& netns,
                const std::string& command, const std::string& id,
                const std::string& input, const std::string& path_prefix = "",
                const std::vector<std::string>& args = {}) {
  Timed t;
  char in_path[] = "/tmp/cni-bench-in-XXXXXX";
  char out_path[] = "/tmp/cni-bench-out-XXXXXX";
  const int in = mkstemp(in_path);
  const int out = mkstemp(out_path);
  if (in < 0 || out < 0 ||
      write(in, input.data(), input.size()) !=
          static_cast<ssize_t>(input.size()) ||
      lseek(in, 0, SEEK_SET) != 0) {
    t.output = absl::StrCat("temporary files: ", std::strerror(errno));
    return t;
  }
  unlink(in_path);
  unlink(out_path);
  const int ns = open(absl::StrCat("/run/netns/", netns).c_str(), O_RDONLY);
  const std::vector<std::string> env = {
      "CNI_COMMAND=" + command,
      "CNI_CONTAINERID=" + id,
      "CNI_NETNS=/run/netns/" + netns,
      "CNI_IFNAME=eth0",
      "CNI_PATH=/usr/lib/cni",
      "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=" + id,
      "PATH=" + path_prefix + "/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<char*> argv = {const_cast<char*>(plugin.c_str())};
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    if (setns(ns, CLONE_NEWNET) != 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execve(plugin.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  t.ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  t.max_rss_kb = usage.ru_maxrss;
  t.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  // Untimed: the child a plugin leaves its netlink sockets to (the bench is
  // their subreaper) pays the kernel's reclaim after a deletion, holding the
  // namespace's nftables commit lock; the next process, timed, starts on a
  // settled kernel, not in that wait.
  while (waitpid(-1, nullptr, 0) > 0) {
  }
  char buffer[4096];
  lseek(out, 0, SEEK_SET);
  for (ssize_t n; (n = read(out, buffer, sizeof(buffer))) > 0;) {
    t.output.append(buffer, static_cast<size_t>(n));
  }
  close(ns);
  close(in);
  close(out);
  return t;
}

// A tmpfs for the state directory, as /run is on a host; unmounted and
// removed when destroyed.
class ScratchTmpfs {
 public:
  ScratchTmpfs() {
    char dir[] = "/tmp/cni-bench-state-XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    path_ = dir;
    mounted_ = mount("tmpfs", dir, "tmpfs", 0, "mode=0700") == 0;
    if (!mounted_) {
      std::fprintf(stderr,
                   "cni_bench: note: cannot mount a tmpfs (%s); the state "
                   "directory is on %s's file system\n",
                   std::strerror(errno), dir);
    }
  }
  ~ScratchTmpfs() {
    if (path_.empty()) return;
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
    nftw(
        path_.c_str(),
        [](const char* path, const struct stat*, int, FTW*) {
          return remove(path);
        },
        16, FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

// One backend's namespace at one size, filled with the existing pods.
struct Host {
  Backend backend;
  std::unique_ptr<e2e::Netns> ns;
  std::unique_ptr<ScratchTmpfs> state;
  std::string state_dir;
};

absl::Status MakeBridge(e2e::Netns& ns) {
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{
           {"ip", "link", "add", kBridge, "type", "bridge"},
           {"ip", "addr", "add", "10.88.0.1/16", "dev", kBridge},
           {"ip", "addr", "add", "fd00:88::1/64", "dev", kBridge, "nodad"},
           {"ip", "link", "set", kBridge, "up"}}) {
    if (absl::StatusOr<std::string> r = ns.Check(argv); !r.ok()) {
      return r.status();
    }
  }
  return absl::OkStatus();
}

// portmap's rules for `existing` pods: one real ADD of a template pod, its
// per-pod lines copied with each pod's chain, id, port and addresses.
absl::Status FillPortmap(Host& host, int existing,
                         const std::string& path_prefix) {
  constexpr int kTemplate = 59999;
  const std::string id = "template";
  const std::string variant = host.backend.portmap_variant();
  Timed add = RunPlugin(kPortmap, host.ns->name(), "ADD", id,
                        Config(host.backend, "", kTemplate), path_prefix);
  if (add.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("portmap ADD of the template: ", add.output));
  }
  for (const char* family : {"iptables", "ip6tables"}) {
    absl::StatusOr<std::string> saved =
        host.ns->Check({absl::StrCat(family, variant, "-save"), "-t", "nat"});
    if (!saved.ok()) return saved.status();
    std::vector<std::string> own;  // The template pod's lines.
    std::string chain;
    for (absl::string_view line : absl::StrSplit(*saved, '\n')) {
      if (absl::StrContains(line, "id: \\\"template\\\"")) {
        chain = std::string(line.substr(line.rfind(' ') + 1));
      }
    }
    if (chain.empty()) {
      return absl::InternalError("portmap wrote no chain for the template");
    }
    for (absl::string_view line : absl::StrSplit(*saved, '\n')) {
      if (absl::StrContains(line, chain)) own.push_back(std::string(line));
    }
    std::string input = "*nat\n";
    std::string rules;
    for (int i = 0; i < existing; ++i) {
      const std::string pod_chain =
          absl::StrFormat("CNI-DN-%021x", static_cast<uint64_t>(i) + 1);
      for (const std::string& line : own) {
        std::string copy = absl::StrReplaceAll(
            line,
            {{chain, pod_chain},
             {"id: \\\"template\\\"", absl::StrCat("id: \\\"pod", i, "\\\"")},
             {absl::StrCat(PodPort(kTemplate)), absl::StrCat(PodPort(i))},
             {PodIp4(kTemplate) + ":", PodIp4(i) + ":"},
             {"[" + PodIp6(kTemplate) + "]", "[" + PodIp6(i) + "]"}});
        absl::StrAppend(copy[0] == ':' ? &input : &rules, copy, "\n");
      }
    }
    absl::StrAppend(&input, rules, "COMMIT\n");
    absl::StatusOr<std::string> r = host.ns->Check(
        {absl::StrCat(family, variant, "-restore"), "-w", "--noflush"}, input);
    if (!r.ok()) return r.status();
  }
  Timed del = RunPlugin(kPortmap, host.ns->name(), "DEL", id,
                        Config(host.backend, "", kTemplate), path_prefix);
  if (del.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("portmap DEL of the template: ", del.output));
  }
  return absl::OkStatus();
}

// The i-th pod as a pods-file entry under `id`.
std::string PodsFileEntry(const std::string& id, int i) {
  return json({{"id", id},
               {"namespace", "bench"},
               {"name", id},
               {"ips", {PodIp4(i), PodIp6(i)}},
               {"nat_interface", kBridge},
               {"port_mappings",
                {{{"host_port", PodPort(i)},
                  {"container_port", 80},
                  {"protocol", "TCP"},
                  {"host_ip", ""}}}}})
      .dump();
}

// The pods file of the pod `hostportctl add` adds.
std::string BenchPodFile(const Host& host) {
  return host.state->path() + "/bench-pod.json";
}

// hostport-cni's pods and records for `existing` pods, with `hostportctl
// sync`, as a host that has run for a while holds them.
absl::Status FillHostport(Host& host, int existing,
                          const std::string& hostportctl) {
  const std::string file = host.state->path() + "/pods.json";
  {
    // Written pod by pod: the bench's own pages count in the resident set
    // a forked plugin reports.
    std::ofstream out(file);
    out << "[";
    for (int i = 0; i < existing; ++i) {
      out << (i == 0 ? "" : ",\n") << PodsFileEntry(absl::StrCat("pod", i), i);
    }
    out << "]\n";
  }
  if (host.backend.hostportctl()) {
    std::ofstream(BenchPodFile(host))
        << "[" << PodsFileEntry("bench", kBenchPod) << "]\n";
  }
  absl::StatusOr<std::string> r =
      host.ns->Check({hostportctl, "sync", "--pods", file, "--backend",
                      host.backend.hostport(), "--state-dir", host.state_dir});
  unlink(file.c_str());
  return r.status();
}

// 10000 → "10,000".
std::string Thousands(int n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string SelfDir() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return ".";
  const std::string self(buffer, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/'));
}

struct Options {
  std::vector<int> sizes = {0, 1000, 10000};
  std::vector<Backend> backends = {{"portmap"},         {"portmap-legacy"},
                                   {"nftables"},        {"iptables-nft"},
                                   {"iptables-legacy"}, {"hostportctl"}};
  int rounds = 9;
};

int Run(const Options& options) {
  const std::string reason = e2e::KernelTestsUnavailableReason();
  if (!reason.empty()) {
    std::fprintf(stderr, "cni_bench: %s\n", reason.c_str());
    return 1;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const std::string plugin = SelfDir() + "/hostport-cni";
  const LegacyPath legacy;
  auto path_prefix = [&](const Backend& b) {
    return b.name == "portmap-legacy" ? legacy.path() + ":" : std::string();
  };
  const std::string hostportctl = SelfDir() + "/hostportctl";
  std::vector<Backend> backends;
  for (const Backend& b : options.backends) {
    if (b.portmap() && access(kPortmap, X_OK) != 0) {
      std::fprintf(stderr,
                   "cni_bench: note: %s is not installed (Debian package "
                   "containernetworking-plugins): no portmap column\n",
                   kPortmap);
      continue;
    }
    backends.push_back(b);
  }
  // results[size][backend]: ADD and DEL times, largest RSS.
  std::printf(
      "one dual-stack pod with one TCP mapping per ADD/CHECK/DEL; median "
      "ms over %d fresh processes; max RSS of a plugin process\n",
      options.rounds);
  std::printf("| existing | op |");
  for (const Backend& b : backends) {
    std::printf(" %s |", b.name == "portmap" ? "portmap (iptables-nft)"
                         : b.portmap()       ? "portmap (iptables-legacy)"
                         : b.hostportctl()
                             ? "hostportctl add/remove (nftables)"
                             : ("hostport-cni " + b.name).c_str());
  }
  std::printf("\n| ---: | --- |");
  for (size_t i = 0; i < backends.size(); ++i) std::printf(" ---: |");
  std::printf("\n");
  std::fflush(stdout);
  for (int size : options.sizes) {
    std::vector<Host> hosts;
    for (const Backend& b : backends) {
      Host host{b, nullptr, nullptr, ""};
      absl::StatusOr<std::unique_ptr<e2e::Netns>> ns =
          e2e::Netns::Create("cnib");
      if (!ns.ok()) {
        std::fprintf(stderr, "cni_bench: %s\n",
                     std::string(ns.status().message()).c_str());
        return 1;
      }
      host.ns = std::move(*ns);
      if (!b.portmap()) {
        host.state = std::make_unique<ScratchTmpfs>();
        host.state_dir = host.state->path() + "/state";
      }
      const auto t0 = Clock::now();
      absl::Status filled = MakeBridge(*host.ns);
      if (filled.ok()) {
        filled = b.portmap() ? FillPortmap(host, size, path_prefix(b))
                             : FillHostport(host, size, hostportctl);
      }
      if (!filled.ok()) {
        std::fprintf(stderr, "cni_bench: filling %s with %d pods: %s\n",
                     b.name.c_str(), size,
                     std::string(filled.message()).c_str());
        return 1;
      }
      std::fprintf(stderr, "cni_bench: %s with %d pods filled in %.1f s\n",
                   b.name.c_str(), size,
                   std::chrono::duration<double>(Clock::now() - t0).count());
      hosts.push_back(std::move(host));
    }
    // Give back what filling took: a forked plugin's resident set counts
    // the bench's pages until it execs.
    malloc_trim(0);
    // times[op][backend]: milliseconds of each run.
    std::map<std::string, std::map<std::string, std::vector<double>>> times;
    std::map<std::string, long> rss;
    std::vector<double> floor_ms;
    long floor_rss = 0;
    for (int r = 0; r < options.rounds; ++r) {
      // The floor: fork, setns and exec of a program that does nothing.
      const Timed nothing =
          RunPlugin("/bin/true", hosts[0].ns->name(), "ADD", "floor", "");
      floor_ms.push_back(nothing.ms);
      floor_rss = std::max(floor_rss, nothing.max_rss_kb);
      // Interleaved, each round starting with another backend.
      for (size_t k = 0; k < hosts.size(); ++k) {
        Host& host = hosts[(k + r) % hosts.size()];
        const std::string& path = host.backend.portmap() ? kPortmap : plugin;
        const std::string config =
            Config(host.backend, host.state_dir, kBenchPod);
        for (const char* command : {"ADD", "CHECK", "DEL"}) {
          const bool add = std::string(command) == "ADD";
          // CHECK: hostport-cni's (the pod just added), not portmap's.
          if (std::string(command) == "CHECK" &&
              (host.backend.portmap() || host.backend.hostportctl())) {
            continue;
          }
          std::vector<std::string> args;
          if (host.backend.hostportctl() && add) {
            args = {"add",          "--pods",          BenchPodFile(host),
                    "--backend",    "nftables",        "--state-dir",
                    host.state_dir, "--nat-interface", kBridge};
          } else if (host.backend.hostportctl()) {
            args = {"remove", "--id", "bench", "--state-dir", host.state_dir};
          }
          Timed t = RunPlugin(host.backend.hostportctl() ? hostportctl : path,
                              host.ns->name(), command, "bench", config,
                              path_prefix(host.backend), args);
          if (t.exit_code != 0) {
            std::fprintf(stderr, "cni_bench: %s %s exited %d: %s\n",
                         host.backend.name.c_str(), command, t.exit_code,
                         t.output.c_str());
            return 1;
          }
          times[command][host.backend.name].push_back(t.ms);
          rss[host.backend.name] =
              std::max(rss[host.backend.name], t.max_rss_kb);
        }
        // One of the pods the sync laid down, spread over the rounds from
        // the newest to the oldest; gone for the rest of the run.
        if (size > options.rounds && !host.backend.portmap()) {
          const int i = size - 1 - r * (size / options.rounds);
          const std::string id = absl::StrCat("pod", i);
          std::vector<std::string> args;
          if (host.backend.hostportctl()) {
            args = {"remove", "--id", id, "--state-dir", host.state_dir};
          }
          Timed t = RunPlugin(
              host.backend.hostportctl() ? hostportctl : path, host.ns->name(),
              "DEL", id, Config(host.backend, host.state_dir, i), "", args);
          if (t.exit_code != 0) {
            std::fprintf(stderr, "cni_bench: %s DEL of %s exited %d: %s\n",
                         host.backend.name.c_str(), id.c_str(), t.exit_code,
                         t.output.c_str());
            return 1;
          }
          times[kDelSynced][host.backend.name].push_back(t.ms);
        }
      }
    }
    for (const char* op : {"ADD", "CHECK", "DEL", kDelSynced}) {
      std::printf("| %s | %s |", Thousands(size).c_str(), op);
      for (const Backend& b : backends) {
        const std::vector<double>& ms = times[op][b.name];
        if (ms.empty()) {
          std::printf(" – |");
        } else {
          std::printf(" %.1f |", Median(ms));
        }
      }
      std::printf("\n");
    }
    std::printf("| %s | max RSS MB |", Thousands(size).c_str());
    for (const Backend& b : backends) {
      std::printf(" %.1f |", static_cast<double>(rss[b.name]) / 1024);
    }
    std::printf("\n");
    std::printf(
        "(%s existing: fork+setns+exec of /bin/true, the floor of any "
        "plugin: %.1f ms, max RSS %.1f MB)\n",
        Thousands(size).c_str(), Median(floor_ms),
        static_cast<double>(floor_rss) / 1024);
    std::fflush(stdout);
  }
  return 0;
}

constexpr char kUsage[] =
    "usage: cni_bench [--sizes N[,N...]] [--backends B[,B...]] [--rounds R]\n"
    "Times one CNI ADD, CHECK and DEL (a fresh plugin process each) beside N\n"
    "existing mappings, hostport-cni per backend and Debian's CNI portmap,\n"
    "interleaved, in network namespaces it creates and deletes (root); and\n"
    "for hostport-cni the DEL of one of the existing pods per round.\n"
    "  --sizes     existing mappings per row (default 0,1000,10000)\n"
    "  --backends  of portmap (through iptables-nft, Debian's `iptables`),\n"
    "              portmap-legacy (through iptables-legacy), nftables,\n"
    "              iptables-nft, iptables-legacy, and hostportctl\n"
    "              (`hostportctl add` and `remove` of the pod on nftables\n"
    "              in place of ADD and DEL) (default all; portmap only\n"
    "              when installed)\n"
    "  --rounds    ADD/CHECK/DEL rounds timed per backend and size\n"
    "              (default 9)\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "cni_bench: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace hostport

int main(int argc, char** argv) {
  using hostport::Usage;
  hostport::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(hostport::kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return Usage(absl::StrCat(arg, ": unknown or no value"));
    const std::string value = argv[++i];
    if (arg == "--sizes") {
      options.sizes.clear();
      for (absl::string_view s : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(s, &n) || n < 0 || n > 50000) {
          return Usage(absl::StrCat("--sizes \"", value, "\": want numbers ",
                                    "from 0 to 50000, comma-separated"));
        }
        options.sizes.push_back(n);
      }
    } else if (arg == "--backends") {
      options.backends.clear();
      for (absl::string_view s : absl::StrSplit(value, ',')) {
        if (s != "portmap" && s != "portmap-legacy" && s != "nftables" &&
            s != "iptables-nft" && s != "iptables-legacy" &&
            s != "hostportctl") {
          return Usage(absl::StrCat("--backends: \"", s,
                                    "\" is not portmap, portmap-legacy, "
                                    "nftables, iptables-nft, "
                                    "iptables-legacy or hostportctl"));
        }
        options.backends.push_back({std::string(s)});
      }
    } else if (arg == "--rounds") {
      if (!absl::SimpleAtoi(value, &options.rounds) || options.rounds < 1) {
        return Usage(
            absl::StrCat("--rounds \"", value, "\": want a positive number"));
      }
    } else {
      return Usage(absl::StrCat("unknown argument ", arg));
    }
  }
  return hostport::Run(options);
}
