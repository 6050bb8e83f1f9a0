// LockedHost on the kernel-like fakes: records shared between processes (each
// a new LockedHost over the same state directory and kernel), conflicts
// across them, intent records that let a removal find what a killed process
// left, damaged records, and a state directory nobody else may write.
#include "tools/locked_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/model/naming.h"
#include "hostport/testing/fakes.h"

namespace hostport {
namespace {

using testing::FakeConntrack;
using testing::FakeIptables;
using testing::FakeNft;
using testing::FakePortHolder;
using testing::FakeSysctl;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

PodRequest Entry(std::string id, std::vector<std::string> ips,
                 std::vector<PortMapping> mappings, std::string nat = "") {
  PodRequest e;
  e.id = id;
  e.pod.namespace_ = "default";
  e.pod.name = std::move(id);
  e.pod.ips = std::move(ips);
  e.pod.port_mappings = std::move(mappings);
  e.nat_interface = std::move(nat);
  return e;
}

PortMapping M(int host_port, int container_port, std::string host_ip = "") {
  return PortMapping{host_port, container_port, Protocol::kTCP,
                     std::move(host_ip)};
}

// FakeConntrack that first runs a test's hook: in a sync, a moment after the
// kernel changed and before the records settle.
class HookedConntrack : public ConntrackCleaner {
 public:
  explicit HookedConntrack(FakeConntrack* fake) : fake_(fake) {}
  absl::StatusOr<int> DeleteUdp(
      IPFamily family,
      const std::vector<UdpDestination>& destinations) override {
    if (hook) hook();
    return fake_->DeleteUdp(family, destinations);
  }
  std::function<void()> hook;

 private:
  FakeConntrack* fake_;
};

// Every record file in `dir`, by name, with its text.
std::string RecordFiles(const std::string& dir) {
  std::string out;
  const std::string pods = absl::StrCat(dir, "/pods");
  std::vector<std::string> names;
  if (DIR* d = opendir(pods.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::ifstream in(absl::StrCat(pods, "/", name));
    absl::StrAppend(&out, name, ":\n",
                    std::string(std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()));
  }
  return out;
}

// One host (fake kernel and a state directory) that processes come and go on.
// Parameters: the backend, and whether processes trust their records (as
// hostport-cni and hostportctl add/remove do) or read everything.
class LockedHostTest
    : public ::testing::TestWithParam<std::tuple<MetaOptions::Backend, bool>> {
 protected:
  LockedHostTest() {
    static int n = 0;
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/state", n++);
    sysctl_.Set("net/ipv6/conf/all/disable_ipv6", "0");
    sysctl_.Set(RouteLocalnetSysctl("hp-br0"), "0");
  }

  MetaOptions Options() {
    MetaOptions o;
    o.prefer = std::get<0>(GetParam());
    o.trust_records = trusting();
    o.hold_ports = false;
    o.env = HostportEnv{&iptables_, &nft_, &ports_, &hooked_, &sysctl_};
    o.log = [this](absl::string_view line) {
      log_.push_back(std::string(line));
    };
    return o;
  }

  // A new process: the lock, the records, a fresh manager.
  std::unique_ptr<LockedHost> Process() {
    absl::StatusOr<std::unique_ptr<LockedHost>> host =
        LockedHost::Open(dir_, Options());
    EXPECT_TRUE(host.ok()) << host.status();
    return host.ok() ? std::move(*host) : nullptr;
  }

  // What the kernel holds of ours, both backends, both families.
  std::string Kernel() {
    std::string out;
    for (const char* f : {"ip", "ip6"}) {
      for (const char* set : {"hostports", "hostipports", "hairpins"}) {
        for (const std::string& e : nft_.Elements(f, "crio-hostports", set)) {
          absl::StrAppend(&out, f, " ", set, " ", e, "\n");
        }
      }
    }
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      absl::StatusOr<std::string> saved = iptables_.Save(f, std::nullopt);
      if (saved.ok()) absl::StrAppend(&out, *saved);
    }
    return out;
  }

  bool trusting() const { return std::get<1>(GetParam()); }

  std::string dir_;
  FakeIptables iptables_;
  FakeNft nft_;
  FakePortHolder ports_;
  FakeConntrack conntrack_;
  HookedConntrack hooked_{&conntrack_};
  FakeSysctl sysctl_;
  std::vector<std::string> log_;
};

TEST_P(LockedHostTest, AnotherProcessCannotTakeARecordedPort) {
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)})}).ok());
  const std::string before = Kernel();
  ASSERT_THAT(before, HasSubstr("8080"));
  absl::Status s =
      Process()->Add({Entry("b", {"10.88.0.6"}, {M(8080, 80, "192.0.2.10")})});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(s.message(), HasSubstr("default/a"));
  EXPECT_THAT(s.message(), HasSubstr("default/b"));
  EXPECT_EQ(Kernel(), before);
  // The same id again replaces its own mappings.
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(9090, 80)})}).ok());
  EXPECT_THAT(Kernel(), Not(HasSubstr("8080")));
  ASSERT_TRUE(Process()->Remove(PodRequest{"a", {}, ""}).ok());
  EXPECT_THAT(Kernel(), Not(HasSubstr("9090")));
}

