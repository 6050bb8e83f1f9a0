#include "tools/state_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "hostport/model/naming.h"
#include "hostport/model/plan.h"

namespace hostport {
namespace {

// Calls `each` with the names in the directory open as `dir_fd` but "." and
// "..", from its current offset, until it returns true. Reads about fifty
// entries at a time: readdir(3) fetches 32 KB of them per call, so a scan
// that stops at the first entry would read eight hundred.
void EachEntryAt(int dir_fd,
                 const std::function<bool(const std::string&)>& each) {
  alignas(dirent64) char buffer[2048];
  bool stopped = false;
  while (!stopped) {
    const ssize_t n = getdents64(dir_fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t at = 0; at < n && !stopped;) {
      const auto* entry = reinterpret_cast<const dirent64*>(buffer + at);
      at += entry->d_reclen;
      const std::string name = entry->d_name;
      if (name != "." && name != "..") stopped = each(name);
    }
  }
}

// EachEntryAt of directory `path`. False, with errno set, when it cannot be
// opened.
bool EachEntry(const std::string& path,
               const std::function<bool(const std::string&)>& each) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  EachEntryAt(fd, each);
  close(fd);
  return true;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    const std::string partial = path.substr(0, i);
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return Errno("cannot create", partial);
    }
  }
  return absl::OkStatus();
}

// A directory the records may live in: a real directory (not a link), the
// caller's, and writable by no one else, so nobody can plant or swap a file.
absl::Status CheckPrivate(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return Errno("cannot inspect", path);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state directory ", path,
                     " is not a directory (a link or a file): want a "
                     "directory of its own"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "state directory %s belongs to uid %d, not to this process (uid %d): "
        "want a directory of the user that runs hostport",
        path, st.st_uid, geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "state directory %s is writable by others (mode %04o): want one only "
        "its owner may write (chmod go-w %s)",
        path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

nlohmann::json MappingsToJson(const std::vector<PortMapping>& mappings) {
  nlohmann::json out = nlohmann::json::array();
  for (const PortMapping& m : mappings) {
    out.push_back({{"host_port", m.host_port},
                   {"container_port", m.container_port},
                   {"protocol", std::string(ProtocolName(m.protocol))},
                   {"host_ip", m.host_ip}});
  }
  return out;
}

nlohmann::json EntryToJson(const PodRequest& e) {
  return {{"id", e.id},
          {"namespace", e.pod.namespace_},
          {"name", e.pod.name},
          {"ips", e.pod.ips},
          {"host_network", e.pod.host_network},
          {"nat_interface", e.nat_interface},
          {"port_mappings", MappingsToJson(e.pod.port_mappings)}};
}

absl::StatusOr<HeldPod> ReadRecord(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  nlohmann::json doc = CheckJsonDepth(*text).ok()
                           ? nlohmann::json::parse(*text, nullptr, false)
                           : nlohmann::json(nlohmann::json::value_t::discarded);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("pod") ||
      !doc.contains("backend") || !doc["backend"].is_string() ||
      (doc.contains("pending") && !doc["pending"].is_boolean()) ||
      !doc.value("pending", false) == doc.contains("previous_mappings")) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a hostport state record"));
  }
  HeldPod held;
  held.backend = doc["backend"].get<std::string>();
  absl::StatusOr<std::vector<PodRequest>> entries =
      ParsePodsJson(doc["pod"].dump());
  if (!entries.ok() || entries->size() != 1) {
    return absl::DataLossError(absl::StrCat(
        path, ": damaged record: ",
        entries.ok() ? "not one pod" : entries.status().message()));
  }
  held.entry = std::move((*entries)[0]);
  if (doc.value("pending", false)) {
    held.pending = true;
    nlohmann::json previous = {{"id", held.entry.id},
                               {"port_mappings", doc["previous_mappings"]}};
    absl::StatusOr<std::vector<PodRequest>> parsed =
        ParsePodsJson(previous.dump());
    if (!parsed.ok()) {
      return absl::DataLossError(absl::StrCat(
          path,
          ": damaged record: previous_mappings: ", parsed.status().message()));
    }
    held.previous_mappings = (*parsed)[0].pod.port_mappings;
  }
  return held;
}

}  // namespace

