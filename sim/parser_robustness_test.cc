// Parsers and the walk on arbitrary token soup: no crash, no hang, and an
// error is always a message (the fuzzers in //fuzz go further).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"
#include "sim/simulator.h"

namespace sim {
namespace {

const std::vector<std::string>& NftWords() {
  static const auto* words =
      new std::vector<std::string>{"table",
                                   "ip",
                                   "ip6",
                                   "inet",
                                   "t",
                                   "chain",
                                   "c",
                                   "{",
                                   "}",
                                   ";",
                                   "\n",
                                   "type",
                                   "nat",
                                   "hook",
                                   "prerouting",
                                   "postrouting",
                                   "output",
                                   "priority",
                                   "dstnat",
                                   "srcnat",
                                   "-100",
                                   "policy",
                                   "accept",
                                   "drop",
                                   "return",
                                   "jump",
                                   "goto",
                                   "dnat",
                                   "snat",
                                   "to",
                                   "masquerade",
                                   "map",
                                   "vmap",
                                   "set",
                                   "@m",
                                   "@s",
                                   "m",
                                   "s",
                                   "elements",
                                   "=",
                                   ",",
                                   ":",
                                   ".",
                                   "tcp",
                                   "udp",
                                   "dport",
                                   "th",
                                   "daddr",
                                   "saddr",
                                   "meta",
                                   "l4proto",
                                   "mark",
                                   "ct",
                                   "status",
                                   "state",
                                   "&",
                                   "|",
                                   "==",
                                   "!=",
                                   "fib",
                                   "local",
                                   "10.0.0.1",
                                   "10.0.0.0/8",
                                   "fd00::1",
                                   "[fd00::1]:80",
                                   "10.0.0.1:80",
                                   "80",
                                   "80-90",
                                   "0x10",
                                   "comment",
                                   "\"x\"",
                                   "add",
                                   "delete",
                                   "flush",
                                   "rule",
                                   "element",
                                   "inet_proto",
                                   "inet_service",
                                   "ipv4_addr",
                                   "ipv6_addr",
                                   "verdict",
                                   "counter",
                                   "iifname",
                                   "\"eth*\"",
                                   "established,related",
                                   "handle",
                                   "1",
                                   "ip daddr . meta l4proto . th dport",
                                   "typeof",
                                   "flags",
                                   "interval"};
  return *words;
}

const std::vector<std::string>& IptablesWords() {
  static const auto* words =
      new std::vector<std::string>{"*nat",         "COMMIT",
                                   "\n",           ":PREROUTING ACCEPT [0:0]",
                                   ":X - [0:0]",   "-A",
                                   "-I",           "-D",
                                   "-N",           "-X",
                                   "-F",           "-P",
                                   "PREROUTING",   "OUTPUT",
                                   "POSTROUTING",  "X",
                                   "-j",           "-g",
                                   "DNAT",         "SNAT",
                                   "MASQUERADE",   "MARK",
                                   "RETURN",       "ACCEPT",
                                   "DROP",         "--to-destination",
                                   "--to-source",  "10.0.0.1:80",
                                   "[fd00::1]:80", "-p",
                                   "tcp",          "udp",
                                   "-m",           "multiport",
                                   "--dports",     "80,81",
                                   "--dport",      "80:90",
                                   "-s",           "-d",
                                   "10.0.0.0/8",   "!",
                                   "-i",           "eth+",
                                   "addrtype",     "--dst-type",
                                   "LOCAL",        "comment",
                                   "--comment",    "\"a \\\"b\\\"\"",
                                   "mark",         "--mark",
                                   "0x1/0x1",      "--set-xmark",
                                   "conntrack",    "--ctstate",
                                   "DNAT",         "1",
                                   "# family 6",   "*filter"};
  return *words;
}

std::string Soup(const std::vector<std::string>& words,
                 const std::vector<size_t>& picks) {
  std::string out;
  for (size_t p : picks) {
    out += words[p % words.size()];
    out += ' ';
  }
  return out;
}

RC_GTEST_PROP(ParserRobustnessTest, NftTokenSoupNeverCrashes,
              (const std::vector<size_t>& picks)) {
  std::string text = Soup(NftWords(), picks);
  Ruleset r;
  absl::Status s = ApplyNftScript(text, "soup", &r);
  if (!s.ok()) {
    RC_ASSERT(!s.message().empty());
    RC_ASSERT(r.tables.empty());
    return;
  }
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(r, HostModel::Default());
  if (sim.ok()) {
    Packet p;
    p.dst = *IpAddress::Parse("192.0.2.10");
    p.dst_port = 80;
    (*sim)->Trace(p).IgnoreError();
  }
}

RC_GTEST_PROP(ParserRobustnessTest, IptablesTokenSoupNeverCrashes,
              (const std::vector<size_t>& picks)) {
  std::string text = Soup(IptablesWords(), picks);
  // One command per line, as restore input has it.
  std::string lines;
  for (char c : text) lines += c == '\n' ? '\n' : c;
  absl::StatusOr<Ruleset> r =
      ParseIptablesSave("*nat\n" + lines, IpFamily::kV4);
  if (!r.ok()) {
    RC_ASSERT(!r.status().message().empty());
    return;
  }
  // What the parser accepted prints and parses back to the same text.
  for (const Table& t : r->tables) {
    std::string printed = FormatIptablesSave(t);
    absl::StatusOr<Ruleset> again = ParseIptablesSave(
        printed, t.family == TableFamily::kIp ? IpFamily::kV4 : IpFamily::kV6);
    RC_ASSERT(again.ok());
    RC_ASSERT(FormatIptablesSave(again->tables[0]) == printed);
  }
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(*r, HostModel::Default());
  if (sim.ok()) {
    Packet p;
    p.dst = *IpAddress::Parse("192.0.2.10");
    p.dst_port = 80;
    (*sim)->Trace(p).IgnoreError();
  }
}

RC_GTEST_PROP(ParserRobustnessTest, ArbitraryBytesNeverCrash,
              (const std::string& text)) {
  Ruleset r;
  ApplyNftScript(text, "bytes", &r).IgnoreError();
  ParseIptablesSave(text, IpFamily::kV6).IgnoreError();
  HostModel::FromJson(text).IgnoreError();
}

}  // namespace
}  // namespace sim
