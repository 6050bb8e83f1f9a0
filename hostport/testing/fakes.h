// Fakes of every OS seam of hostport, for tests: FakeIptables and FakeNft
// (see their headers) and, here, the small ones: FakePortHolder,
// FakeConntrack and FakeSysctl.
//
// Each fake behaves like the kernel, errors included, so code under test meets
// the same failures it would in production; each lets a test inject the next
// failure, inspect the state and seed it. All are thread-safe and none is
// copyable.
#ifndef HOSTPORT_TESTING_FAKES_H_
#define HOSTPORT_TESTING_FAKES_H_

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/types.h"
#include "hostport/os/conntrack.h"
#include "hostport/os/port_holder.h"
#include "hostport/os/sysctl.h"
#include "hostport/testing/fake_iptables.h"
#include "hostport/testing/fake_nft.h"

namespace hostport::testing {

// Holds ports in memory with the kernel's bind rules: two keys of the same
// family, protocol and port conflict when either address is the wildcard or
// the addresses are equal (IPv6 sockets are V6ONLY, so the families never
// conflict). A HeldPort releases its key when destroyed, also after the
// holder itself is gone.
class FakePortHolder : public PortHolder {
 public:
  FakePortHolder();
  FakePortHolder(const FakePortHolder&) = delete;
  FakePortHolder& operator=(const FakePortHolder&) = delete;

  // Errors, checked in this order, each naming the key: an injected failure;
  // InvalidArgument when the address is not of key.family or the port is not
  // 1..65535; Unimplemented for a protocol marked unsupported;
  // FailedPrecondition for an address that is not local (see
  // SetLocalAddresses); AlreadyExists on a conflict with a held key.
  absl::StatusOr<std::unique_ptr<HeldPort>> Hold(const PortKey& key) override;

  // The host's addresses. Until called every address is local; the wildcard
  // always is.
  void SetLocalAddresses(std::vector<IpAddress> addresses);
  // Hold of `protocol` fails as on a kernel without its module.
  void SetUnsupported(Protocol protocol);
  // The next Hold returns `status` (not OK) and holds nothing. Injections
  // queue; each is used once.
  void FailNext(absl::Status status);

  // The keys held now, in the order they were taken.
  std::vector<PortKey> Held() const;
  // How many times Hold was called, whatever the outcome.
  int hold_calls() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// A conntrack table of entries that tests add; DeleteUdp removes the UDP ones
// matching as the netlink filter does.
class FakeConntrack : public ConntrackCleaner {
 public:
  struct Entry {
    IPFamily family = IPFamily::kIPv4;
    Protocol protocol = Protocol::kUDP;
    IpAddress orig_dst = IpAddress::Any(IPFamily::kIPv4);
    int orig_dst_port = 0;
  };
  struct DeleteCall {
    IPFamily family;
    std::vector<UdpDestination> destinations;
  };

  FakeConntrack() = default;
  FakeConntrack(const FakeConntrack&) = delete;
  FakeConntrack& operator=(const FakeConntrack&) = delete;

  // Deletes the UDP entries of `family` whose original destination is one of
  // `destinations`; returns how many. An injected failure deletes nothing.
  absl::StatusOr<int> DeleteUdp(
      IPFamily family,
      const std::vector<UdpDestination>& destinations) override;

  void Add(const Entry& entry);
  std::vector<Entry> Entries() const;
  // The next DeleteUdp returns `status` (not OK). Injections queue.
  void FailNext(absl::Status status);
  // Every DeleteUdp call, in order, including failed ones.
  std::vector<DeleteCall> calls() const;

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  std::deque<absl::Status> failures_;
  std::vector<DeleteCall> calls_;
};

// Kernel settings in a map. Only names that were Set exist: Read and Write of
// any other name are NotFound, as /proc/sys is for a missing interface.
class FakeSysctl : public Sysctl {
 public:
  FakeSysctl() = default;
  FakeSysctl(const FakeSysctl&) = delete;
  FakeSysctl& operator=(const FakeSysctl&) = delete;

  absl::StatusOr<std::string> Read(const std::string& name) override;
  // Stores `value` (whitespace-trimmed, as a read of /proc gives it back).
  // An injected failure changes nothing.
  absl::Status Write(const std::string& name,
                     const std::string& value) override;

  // /proc/net/<name>, set with SetProcNet; NotFound otherwise.
  absl::StatusOr<std::string> ReadProcNet(const std::string& name) override;
  void SetProcNet(const std::string& name, const std::string& value);

  // Creates or overwrites a setting (an interface appearing).
  void Set(const std::string& name, const std::string& value);
  // Removes a setting (an interface disappearing).
  void Remove(const std::string& name);
  // The next Write returns `status` (not OK). Injections queue.
  void FailNextWrite(absl::Status status);
  // Every Write call as (name, value), in order, including failed ones.
  std::vector<std::pair<std::string, std::string>> writes() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> proc_net_;

  std::deque<absl::Status> write_failures_;
  std::vector<std::pair<std::string, std::string>> writes_;
};

}  // namespace hostport::testing

#endif  // HOSTPORT_TESTING_FAKES_H_