PodPortMapping HeldPod::AllMappings() const {
  PodPortMapping pod = entry.pod;
  pod.port_mappings.insert(pod.port_mappings.end(), previous_mappings.begin(),
                           previous_mappings.end());
  return pod;
}

StateLock::~StateLock() {
  if (fd_ >= 0) close(fd_);  // Closing the last descriptor releases the flock.
}

std::string PodRequestJson(const PodRequest& entry) {
  return EntryToJson(entry).dump();
}

std::string StateDir::PodPath(const std::string& id) const {
  return RecordPath(OwnerComment(id));
}

std::string StateDir::RecordPath(const std::string& comment) const {
  return absl::StrCat(path_, "/pods/", comment, ".json");
}

absl::Status StateDir::CheckDirectory() const {
  if (absl::Status s = CheckPrivate(path_); !s.ok()) return s;
  const std::string pods = absl::StrCat(path_, "/pods");
  struct stat st;
  if (lstat(pods.c_str(), &st) != 0 && errno == ENOENT) return absl::OkStatus();
  return CheckPrivate(pods);
}

absl::StatusOr<StateLock> StateDir::Lock() const {
  if (absl::Status s = MakeDirs(absl::StrCat(path_, "/pods")); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDirectory(); !s.ok()) return s;
  const std::string path = absl::StrCat(path_, "/lock");
  // O_CLOEXEC: a program we start (iptables-restore) must not keep the lock
  // after we die.
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot open", path);
  StateLock lock(fd);
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return Errno("cannot lock", path);
  }
  if (absl::Status s = EnsureIndex(); !s.ok()) return s;
  return lock;
}

std::set<std::string> StateDir::IndexKeys(const HeldPod& pod) {
  std::set<std::string> keys;
  for (const PortMapping& m : pod.AllMappings().port_mappings) {
    keys.insert(absl::StrCat("port/",
                             absl::AsciiStrToLower(ProtocolName(m.protocol)),
                             "-", m.host_port));
  }
  const std::string& iface = pod.entry.nat_interface;
  if (!iface.empty() && iface != "lo" && ValidateInterfaceName(iface).ok()) {
    // A record that does not plan keeps its interface, to be safe.
    absl::StatusOr<PodPlan> plan =
        PlanPod(pod.entry.id, pod.entry.pod, pod.entry.nat_interface);
    if (!plan.ok() || !plan->ipv4.mappings.empty()) {
      keys.insert(absl::StrCat("natif/", iface));
    }
  }
  return keys;
}