TEST_P(LockedHostTest, AFailedPodTakesBackTheOthersAndTheirRecords) {
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)})}).ok());
  const std::string before = Kernel();
  // "c" is valid but needs IPv6 on a host whose IPv6 is now gone.
  sysctl_.Set("net/ipv6/conf/all/disable_ipv6", "1");
  absl::Status s = Process()->Add({Entry("a", {"10.88.0.5"}, {M(8081, 80)}),
                                   Entry("c", {"fd00::7"}, {M(7000, 70)})});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Kernel(), before);
  StateDir state(dir_);
  absl::StatusOr<StateDir::Listing> listing = state.List();
  ASSERT_TRUE(listing.ok());
  ASSERT_THAT(listing->pods, SizeIs(1));
  EXPECT_FALSE(listing->pods[0].pending);
  EXPECT_EQ(listing->pods[0].entry.pod.port_mappings[0].host_port, 8080);
}

// What a process killed between its intent record and its settled record
// leaves: the record names every mapping the kernel may hold, so a removal
// with only the id leaves nothing, whichever side of the kernel change the
// process died on.
TEST_P(LockedHostTest, RemoveByIdCleansWhatAKilledAddLeft) {
  const PodRequest old_entry =
      Entry("a", {"10.88.0.5", "fd00::5"}, {M(8080, 80)});
  const PodRequest new_entry =
      Entry("a", {"10.88.0.5", "fd00::5"}, {M(9090, 90)});
  for (bool kernel_changed : {false, true}) {
    SCOPED_TRACE(kernel_changed ? "killed after the kernel changed"
                                : "killed before the kernel changed");
    ASSERT_TRUE(Process()->Add({old_entry}).ok());
    StateDir state(dir_);
    ASSERT_TRUE(state
                    .Write(HeldPod{new_entry, "x", /*pending=*/true,
                                   old_entry.pod.port_mappings})
                    .ok());
    if (kernel_changed) {
      // The process's manager, without records: as if killed right after.
      absl::StatusOr<std::unique_ptr<HostPortManager>> m =
          NewMetaHostportManager(Options());
      ASSERT_TRUE(m.ok());
      ASSERT_TRUE((*m)->Add("a", new_entry.pod, "").ok());
    }
    ASSERT_THAT(Kernel(), HasSubstr(kernel_changed ? "9090" : "8080"));
    ASSERT_TRUE(Process()->Remove(PodRequest{"a", {}, ""}).ok());
    EXPECT_THAT(Kernel(), Not(HasSubstr("8080")));
    EXPECT_THAT(Kernel(), Not(HasSubstr("9090")));
    EXPECT_THAT(Kernel(), Not(HasSubstr("default/a")));
    EXPECT_FALSE(state.Read("a")->has_value());
  }
}

