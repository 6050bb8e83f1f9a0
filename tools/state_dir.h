// StateDir: which pods this host holds, as hostportctl and hostport-cni record
// them (DESIGN §8: --state-dir, default /run/hostport, shared by both).
//
// One file per pod, `pods/<OwnerComment(id)>.json`, holding the pod's entry in
// pods-file form, the backend that installed it, and whether the change is
// settled. A record is written *before* the kernel changes (pending, with the
// mappings the id held before, if any) and settled after, so a process killed
// in between leaves a record from which a later remove or CNI DEL finds every
// rule of the id. Files are written to a fresh temporary name (O_EXCL |
// O_NOFOLLOW: a planted link is never followed) and renamed into place, so a
// reader sees the old record or the new one, never half. Besides the records,
// `route_localnet.json` keeps the values to put back per interface.
//
// REQUIRES: changes happen under Lock(). The directory must belong to the
// caller and be writable by no one else; otherwise every call refuses it.
#ifndef TOOLS_STATE_DIR_H_
#define TOOLS_STATE_DIR_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/pods_file.h"

namespace hostport {

struct HeldPod {
  PodEntry entry;
  std::string backend;  // "nftables", "iptables-legacy", ...
  // Written before the kernel change and not yet settled: the kernel may hold
  // the entry's mappings, `previous_mappings`, both or neither.
  bool pending = false;
  std::vector<PortMapping> previous_mappings;

  // Every mapping the kernel may hold for the id: what removing it needs.
  PodPortMapping AllMappings() const;
};

// A record that could not be read, and why.
struct DamagedRecord {
  std::string path;
  std::string error;
};

// The host-wide lock: held by one process at a time, from reading the records
// to writing them back. Released when destroyed (and by the kernel when the
// process dies).
class StateLock {
 public:
  explicit StateLock(int fd) : fd_(fd) {}
  StateLock(StateLock&& other) : fd_(other.fd_) { other.fd_ = -1; }
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  ~StateLock();

 private:
  int fd_;
};

class StateDir {
 public:
  explicit StateDir(std::string path) : path_(std::move(path)) {}

  // Creates the directory when needed (0700), refuses one that another user
  // may write, and waits for the lock (flock on DIR/lock).
  absl::StatusOr<StateLock> Lock() const;

  // Writes (or replaces) the record of `pod.entry.id` atomically.
  absl::Status Write(const HeldPod& pod) const;
  // The record of `id`, or nullopt when there is none.
  absl::StatusOr<std::optional<HeldPod>> Read(const std::string& id) const;
  // Deletes the record of `id`; no error when there is none.
  absl::Status Delete(const std::string& id) const;

  struct Listing {
    std::vector<HeldPod> pods;  // Ordered by id.
    std::vector<DamagedRecord> damaged;
  };
  // Every record; a record that cannot be read is reported in `damaged` and
  // the others still listed. An error only when the directory cannot be read.
  absl::StatusOr<Listing> List() const;

  // Interface → route_localnet value to put back (empty when none recorded).
  absl::StatusOr<std::map<std::string, std::string>> ReadRouteLocalnet() const;
  absl::Status WriteRouteLocalnet(
      const std::map<std::string, std::string>& before) const;

  const std::string& path() const { return path_; }

 private:
  std::string PodPath(const std::string& id) const;
  absl::Status CheckDirectory() const;
  absl::Status WriteFile(const std::string& final_path,
                         const std::string& text) const;

  std::string path_;
};

// The JSON of one pod entry, as a pods file holds it.
std::string PodEntryJson(const PodEntry& entry);

}  // namespace hostport

#endif  // TOOLS_STATE_DIR_H_
