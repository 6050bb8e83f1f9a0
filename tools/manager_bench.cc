// manager_bench: Add and Remove latency of one pod with 4 mappings when 0,
// 1,000 and 10,000 mappings already exist, per backend, on the real kernel
// inside a network namespace it creates (and deletes). Run as root:
//   bazel run -c opt //tools:manager_bench [-- --rounds N]
// Prints one line per backend and size: median and 90th percentile of Add and
// Remove.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "e2e/netns.h"
#include "hostport/hostport_manager.h"
#include "hostport/model/plan.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"

namespace hostport {
namespace {

using Backend = MetaOptions::Backend;
using Clock = std::chrono::steady_clock;

constexpr int kMappingsPerPod = 4;

PodPortMapping BenchPod(int index) {
  PodPortMapping pod;
  pod.namespace_ = "bench";
  pod.name = absl::StrCat("pod", index);
  // 10.64.0.0/10 and fd00:64::/64 give every pod its own addresses.
  pod.ips = {absl::StrFormat("10.%d.%d.%d", 64 + index / 65536,
                             (index / 256) % 256, index % 256),
             absl::StrFormat("fd00:64::%x", index + 1)};
  for (int m = 0; m < kMappingsPerPod; ++m) {
    pod.port_mappings.push_back(
        {1024 + index * kMappingsPerPod + m, 80 + m, Protocol::kTCP, ""});
  }
  return pod;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Installs `existing` mappings in one bulk load, the way a host that has run
// for a while holds them.
absl::Status Prepopulate(e2e::Netns& ns, Backend backend, int existing) {
  std::vector<PodPlan> plans;
  for (int i = 0; i < existing / kMappingsPerPod; ++i) {
    absl::StatusOr<PodPlan> plan =
        PlanPod(absl::StrCat("existing-", i), BenchPod(i));
    if (!plan.ok()) return plan.status();
    plans.push_back(std::move(*plan));
  }
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    absl::StatusOr<std::string> r;
    if (backend == Backend::kNftables) {
      r = ns.Check({"nft", "-f", "-"}, NftRenderer().Full(f, plans).Render());
    } else {
      const IptablesVariant v = backend == Backend::kIptablesLegacy
                                    ? IptablesVariant::kLegacy
                                    : IptablesVariant::kNft;
      r = ns.Check({IptablesProgram(f, v, "restore"), "-w", "--noflush"},
                   IptablesRenderer().Full(f, plans).Render());
    }
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

int Run(int rounds) {
  const std::string reason = e2e::KernelTestsUnavailableReason();
  if (!reason.empty()) {
    std::fprintf(stderr, "manager_bench: %s\n", reason.c_str());
    return 1;
  }
  std::printf("%-16s %9s %12s %12s %12s %12s\n", "backend", "existing",
              "add p50 ms", "add p90 ms", "remove p50", "remove p90");
  const struct {
    const char* name;
    Backend backend;
  } backends[] = {{"nftables", Backend::kNftables},
                  {"iptables-nft", Backend::kIptablesNft},
                  {"iptables-legacy", Backend::kIptablesLegacy}};
  for (const auto& b : backends) {
    for (int existing : {0, 1000, 10000}) {
      absl::StatusOr<std::unique_ptr<e2e::Netns>> ns =
          e2e::Netns::Create("bench");
      if (!ns.ok()) {
        std::fprintf(stderr, "%s\n",
                     std::string(ns.status().message()).c_str());
        return 1;
      }
      if (absl::Status s = Prepopulate(**ns, b.backend, existing); !s.ok()) {
        std::fprintf(stderr, "prepopulate: %s\n",
                     std::string(s.message()).c_str());
        return 1;
      }
      absl::StatusOr<std::unique_ptr<e2e::Netns::Entered>> entered =
          (*ns)->Enter();
      if (!entered.ok()) return 1;
      MetaOptions options;
      options.prefer = b.backend;
      options.cleanup_other_backends = false;
      absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
          NewMetaHostportManager(options);
      if (!manager.ok()) {
        std::fprintf(stderr, "%s\n",
                     std::string(manager.status().message()).c_str());
        return 1;
      }
      std::vector<double> adds, removes;
      for (int r = 0; r < rounds; ++r) {
        const PodPortMapping pod = BenchPod(existing / kMappingsPerPod + 1 + r);
        const std::string id = absl::StrCat("bench-", r);
        const auto t0 = Clock::now();
        absl::Status added = (*manager)->Add(id, pod, "");
        const auto t1 = Clock::now();
        PodPortMapping no_ips = pod;
        no_ips.ips.clear();
        absl::Status removed = (*manager)->Remove(id, no_ips);
        const auto t2 = Clock::now();
        if (!added.ok() || !removed.ok()) {
          std::fprintf(stderr, "%s / %s\n",
                       std::string(added.message()).c_str(),
                       std::string(removed.message()).c_str());
          return 1;
        }
        adds.push_back(
            std::chrono::duration<double, std::milli>(t1 - t0).count());
        removes.push_back(
            std::chrono::duration<double, std::milli>(t2 - t1).count());
      }
      std::printf("%-16s %9d %12.3f %12.3f %12.3f %12.3f\n", b.name, existing,
                  Percentile(adds, 0.5), Percentile(adds, 0.9),
                  Percentile(removes, 0.5), Percentile(removes, 0.9));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace hostport

constexpr char kUsage[] =
    "usage: manager_bench [--rounds N]\n"
    "Add and Remove latency of one pod with 4 mappings beside 0, 1,000 and\n"
    "10,000 existing mappings, per backend, in a network namespace it\n"
    "creates and deletes (root). --rounds: measured adds per size (30).\n";

int main(int argc, char** argv) {
  int rounds = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--rounds" && i + 1 < argc &&
        absl::SimpleAtoi(argv[i + 1], &rounds) && rounds > 0) {
      ++i;
      continue;
    }
    std::fprintf(stderr, "manager_bench: %s: %s\n%s",
                 arg == "--rounds" ? "--rounds wants a positive number"
                                   : "unknown argument",
                 arg != "--rounds" ? arg.c_str()
                 : i + 1 < argc    ? argv[i + 1]
                                   : "nothing",
                 kUsage);
    return 2;
  }
  return hostport::Run(rounds);
}
