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
// An index beside the records lets a change read only the records it
// concerns: `index/port/<protocol>-<host port>/<OwnerComment(id)>` for every
// mapping a record names (previous mappings included), and
// `index/natif/<interface>/<OwnerComment(id)>` for a pod that needs
// route_localnet there (empty files). Markers are created before the record
// they index is written and removed after it is deleted or rewritten without
// them, so the index never misses a record; a marker without its record is
// ignored and removed. Lock() builds the index once for a directory written
// before it existed. Markers are not fsynced: the directory is meant for
// /run, which does not outlive the kernel's rules.
//
// REQUIRES: changes happen under Lock(). The directory must belong to the
// caller and be writable by no one else; otherwise every call refuses it.
#ifndef TOOLS_STATE_DIR_H_
#define TOOLS_STATE_DIR_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/pods_file.h"

namespace hostport {

struct HeldPod {
  PodRequest entry;
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

  // What a change to `entries` needs of the records, read through the index
  // at a cost that does not grow with the number of records.
  struct Related {
    // The records of the entries' ids and of every pod that uses a host port
    // (protocol and port) that they or their records use. Ordered by id.
    std::vector<HeldPod> pods;
    std::vector<DamagedRecord> damaged;
    // No record exists beyond `pods`.
    bool whole_host = true;
    // Of `interfaces`, the entries' and the records' NAT interfaces: those
    // that a pod beyond `pods` needs route_localnet on.
    std::set<std::string> interfaces_in_use;
  };
  // `interfaces`: further NAT interfaces whose other users matter (those
  // route_localnet.json names).
  absl::StatusOr<Related> ListRelated(
      const std::vector<PodRequest>& entries,
      const std::set<std::string>& interfaces) const;

  // How the records differ from `entries` as `backend` would record them:
  // the entries whose record is missing or not exactly theirs (settled,
  // same backend, same pod), and the records no entry names. Compares each
  // entry's record, as bytes, with the text Write() would give it, parsing
  // only the records that go.
  struct Diff {
    std::vector<size_t> changed;         // Indexes into `entries`, ascending.
    std::vector<HeldPod> stale;          // Ordered by file name.
    std::vector<DamagedRecord> damaged;  // Records that go, unreadable.
  };
  absl::StatusOr<Diff> DiffAgainst(const std::vector<PodRequest>& entries,
                                   const std::string& backend) const;

  // Interface → route_localnet value to put back (empty when none recorded).
  absl::StatusOr<std::map<std::string, std::string>> ReadRouteLocalnet() const;
  absl::Status WriteRouteLocalnet(
      const std::map<std::string, std::string>& before) const;

  const std::string& path() const { return path_; }

 private:
  std::string PodPath(const std::string& id) const;
  // The record whose file is named by owner comment `comment`.
  std::string RecordPath(const std::string& comment) const;
  // Markers of `pod` (relative paths "port/tcp-8080", "natif/hp-br0").
  static std::set<std::string> IndexKeys(const HeldPod& pod);
  absl::Status AddMarkers(const std::set<std::string>& keys,
                          const std::string& comment) const;
  void RemoveMarkers(const std::set<std::string>& keys,
                     const std::string& comment) const;
  // The owner comments marked under index/`key`, up to the first for which
  // `stop` (when given) returns true.
  std::vector<std::string> Marked(
      const std::string& key,
      const std::function<bool(const std::string&)>& stop = nullptr) const;
  // Builds the index when the directory has records but no index yet.
  absl::Status EnsureIndex() const;
  absl::Status CheckDirectory() const;
  absl::Status WriteFile(const std::string& final_path,
                         const std::string& text) const;

  std::string path_;
};

// The JSON of one pod, as a pods file holds it.
std::string PodRequestJson(const PodRequest& entry);

}  // namespace hostport

#endif  // TOOLS_STATE_DIR_H_