TEST_P(LockedHostTest, AddOverAnInterruptedAddClearsWhatItMayHaveLeft) {
  const PodRequest first = Entry("a", {"10.88.0.5"}, {M(8080, 80)});
  StateDir state(dir_);
  ASSERT_TRUE(state.Lock().ok());  // Creates the directory.
  ASSERT_TRUE(state.Write(HeldPod{first, "x", true, {}}).ok());
  absl::StatusOr<std::unique_ptr<HostPortManager>> m =
      NewMetaHostportManager(Options());
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Add("a", first.pod, "").ok());
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(9090, 80)})}).ok());
  EXPECT_THAT(Kernel(), Not(HasSubstr("8080")));
  EXPECT_THAT(Kernel(), HasSubstr("9090"));
  absl::StatusOr<std::optional<HeldPod>> record = state.Read("a");
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_FALSE((*record)->pending);
}

TEST_P(LockedHostTest, RouteLocalnetGoesBackWhenAnotherProcessRemovesTheLast) {
  const std::string name = RouteLocalnetSysctl("hp-br0");
  ASSERT_TRUE(Process()
                  ->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)}, "hp-br0")})
                  .ok());
  ASSERT_TRUE(Process()
                  ->Add({Entry("b", {"10.88.0.6"}, {M(8081, 80)}, "hp-br0")})
                  .ok());
  EXPECT_EQ(*sysctl_.Read(name), "1");
  ASSERT_TRUE(Process()->Remove(PodRequest{"a", {}, ""}).ok());
  EXPECT_EQ(*sysctl_.Read(name), "1");
  ASSERT_TRUE(Process()->Remove(PodRequest{"b", {}, ""}).ok());
  EXPECT_EQ(*sysctl_.Read(name), "0");
}

TEST_P(LockedHostTest, ADamagedRecordIsReportedAndSkipped) {
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)})}).ok());
  const std::string damaged = absl::StrCat(dir_, "/pods/DAMAGED.json");
  std::ofstream(damaged) << "{\"backend\": \"nftables\", \"pod\": [";
  std::unique_ptr<LockedHost> host = Process();
  ASSERT_NE(host, nullptr);
  if (!trusting()) {
    ASSERT_THAT(host->damaged(), SizeIs(1));
    EXPECT_EQ(host->damaged()[0].path, damaged);
    EXPECT_THAT(log_, ::testing::Contains(HasSubstr(damaged)));
  }
  // The others keep working: add, conflicts, sync.
  ASSERT_TRUE(host->Add({Entry("b", {"10.88.0.6"}, {M(8081, 80)})}).ok());
  EXPECT_EQ(host->Add({Entry("c", {"10.88.0.7"}, {M(8080, 80)})}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(host->Sync({Entry("b", {"10.88.0.6"}, {M(8081, 80)})}).ok());
  EXPECT_THAT(Kernel(), Not(HasSubstr("8080")));
  // Whoever reads every record names the damaged one.
  ASSERT_THAT(host->damaged(), SizeIs(1));
  EXPECT_EQ(host->damaged()[0].path, damaged);
  EXPECT_THAT(log_, ::testing::Contains(HasSubstr(damaged)));
}

// Through the index, a trusting process reads only the records its change
// concerns, and still sees every conflict and every other user of its
// interface.
TEST_P(LockedHostTest, TheIndexFindsEveryRecordAChangeConcerns) {
  const std::string name = RouteLocalnetSysctl("hp-br0");
  ASSERT_TRUE(Process()
                  ->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)}, "hp-br0"),
                         Entry("b", {"10.88.0.6"}, {M(9090, 80)}, "hp-br0")})
                  .ok());
  // A record nothing concerns, damaged: a trusting change never reads it.
  const std::string unrelated = absl::StrCat(dir_, "/pods/UNRELATED.json");
  std::ofstream(unrelated) << "{";
  {
    std::unique_ptr<LockedHost> host = Process();
    ASSERT_TRUE(host->Add({Entry("c", {"10.88.0.7"}, {M(7070, 80)})}).ok());
    EXPECT_EQ(host->damaged().empty(), trusting());
  }
  absl::Status s =
      Process()->Add({Entry("d", {"10.88.0.8"}, {M(9090, 80, "192.0.2.1")})});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(s.message(), HasSubstr("default/b"));
  // b still needs route_localnet on hp-br0 when a goes, whoever reads what.
  ASSERT_TRUE(Process()->Remove(PodRequest{"a", {}, ""}).ok());
  EXPECT_EQ(*sysctl_.Read(name), "1");
  // A record rewritten on another port leaves no marker on the old one.
  ASSERT_TRUE(Process()
                  ->Add({Entry("b", {"10.88.0.6"}, {M(9091, 80)}, "hp-br0")})
                  .ok());
  EXPECT_TRUE(Process()->Add({Entry("d", {"10.88.0.8"}, {M(9090, 80)})}).ok());
  ASSERT_TRUE(Process()->Remove(PodRequest{"b", {}, ""}).ok());
  EXPECT_EQ(*sysctl_.Read(name), "0");
  unlink(unrelated.c_str());
  ASSERT_TRUE(Process()->Remove(PodRequest{"c", {}, ""}).ok());
  ASSERT_TRUE(Process()->Remove(PodRequest{"d", {}, ""}).ok());
  // The last pod gone, nothing of ours is left in the kernel.
  EXPECT_EQ(Kernel().find("crio-hostports"), std::string::npos) << Kernel();
  EXPECT_THAT(nft_.List("list chains").value_or(""),
              Not(HasSubstr("crio-hostports")));
}