absl::Status StateDir::AddMarkers(const std::set<std::string>& keys,
                                  const std::string& comment) const {
  for (const std::string& key : keys) {
    const std::string dir = absl::StrCat(path_, "/index/", key);
    if (absl::Status s = MakeDirs(dir); !s.ok()) return s;
    const std::string marker = absl::StrCat(dir, "/", comment);
    const int fd =
        open(marker.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", marker);
    close(fd);
  }
  return absl::OkStatus();
}

void StateDir::RemoveMarkers(const std::set<std::string>& keys,
                             const std::string& comment) const {
  for (const std::string& key : keys) {
    // A marker left behind is harmless: readers skip it.
    unlink(absl::StrCat(path_, "/index/", key, "/", comment).c_str());
  }
}

std::vector<std::string> StateDir::Marked(
    const std::string& key,
    const std::function<bool(const std::string&)>& stop) const {
  std::vector<std::string> comments;
  EachEntry(absl::StrCat(path_, "/index/", key), [&](const std::string& name) {
    if (name[0] == '.') return false;
    comments.push_back(name);
    return stop && stop(comments.back());
  });
  return comments;
}

absl::Status StateDir::EnsureIndex() const {
  const std::string version = absl::StrCat(path_, "/index/version");
  if (access(version.c_str(), F_OK) == 0) return absl::OkStatus();
  absl::StatusOr<Listing> listing = List();
  if (!listing.ok()) return listing.status();
  for (const HeldPod& pod : listing->pods) {
    if (absl::Status s = AddMarkers(IndexKeys(pod), OwnerComment(pod.entry.id));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = MakeDirs(absl::StrCat(path_, "/index")); !s.ok()) {
    return s;
  }
  return WriteFile(version, "1\n");
}

absl::Status StateDir::WriteFile(const std::string& final_path,
                                 const std::string& text) const {
  if (absl::Status s = MakeDirs(absl::StrCat(path_, "/pods")); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDirectory(); !s.ok()) return s;
  const std::string tmp = absl::StrCat(final_path, ".tmp.", getpid());
  // A leftover of a killed process with our pid, or something planted: the
  // name is ours under the lock. unlink removes a link, never its target.
  if (unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot clear", tmp);
  }
  const int fd = open(
      tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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

namespace {

// Appends `text` as a JSON string, escaped as nlohmann::json escapes it.
void AppendJsonString(absl::string_view text, std::string* out) {
  out->push_back('"');
  size_t plain = 0;  // Start of the run of characters that need no escape.
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        absl::StrAppendFormat(out, "\\u%04x", c);
    }
  }
  out->append(text.data() + plain, text.size() - plain);
  out->push_back('"');
}

// Appends `mappings` as a JSON array, indented as nlohmann::json's dump(2)
// does under a key indented by `indent`.
void AppendMappings(const std::vector<PortMapping>& mappings,
                    absl::string_view indent, std::string* out) {
  if (mappings.empty()) {
    out->append("[]");
    return;
  }
  out->append("[\n");
  for (size_t i = 0; i < mappings.size(); ++i) {
    const PortMapping& m = mappings[i];
    absl::StrAppend(out, indent, "  {\n", indent,
                    "    \"container_port\": ", m.container_port, ",\n", indent,
                    "    \"host_ip\": ");
    AppendJsonString(m.host_ip, out);
    absl::StrAppend(out, ",\n", indent, "    \"host_port\": ", m.host_port,
                    ",\n", indent, "    \"protocol\": \"",
                    ProtocolName(m.protocol), "\"\n", indent, "  }",
                    i + 1 < mappings.size() ? ",\n" : "\n");
  }
  absl::StrAppend(out, indent, "]");
}

// The text Write() puts in a record: the record's JSON document as
// nlohmann::json's dump(2) prints it (keys sorted), and a newline. Built
// directly, since sync compares it with every record, for 50,000 pods.
void AppendRecordText(const PodRequest& entry, absl::string_view backend,
                      bool pending,
                      const std::vector<PortMapping>& previous_mappings,
                      std::string* out) {
  out->append("{\n  \"backend\": ");
  AppendJsonString(backend, out);
  if (pending) out->append(",\n  \"pending\": true");
  absl::StrAppend(out, ",\n  \"pod\": {\n    \"host_network\": ",
                  entry.pod.host_network ? "true" : "false", ",\n    \"id\": ");
  AppendJsonString(entry.id, out);
  out->append(",\n    \"ips\": ");
  if (entry.pod.ips.empty()) {
    out->append("[]");
  } else {
    out->append("[\n");
    for (size_t i = 0; i < entry.pod.ips.size(); ++i) {
      out->append("      ");
      AppendJsonString(entry.pod.ips[i], out);
      out->append(i + 1 < entry.pod.ips.size() ? ",\n" : "\n");
    }
    out->append("    ]");
  }
  out->append(",\n    \"name\": ");
  AppendJsonString(entry.pod.name, out);
  out->append(",\n    \"namespace\": ");
  AppendJsonString(entry.pod.namespace_, out);
  out->append(",\n    \"nat_interface\": ");
  AppendJsonString(entry.nat_interface, out);
  out->append(",\n    \"port_mappings\": ");
  AppendMappings(entry.pod.port_mappings, "    ", out);
  out->append("\n  }");
  if (pending) {
    out->append(",\n  \"previous_mappings\": ");
    AppendMappings(previous_mappings, "  ", out);
  }
  out->append("\n}\n");
}

std::string RecordText(const HeldPod& pod) {
  std::string text;
  AppendRecordText(pod.entry, pod.backend, pod.pending, pod.previous_mappings,
                   &text);
  return text;
}

// Whether the file `name` in directory `dir_fd` holds exactly `want`.
// `buffer` is scratch space, kept between calls.
bool HoldsExactly(int dir_fd, const char* name, absl::string_view want,
                  std::string* buffer) {
  const int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // One byte more than `want`, to see a longer file.
  buffer->resize(want.size() + 1);
  size_t size = 0;
  while (size < buffer->size()) {
    const ssize_t n = read(fd, &(*buffer)[size], buffer->size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  return absl::string_view(*buffer).substr(0, size) == want;
}

}  // namespace

absl::StatusOr<StateDir::Diff> StateDir::DiffAgainst(
    const std::vector<PodRequest>& entries, const std::string& backend) const {
  Diff diff;
  // File names ("<owner comment>.json") of the records not yet matched.
  absl::flat_hash_set<std::string> left;
  const std::string dir_path = absl::StrCat(path_, "/pods");
  const int dir_fd = open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 && errno != ENOENT) return Errno("cannot read", dir_path);
  if (dir_fd >= 0) {
    EachEntryAt(dir_fd, [&](const std::string& name) {
      if (absl::EndsWith(name, ".json")) left.insert(name);
      return false;
    });
  }
  std::string name, want, buffer;
  for (size_t i = 0; i < entries.size(); ++i) {
    const PodRequest& e = entries[i];
    name = absl::StrCat(OwnerComment(e.id), ".json");
    auto it = left.find(name);
    if (it == left.end()) {
      diff.changed.push_back(i);
      continue;
    }
    left.erase(it);
    want.clear();
    AppendRecordText(e, backend, /*pending=*/false, {}, &want);
    if (!HoldsExactly(dir_fd, name.c_str(), want, &buffer)) {
      diff.changed.push_back(i);
    }
  }
  if (dir_fd >= 0) close(dir_fd);
  std::vector<std::string> gone(left.begin(), left.end());
  std::sort(gone.begin(), gone.end());
  for (const std::string& file : gone) {
    const std::string path = absl::StrCat(dir_path, "/", file);
    absl::StatusOr<HeldPod> record = ReadRecord(path);
    if (!record.ok()) {
      diff.damaged.push_back({path, std::string(record.status().message())});
      continue;
    }
    diff.stale.push_back(*std::move(record));
  }
  return diff;
}

absl::Status StateDir::Write(const HeldPod& pod) const {
  // The index first: it may name more than the records, never less.
  const std::string comment = OwnerComment(pod.entry.id);
  const std::set<std::string> keys = IndexKeys(pod);
  if (absl::Status s = AddMarkers(keys, comment); !s.ok()) return s;
  absl::StatusOr<std::optional<HeldPod>> old = Read(pod.entry.id);
  if (absl::Status s = WriteFile(PodPath(pod.entry.id), RecordText(pod));
      !s.ok()) {
    return s;
  }
  if (old.ok() && old->has_value()) {
    std::set<std::string> stale;
    for (const std::string& key : IndexKeys(**old)) {
      if (keys.count(key) == 0) stale.insert(key);
    }
    RemoveMarkers(stale, comment);
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
  absl::StatusOr<std::optional<HeldPod>> old = Read(id);
  const std::string path = PodPath(id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot delete", path);
  }
  if (old.ok() && old->has_value()) {
    RemoveMarkers(IndexKeys(**old), OwnerComment(id));
  }
  return absl::OkStatus();
}

absl::StatusOr<StateDir::Related> StateDir::ListRelated(
    const std::vector<PodRequest>& entries,
    const std::set<std::string>& interfaces) const {
  Related related;
  std::set<std::string> comments;  // Of the records read or tried.
  std::set<std::string> missing;   // Of those, the ones that do not exist.
  // Reads the record of `comment` once; the record, or null.
  auto read = [&](const std::string& comment) -> const HeldPod* {
    if (!comments.insert(comment).second) return nullptr;
    const std::string path = RecordPath(comment);
    if (access(path.c_str(), F_OK) != 0) {
      missing.insert(comment);
      return nullptr;
    }
    absl::StatusOr<HeldPod> record = ReadRecord(path);
    if (!record.ok()) {
      related.damaged.push_back({path, std::string(record.status().message())});
      return nullptr;
    }
    related.pods.push_back(*std::move(record));
    return &related.pods.back();
  };
  // The host ports of the entries and of their own records (what the ids
  // may hold now): the pods marked on them are the ones that can conflict.
  std::set<std::string> keys;
  auto add_ports = [&](const HeldPod& pod) {
    for (const std::string& key : IndexKeys(pod)) {
      if (absl::StartsWith(key, "port/")) keys.insert(key);
    }
  };
  for (const PodRequest& e : entries) {
    add_ports(HeldPod{e, "", false, {}});
    if (const HeldPod* own = read(OwnerComment(e.id))) add_ports(*own);
  }
  for (const std::string& key : keys) {
    for (const std::string& comment : Marked(key)) {
      read(comment);
      // Left by a process killed between deleting a record and its markers.
      if (missing.count(comment) > 0) RemoveMarkers({key}, comment);
    }
  }
  std::set<std::string> ifaces = interfaces;
  for (const PodRequest& e : entries) {
    if (!e.nat_interface.empty()) ifaces.insert(e.nat_interface);
  }
  for (const HeldPod& pod : related.pods) {
    if (!pod.entry.nat_interface.empty()) {
      ifaces.insert(pod.entry.nat_interface);
    }
  }
  for (const std::string& iface : ifaces) {
    if (!ValidateInterfaceName(iface).ok()) continue;
    // Stops at the first other user: a busy bridge has thousands.
    Marked(absl::StrCat("natif/", iface), [&](const std::string& comment) {
      if (comments.count(comment) > 0 ||
          access(RecordPath(comment).c_str(), F_OK) != 0) {
        return false;
      }
      related.interfaces_in_use.insert(iface);
      return true;
    });
  }
  // Any record beyond those read? Stops at the first one found.
  EachEntry(absl::StrCat(path_, "/pods"), [&](const std::string& file) {
    absl::string_view name = file;
    if (!absl::ConsumeSuffix(&name, ".json") ||
        comments.count(std::string(name)) > 0) {
      return false;
    }
    related.whole_host = false;
    return true;
  });
  std::sort(related.pods.begin(), related.pods.end(),
            [](const HeldPod& a, const HeldPod& b) {
              return a.entry.id < b.entry.id;
            });
  return related;
}

absl::StatusOr<StateDir::Listing> StateDir::List() const {
  Listing listing;
  const std::string dir_path = absl::StrCat(path_, "/pods");
  std::vector<std::string> files;
  if (!EachEntry(dir_path, [&](const std::string& name) {
        if (absl::EndsWith(name, ".json")) files.push_back(name);
        return false;
      })) {
    if (errno == ENOENT) return listing;
    return Errno("cannot read", dir_path);
  }
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    const std::string path = absl::StrCat(dir_path, "/", file);
    absl::StatusOr<HeldPod> record = ReadRecord(path);
    if (!record.ok()) {
      listing.damaged.push_back({path, std::string(record.status().message())});
      continue;
    }
    listing.pods.push_back(std::move(*record));
  }
  std::sort(listing.pods.begin(), listing.pods.end(),
            [](const HeldPod& a, const HeldPod& b) {
              return a.entry.id < b.entry.id;
            });
  return listing;
}

absl::StatusOr<std::map<std::string, std::string>> StateDir::ReadRouteLocalnet()
    const {
  std::map<std::string, std::string> before;
  const std::string path = absl::StrCat(path_, "/route_localnet.json");
  if (access(path.c_str(), F_OK) != 0) return before;
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  nlohmann::json doc = CheckJsonDepth(*text).ok()
                           ? nlohmann::json::parse(*text, nullptr, false)
                           : nlohmann::json(nlohmann::json::value_t::discarded);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::DataLossError(
        absl::StrCat(path, ": not an object of interface: value"));
  }
  for (const auto& [iface, value] : doc.items()) {
    if (!value.is_string() || (value != "0" && value != "1")) {
      return absl::DataLossError(absl::StrCat(path, ": interface ", iface,
                                              " has ", value.dump(),
                                              ": want \"0\" or \"1\""));
    }
    before[iface] = value.get<std::string>();
  }
  return before;
}

absl::Status StateDir::WriteRouteLocalnet(
    const std::map<std::string, std::string>& before) const {
  nlohmann::json doc = nlohmann::json::object();
  for (const auto& [iface, value] : before) doc[iface] = value;
  return WriteFile(absl::StrCat(path_, "/route_localnet.json"),
                   doc.dump(2) + "\n");
}

}  // namespace hostport
