// Packets evaluated per second against rulesets of 100, 1,000 and 10,000
// mappings, in hostport's iptables shape (KUBE-HOSTPORTS + KUBE-HP-* chains)
// and its nft-map shape (DESIGN §4). Run:
//   bazel run -c opt //sim:sim_benchmark
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "sim/host_model.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"
#include "sim/simulator.h"

namespace sim {
namespace {

constexpr char kHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16"], "route_localnet": true}],
  "routes": [{"to": "default", "dev": "eth0"}]})json";

std::string PodIp(int i) {
  return absl::StrCat("10.88.", 1 + i / 250, ".", 2 + i % 250);
}
int HostPort(int i) { return 10000 + i; }
int ContainerPort(int i) { return 20000 + i; }

std::string IptablesShape(int n) {
  std::string declare, rules;
  absl::StrAppend(&declare,
                  "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
                  ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                  ":KUBE-HOSTPORTS - [0:0]\n:CRIO-HOSTPORTS-MASQ - [0:0]\n");
  absl::StrAppend(
      &rules,
      "-A PREROUTING -m comment --comment \"kube hostport portals\" -m "
      "addrtype --dst-type LOCAL -j KUBE-HOSTPORTS\n"
      "-A OUTPUT -m comment --comment \"kube hostport portals\" -m addrtype "
      "--dst-type LOCAL -j KUBE-HOSTPORTS\n"
      "-A POSTROUTING -m conntrack --ctstate DNAT -j CRIO-HOSTPORTS-MASQ\n");
  for (int i = 0; i < n; ++i) {
    std::string hp = absl::StrCat("KUBE-HP-", i);
    std::string mq = absl::StrCat("CRIO-MASQ-", i);
    absl::StrAppend(&declare, ":", hp, " - [0:0]\n:", mq, " - [0:0]\n");
    absl::StrAppend(
        &rules, "-A KUBE-HOSTPORTS -p tcp -m comment --comment \"default/pod-",
        i, " hostport ", HostPort(i), "\" -m tcp --dport ", HostPort(i), " -j ",
        hp, "\n", "-A ", hp, " -p tcp -m tcp -j DNAT --to-destination ",
        PodIp(i), ":", ContainerPort(i), "\n",
        "-A CRIO-HOSTPORTS-MASQ -p tcp -m tcp --dport ", ContainerPort(i),
        " -j ", mq, "\n", "-A ", mq, " -s ", PodIp(i), "/32 -d ", PodIp(i),
        "/32 -j MASQUERADE\n");
  }
  return declare + rules + "COMMIT\n";
}

std::string NftShape(int n) {
  std::string out =
      "table ip crio-hostports {\n"
      "\tmap hostipports {\n\t\ttype ipv4_addr . inet_proto . inet_service : "
      "ipv4_addr . inet_service\n\t}\n"
      "\tmap hostports {\n\t\ttype inet_proto . inet_service : ipv4_addr . "
      "inet_service\n\t\telements = { ";
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&out, i ? ",\n\t\t\t" : "", "tcp . ", HostPort(i),
                    " comment \"OWNER", i, "\" : ", PodIp(i), " . 80");
  }
  absl::StrAppend(&out,
                  " }\n\t}\n\tset hairpins {\n\t\ttype ipv4_addr . "
                  "ipv4_addr\n\t\telements = { ");
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&out, i ? ", " : "", PodIp(i), " . ", PodIp(i));
  }
  absl::StrAppend(
      &out,
      " }\n\t}\n"
      "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; "
      "policy accept;\n\t\tfib daddr type local goto hostports\n\t}\n"
      "\tchain output {\n\t\ttype nat hook output priority -100; policy "
      "accept;\n\t\tfib daddr type local goto hostports\n\t}\n"
      "\tchain hostports {\n"
      "\t\tdnat ip to ip daddr . meta l4proto . th dport map @hostipports\n"
      "\t\tdnat ip to meta l4proto . th dport map @hostports\n\t}\n"
      "\tchain masquerading {\n\t\ttype nat hook postrouting priority srcnat; "
      "policy accept;\n\t\tct status & dnat == dnat ip saddr . ip daddr "
      "@hairpins masquerade\n\t}\n}\n");
  return out;
}

std::unique_ptr<Simulator> Build(bool nft, int n) {
  Ruleset ruleset;
  absl::Status s;
  if (nft) {
    s = ApplyNftScript(NftShape(n), "bench", &ruleset);
  } else {
    IptablesParseOptions o;
    s = ApplyIptablesRestore(IptablesShape(n), o, &ruleset);
  }
  if (!s.ok()) {
    fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    abort();
  }
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(std::move(ruleset), *HostModel::FromJson(kHost));
  if (!sim.ok()) abort();
  return *std::move(sim);
}

std::vector<Packet> Packets(int n) {
  std::vector<Packet> packets;
  for (int i = 0; i < 1024; ++i) {
    Packet p;
    p.dst = *IpAddress::Parse("192.0.2.10");
    p.dst_port = HostPort((i * 7919) % n);
    packets.push_back(p);
  }
  return packets;
}

void Run(benchmark::State& state, bool nft, bool trace) {
  int n = static_cast<int>(state.range(0));
  std::unique_ptr<Simulator> sim = Build(nft, n);
  std::vector<Packet> packets = Packets(n);
  TraceOptions options;
  options.record_trace = trace;
  // Every packet must reach its pod, or the figure measures something else.
  absl::StatusOr<TraceResult> check = sim->Trace(packets[0], options);
  if (!check.ok() || check->verdict != PacketVerdict::kDelivered) abort();
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<TraceResult> r = sim->Trace(packets[i++ & 1023], options);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_IptablesShape(benchmark::State& state) { Run(state, false, false); }
void BM_NftMapShape(benchmark::State& state) { Run(state, true, false); }
void BM_NftMapShapeWithTrace(benchmark::State& state) {
  Run(state, true, true);
}
void BM_IptablesShapeWithTrace(benchmark::State& state) {
  Run(state, false, true);
}

BENCHMARK(BM_IptablesShape)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_NftMapShape)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_IptablesShapeWithTrace)->Arg(10000);
BENCHMARK(BM_NftMapShapeWithTrace)->Arg(10000);

}  // namespace
}  // namespace sim