// sync changes only what differs from the records: an unchanged pod keeps
// its record (the same file), a pod the file lacks goes, a new one comes; if
// the new one fails, the one that went comes back.
TEST_P(LockedHostTest, SyncChangesOnlyWhatDiffersFromTheRecords) {
  const PodRequest a = Entry("a", {"10.88.0.5"}, {M(8080, 80)});
  const PodRequest b = Entry("b", {"10.88.0.6"}, {M(9090, 80)});
  const PodRequest c = Entry("c", {"10.88.0.7"}, {M(7070, 80)}, "hp-br0");
  ASSERT_TRUE(Process()->Sync({a, b}).ok());
  const std::string record_a =
      absl::StrCat(dir_, "/pods/", OwnerComment("a"), ".json");
  struct stat before;
  ASSERT_EQ(stat(record_a.c_str(), &before), 0);

  sysctl_.FailNextWrite(absl::PermissionDeniedError("read-only /proc"));
  EXPECT_EQ(Process()->Sync({a, c}).code(),
            absl::StatusCode::kPermissionDenied);
  std::string kernel = Kernel();
  EXPECT_THAT(kernel, HasSubstr("8080"));
  EXPECT_THAT(kernel, HasSubstr("9090"));
  EXPECT_THAT(kernel, Not(HasSubstr("7070")));
  EXPECT_EQ(
      access(absl::StrCat(dir_, "/pods/", OwnerComment("b"), ".json").c_str(),
             F_OK),
      0);

  ASSERT_TRUE(Process()->Sync({a, c}).ok());
  kernel = Kernel();
  EXPECT_THAT(kernel, HasSubstr("8080"));
  EXPECT_THAT(kernel, HasSubstr("7070"));
  EXPECT_THAT(kernel, Not(HasSubstr("9090")));
  EXPECT_EQ(*sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "1");
  struct stat after;
  ASSERT_EQ(stat(record_a.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "a's record was rewritten";
  ASSERT_TRUE(Process()->Sync({}).ok());
  EXPECT_EQ(*sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "0");
  EXPECT_THAT(Kernel(), Not(HasSubstr("8080")));
}

// A sync checks its entries against each other before anything changes, in
// their order, whether the pods are new or recorded exactly as given: a
// trusting process plans only those that differ from their records, and
// finds the same first error as one that checks them all.
TEST_P(LockedHostTest, SyncRefusesEntriesThatConflictWithEachOther) {
  const PodRequest a = Entry("a", {"10.88.0.5"}, {M(8080, 80)});
  const PodRequest b = Entry("b", {"10.88.0.6"}, {M(9090, 80)});
  ASSERT_TRUE(Process()->Sync({a, b}).ok());
  const std::string kernel = Kernel();
  const std::string records = RecordFiles(dir_);
  // c is new and wants a's port on one address.
  const PodRequest c = Entry("c", {"10.88.0.7"}, {M(8080, 80, "192.0.2.1")});
  absl::Status s = Process()->Sync({c, b, a});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::StartsWith(
                  "mapping 0 (8080/TCP on all addresses) of pod default/a "
                  "conflicts on IPv4 with mapping 0 (8080/TCP on 192.0.2.1) "
                  "of pod default/c (id c)"));
  s = Process()->Sync({a, b, c});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::StartsWith(
                  "mapping 0 (8080/TCP on 192.0.2.1) of pod default/c "
                  "conflicts on IPv4 with mapping 0 (8080/TCP on all "
                  "addresses) of pod default/a (id a)"));
  // Two new pods in conflict, beside recorded ones.
  const PodRequest d = Entry("d", {"10.88.0.8"}, {M(7070, 80)});
  const PodRequest e = Entry("e", {"10.88.0.9"}, {M(7070, 80)});
  s = Process()->Sync({d, a, b, e});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(s.message(), HasSubstr("of pod default/e conflicts on IPv4 with "
                                     "mapping 0 (7070/TCP on all addresses) "
                                     "of pod default/d (id d)"));
  // A pod that does not plan, before the conflict, is the first error.
  const PodRequest bad = Entry("bad", {"10.88.0.10"}, {M(70000, 80)});
  s = Process()->Sync({a, bad, b, c});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("host_port 70000 out of range"));
  EXPECT_EQ(Kernel(), kernel);
  EXPECT_EQ(RecordFiles(dir_), records);
  // The same pods in an order without the conflict: c replaces a.
  ASSERT_TRUE(Process()->Sync({b, c}).ok());
  EXPECT_THAT(Kernel(), HasSubstr("192.0.2.1"));
}

