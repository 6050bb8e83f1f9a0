#include "hostport/testing/fakes.h"

#include <algorithm>
#include <cstdint>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hostport::testing {

struct FakePortHolder::State {
  std::mutex mu;
  uint64_t next_id = 0;
  std::map<uint64_t, PortKey> held;  // By id: the order of taking.
  std::optional<std::vector<IpAddress>> local_addresses;
  absl::flat_hash_set<Protocol> unsupported;
  std::deque<absl::Status> failures;
  int hold_calls = 0;
};

namespace {

// Runs `release` when destroyed.
class FakeHeldPort : public HeldPort {
 public:
  explicit FakeHeldPort(std::function<void()> release)
      : release_(std::move(release)) {}
  ~FakeHeldPort() override { release_(); }

 private:
  std::function<void()> release_;
};

bool Conflict(const PortKey& a, const PortKey& b) {
  return a.family == b.family && a.protocol == b.protocol && a.port == b.port &&
         (!a.address.has_value() || !b.address.has_value() ||
          a.address->IsUnspecified() || b.address->IsUnspecified() ||
          *a.address == *b.address);
}

}  // namespace

FakePortHolder::FakePortHolder() : state_(std::make_shared<State>()) {}

absl::StatusOr<std::unique_ptr<HeldPort>> FakePortHolder::Hold(
    const PortKey& key) {
  std::lock_guard<std::mutex> lock(state_->mu);
  ++state_->hold_calls;
  if (!state_->failures.empty()) {
    absl::Status injected = std::move(state_->failures.front());
    state_->failures.pop_front();
    return injected;
  }
  const std::string what = absl::StrCat("cannot hold ", key.ToString(), ": ");
  if ((key.address.has_value() && key.address->family() != key.family) ||
      key.port < 1 || key.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, "the address must be of the key's family and the port 1..65535"));
  }
  if (state_->unsupported.contains(key.protocol)) {
    return absl::UnimplementedError(
        absl::StrCat(what, "socket: Protocol not supported (the kernel lacks ",
                     ProtocolKeyword(key.protocol), ")"));
  }
  if (key.address.has_value() && !key.address->IsUnspecified() &&
      state_->local_addresses.has_value() &&
      std::find(state_->local_addresses->begin(),
                state_->local_addresses->end(),
                *key.address) == state_->local_addresses->end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        "bind: Cannot assign requested address (the address is not one of "
        "this host's)"));
  }
  for (const auto& [id, held] : state_->held) {
    if (Conflict(key, held)) {
      return absl::AlreadyExistsError(
          absl::StrCat(what,
                       "bind: Address already in use (another socket holds the "
                       "port: ",
                       held.ToString(), ")"));
    }
  }
  const uint64_t id = state_->next_id++;
  state_->held.emplace(id, key);
  // The state outlives the holder while a port is held.
  return std::make_unique<FakeHeldPort>([state = state_, id] {
    std::lock_guard<std::mutex> lock(state->mu);
    state->held.erase(id);
  });
}

void FakePortHolder::SetLocalAddresses(std::vector<IpAddress> addresses) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->local_addresses = std::move(addresses);
}

void FakePortHolder::SetUnsupported(Protocol protocol) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->unsupported.insert(protocol);
}

void FakePortHolder::FailNext(absl::Status status) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->failures.push_back(std::move(status));
}

std::vector<PortKey> FakePortHolder::Held() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<PortKey> keys;
  for (const auto& [id, key] : state_->held) keys.push_back(key);
  return keys;
}

int FakePortHolder::hold_calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->hold_calls;
}

absl::StatusOr<int> FakeConntrack::DeleteUdp(
    IPFamily family, const std::vector<UdpDestination>& destinations) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(DeleteCall{family, destinations});
  if (!failures_.empty()) {
    absl::Status injected = std::move(failures_.front());
    failures_.pop_front();
    return injected;
  }
  const auto matches = [&](const Entry& e) {
    if (e.family != family || e.protocol != Protocol::kUDP) return false;
    for (const UdpDestination& d : destinations) {
      if (e.orig_dst_port == d.port &&
          (!d.address.has_value() || e.orig_dst == *d.address)) {
        return true;
      }
    }
    return false;
  };
  const auto end = std::remove_if(entries_.begin(), entries_.end(), matches);
  const int deleted = static_cast<int>(entries_.end() - end);
  entries_.erase(end, entries_.end());
  return deleted;
}

void FakeConntrack::Add(const Entry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.push_back(entry);
}

std::vector<FakeConntrack::Entry> FakeConntrack::Entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

void FakeConntrack::FailNext(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.push_back(std::move(status));
}

std::vector<FakeConntrack::DeleteCall> FakeConntrack::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

absl::StatusOr<std::string> FakeSysctl::Read(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(name);
  if (it == values_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sysctl ", name, " does not exist"));
  }
  return it->second;
}

absl::StatusOr<std::string> FakeSysctl::ReadProcNet(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = proc_net_.find(name);
  if (it == proc_net_.end()) {
    return absl::NotFoundError(
        absl::StrCat("/proc/net/", name, " does not exist"));
  }
  return it->second;
}

void FakeSysctl::SetProcNet(const std::string& name, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  proc_net_[name] = value;
}

absl::Status FakeSysctl::Write(const std::string& name,

                               const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  writes_.emplace_back(name, value);
  if (!write_failures_.empty()) {
    absl::Status injected = std::move(write_failures_.front());
    write_failures_.pop_front();
    return injected;
  }
  auto it = values_.find(name);
  if (it == values_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sysctl ", name, " does not exist"));
  }
  it->second = std::string(absl::StripAsciiWhitespace(value));
  return absl::OkStatus();
}

void FakeSysctl::Set(const std::string& name, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[name] = value;
}

void FakeSysctl::Remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  values_.erase(name);
}

void FakeSysctl::FailNextWrite(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  write_failures_.push_back(std::move(status));
}

std::vector<std::pair<std::string, std::string>> FakeSysctl::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

}  // namespace hostport::testing
