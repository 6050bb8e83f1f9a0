// StateDir: which pods this host holds, as hostportctl records them (DESIGN §8:
// --state-dir, default /run/hostport).
//
// One file per pod, `pods/<OwnerComment(id)>.json`, holding the pod's entry in
// pods-file form plus the backend that installed it. Files are written to a
// temporary name and renamed into place, so a reader sees the old record or the
// new one, never half.
#ifndef TOOLS_STATE_DIR_H_
#define TOOLS_STATE_DIR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/pods_file.h"

namespace hostport {

struct HeldPod {
  PodEntry entry;
  std::string backend;  // "nftables", "iptables-legacy", ...
};

class StateDir {
 public:
  explicit StateDir(std::string path) : path_(std::move(path)) {}

  // Writes (or replaces) the record of `pod.entry.id` atomically, creating the
  // directory when needed.
  absl::Status Write(const HeldPod& pod) const;
  // The record of `id`, or nullopt when there is none.
  absl::StatusOr<std::optional<HeldPod>> Read(const std::string& id) const;
  // Deletes the record of `id`; no error when there is none.
  absl::Status Delete(const std::string& id) const;
  // Every record, ordered by id.
  absl::StatusOr<std::vector<HeldPod>> List() const;

  const std::string& path() const { return path_; }

 private:
  std::string PodPath(const std::string& id) const;

  std::string path_;
};

// The JSON of one pod entry, as a pods file holds it.
std::string PodEntryJson(const PodEntry& entry);

}  // namespace hostport

#endif  // TOOLS_STATE_DIR_H_