// A sync that reads everything deletes the records of the pods the kernel no
// longer holds before the others settle: a process that fails (or dies)
// between the two leaves no settled record of a pod that is gone, which a
// later sync could take as held beside one that conflicts with it.
TEST_P(LockedHostTest, SyncDropsTheRecordsOfPodsGoneBeforeOthersSettle) {
  if (trusting()) GTEST_SKIP() << "a trusting sync removes pod by pod";
  // Both on UDP port 5353, so that the sync clears conntrack.
  PodRequest gone = Entry("gone", {"10.88.0.5"}, {M(5353, 53)});
  gone.pod.port_mappings[0].protocol = Protocol::kUDP;
  PodRequest comes = Entry("comes", {"10.88.0.6"}, {M(5353, 53)});
  comes.pod.port_mappings[0].protocol = Protocol::kUDP;
  ASSERT_TRUE(Process()->Sync({gone}).ok());
  // After the kernel changed, records can no longer be written.
  hooked_.hook = [this] { ASSERT_EQ(chmod(dir_.c_str(), 0777), 0); };
  EXPECT_FALSE(Process()->Sync({comes}).ok());
  hooked_.hook = nullptr;
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  StateDir state(dir_);
  EXPECT_FALSE(state.Read("gone")->has_value());
  absl::StatusOr<std::optional<HeldPod>> record = state.Read("comes");
  ASSERT_TRUE(record.ok() && record->has_value()) << record.status();
  EXPECT_TRUE((*record)->pending);
}

