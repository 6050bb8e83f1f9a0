#include "tools/state_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hostport/naming.h"

namespace hostport {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
        return Errno("cannot create", partial);
      }
    }
  }
  return absl::OkStatus();
}

nlohmann::json EntryToJson(const PodEntry& e) {
  nlohmann::json mappings = nlohmann::json::array();
  for (const PortMapping& m : e.pod.port_mappings) {
    mappings.push_back({{"host_port", m.host_port},
                        {"container_port", m.container_port},
                        {"protocol", std::string(ProtocolName(m.protocol))},
                        {"host_ip", m.host_ip}});
  }
  return {{"id", e.id},
          {"namespace", e.pod.namespace_},
          {"name", e.pod.name},
          {"ips", e.pod.ips},
          {"host_network", e.pod.host_network},
          {"nat_interface", e.nat_interface},
          {"port_mappings", mappings}};
}

absl::StatusOr<HeldPod> ReadRecord(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("pod") ||
      !doc["backend"].is_string()) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a hostport state record"));
  }
  absl::StatusOr<std::vector<PodEntry>> entries =
      ParsePodsJson(doc["pod"].dump());
  if (!entries.ok() || entries->size() != 1) {
    return absl::DataLossError(absl::StrCat(
        path, ": damaged record: ",
        entries.ok() ? "not one pod" : entries.status().message()));
  }
  return HeldPod{std::move((*entries)[0]), doc["backend"].get<std::string>()};
}

}  // namespace

std::string PodEntryJson(const PodEntry& entry) {
  return EntryToJson(entry).dump();
}

std::string StateDir::PodPath(const std::string& id) const {
  return absl::StrCat(path_, "/pods/", OwnerComment(id), ".json");
}

absl::Status StateDir::Write(const HeldPod& pod) const {
  if (absl::Status s = MakeDirs(absl::StrCat(path_, "/pods")); !s.ok())
    return s;
  const std::string final_path = PodPath(pod.entry.id);
  const std::string tmp = absl::StrCat(final_path, ".tmp");
  nlohmann::json doc = {{"backend", pod.backend},
                        {"pod", EntryToJson(pod.entry)}};
  const std::string text = doc.dump(2) + "\n";
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t w = write(fd, text.data() + written, text.size() - written);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlink(tmp.c_str());
      return Errno("cannot write", tmp);
    }
    written += static_cast<size_t>(w);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return Errno("cannot flush", tmp);
  }
  if (rename(tmp.c_str(), final_path.c_str()) != 0) {
    unlink(tmp.c_str());
    return Errno("cannot rename into", final_path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<HeldPod>> StateDir::Read(
    const std::string& id) const {
  const std::string path = PodPath(id);
  if (access(path.c_str(), F_OK) != 0) return std::optional<HeldPod>();
  absl::StatusOr<HeldPod> record = ReadRecord(path);
  if (!record.ok()) return record.status();
  return std::optional<HeldPod>(std::move(*record));
}

absl::Status StateDir::Delete(const std::string& id) const {
  const std::string path = PodPath(id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot delete", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HeldPod>> StateDir::List() const {
  std::vector<HeldPod> pods;
  const std::string dir_path = absl::StrCat(path_, "/pods");
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return pods;
    return Errno("cannot read", dir_path);
  }
  std::vector<std::string> files;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (absl::EndsWith(name, ".json")) files.push_back(name);
  }
  closedir(dir);
  for (const std::string& file : files) {
    absl::StatusOr<HeldPod> record =
        ReadRecord(absl::StrCat(dir_path, "/", file));
    if (!record.ok()) return record.status();
    pods.push_back(std::move(*record));
  }
  std::sort(pods.begin(), pods.end(), [](const HeldPod& a, const HeldPod& b) {
    return a.entry.id < b.entry.id;
  });
  return pods;
}

}  // namespace hostport