// A state directory written before the index existed gets one, once, and a
// marker whose record is gone is dropped when read.
TEST_P(LockedHostTest, AnIndexIsBuiltForRecordsWrittenWithoutOne) {
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)})}).ok());
  ASSERT_EQ(std::system(absl::StrCat("rm -r ", dir_, "/index").c_str()), 0);
  absl::Status s = Process()->Add({Entry("b", {"10.88.0.6"}, {M(8080, 80)})});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_EQ(access(absl::StrCat(dir_, "/index/version").c_str(), F_OK), 0);
  const std::string stale =
      absl::StrCat(dir_, "/index/port/tcp-8080/", OwnerComment("gone"));
  std::ofstream(stale) << "";
  ASSERT_TRUE(Process()->Add({Entry("a", {"10.88.0.5"}, {M(8080, 80)})}).ok());
  // Read through the index only when trusting.
  EXPECT_EQ(access(stale.c_str(), F_OK) != 0, trusting());
}

INSTANTIATE_TEST_SUITE_P(
    Backends, LockedHostTest,
    ::testing::Combine(::testing::Values(MetaOptions::Backend::kNftables,
                                         MetaOptions::Backend::kIptablesLegacy,
                                         MetaOptions::Backend::kIptablesNft),
                       ::testing::Bool()));

TEST(StateDirTest, RefusesADirectoryOthersMayWrite) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/open");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  StateDir state(dir);
  absl::StatusOr<StateLock> lock = state.Lock();
  ASSERT_FALSE(lock.ok());
  EXPECT_THAT(lock.status().message(), HasSubstr("writable by others"));
  EXPECT_THAT(lock.status().message(), HasSubstr("0777"));
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  EXPECT_TRUE(state.Lock().ok());
}

TEST(StateDirTest, APlantedLinkAtTheTemporaryNameIsNotFollowed) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/links");
  const std::string victim =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/victim");
  std::ofstream(victim) << "precious\n";
  StateDir state(dir);
  ASSERT_TRUE(state.Lock().ok());
  const std::string tmp =
      absl::StrCat(dir, "/pods/", OwnerComment("a"), ".json.tmp.", getpid());
  ASSERT_EQ(symlink(victim.c_str(), tmp.c_str()), 0);
  PodRequest e = Entry("a", {"10.88.0.5"}, {M(8080, 80)});
  ASSERT_TRUE(state.Write(HeldPod{e, "nftables"}).ok());
  std::ifstream in(victim);
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "precious\n");
  absl::StatusOr<std::optional<HeldPod>> back = state.Read("a");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->entry.pod.port_mappings[0].host_port, 8080);
}

// Records are compared with the text Write() would give them, as bytes:
// that text is the one nlohmann::json printed for records before (dump(2)),
// so that records written then compare equal.
TEST(StateDirTest, RecordsAreWrittenAsTheJsonLibraryPrintsThem) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/text");
  StateDir state(dir);
  ASSERT_TRUE(state.Lock().ok());
  PodRequest odd =
      Entry("odd \"id\"\\ \x01\x1f\b\f\n\r\t\x7f é 😀", {"10.88.0.5", "fd00::5"},
            {M(8080, 80, "192.0.2.1"), M(53, 5353)}, "hp-br0");
  odd.pod.port_mappings[1].protocol = Protocol::kUDP;
  odd.pod.host_network = true;
  PodRequest bare = Entry("bare", {}, {});
  bare.pod.namespace_ = "";
  const HeldPod records[] = {
      {odd, "nftables", false, {}},
      {odd, "iptables-legacy", true, {M(9090, 90), M(9091, 91)}},
      {bare, "iptables-nft", true, {}},
      {bare, "nftables", false, {}},
  };
  auto mappings = [](const std::vector<PortMapping>& ms) {
    nlohmann::json out = nlohmann::json::array();
    for (const PortMapping& m : ms) {
      out.push_back({{"host_port", m.host_port},
                     {"container_port", m.container_port},
                     {"protocol", std::string(ProtocolName(m.protocol))},
                     {"host_ip", m.host_ip}});
    }
    return out;
  };
  for (const HeldPod& record : records) {
    SCOPED_TRACE(absl::StrCat(record.entry.id, " ", record.backend));
    const PodRequest& e = record.entry;
    nlohmann::json doc = {{"backend", record.backend},
                          {"pod",
                           {{"id", e.id},
                            {"namespace", e.pod.namespace_},
                            {"name", e.pod.name},
                            {"ips", e.pod.ips},
                            {"host_network", e.pod.host_network},
                            {"nat_interface", e.nat_interface},
                            {"port_mappings", mappings(e.pod.port_mappings)}}}};
    if (record.pending) {
      doc["pending"] = true;
      doc["previous_mappings"] = mappings(record.previous_mappings);
    }
    ASSERT_TRUE(state.Write(record).ok());
    std::ifstream in(absl::StrCat(dir, "/pods/", OwnerComment(e.id), ".json"));
    const std::string written((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    EXPECT_EQ(written, doc.dump(2) + "\n");
    absl::StatusOr<std::optional<HeldPod>> back = state.Read(e.id);
    ASSERT_TRUE(back.ok() && back->has_value()) << back.status();
    EXPECT_EQ(PodRequestJson((*back)->entry), PodRequestJson(e));
  }
}

// A record equals an entry when its bytes are exactly those Write() would
// give it, settled and of the same backend; anything else is a change.
TEST(StateDirTest, DiffAgainstComparesTheRecordsBytes) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/diff");
  StateDir state(dir);
  ASSERT_TRUE(state.Lock().ok());
  std::vector<PodRequest> entries;
  for (int i = 0; i < 7; ++i) {
    entries.push_back(
        Entry(absl::StrCat("p", i), {"10.88.0.5"}, {M(8000 + i, 80)}));
    ASSERT_TRUE(state.Write(HeldPod{entries.back(), "nftables"}).ok());
  }
  auto path = [&](const std::string& id) {
    return absl::StrCat(dir, "/pods/", OwnerComment(id), ".json");
  };
  // p1: one byte more; p2: one byte less; p3: another backend; p4: pending;
  // p5: a different pod; p6: no record. And two records no entry names.
  std::ofstream(path("p1"), std::ios::app) << " ";
  std::string text;
  {
    std::ifstream in(path("p2"));
    text.assign(std::istreambuf_iterator<char>(in),
                std::istreambuf_iterator<char>());
  }
  std::ofstream(path("p2"), std::ios::trunc) << text.substr(0, text.size() - 1);
  ASSERT_TRUE(state.Write(HeldPod{entries[3], "iptables-nft"}).ok());
  ASSERT_TRUE(state.Write(HeldPod{entries[4], "nftables", true, {}}).ok());
  PodRequest other = entries[5];
  other.pod.ips = {"10.88.0.6"};
  ASSERT_TRUE(state.Write(HeldPod{other, "nftables"}).ok());
  ASSERT_TRUE(state.Delete("p6").ok());
  const PodRequest gone = Entry("gone", {"10.88.0.9"}, {M(7000, 70)});
  ASSERT_TRUE(state.Write(HeldPod{gone, "nftables"}).ok());
  std::ofstream(absl::StrCat(dir, "/pods/DAMAGED.json")) << "{";

  absl::StatusOr<StateDir::Diff> diff = state.DiffAgainst(entries, "nftables");
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_EQ(diff->changed, (std::vector<size_t>{1, 2, 3, 4, 5, 6}));
  ASSERT_THAT(diff->stale, SizeIs(1));
  EXPECT_EQ(diff->stale[0].entry.id, "gone");
  ASSERT_THAT(diff->damaged, SizeIs(1));
  EXPECT_THAT(diff->damaged[0].path, HasSubstr("DAMAGED.json"));
  // Written again, each compares equal.
  for (const PodRequest& e : entries) {
    ASSERT_TRUE(state.Write(HeldPod{e, "nftables"}).ok());
  }
  diff = state.DiffAgainst(entries, "nftables");
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_THAT(diff->changed, IsEmpty());
}

}  // namespace
}  // namespace hostport
