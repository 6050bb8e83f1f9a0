#include "tools/pods_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hostport {
namespace {

using nlohmann::json;

absl::Status FieldError(absl::string_view where, absl::string_view field,
                        absl::string_view want, const json& got) {
  return absl::InvalidArgumentError(absl::StrCat(
      where, " field \"", field, "\": want ", want, ", got ", got.dump()));
}

absl::Status CheckKnownFields(const json& object, absl::string_view where,
                              const std::vector<std::string>& known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool ok = false;
    for (const std::string& k : known) ok = ok || it.key() == k;
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has unknown field \"", it.key(),
                       "\": valid fields are ", absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status GetString(const json& object, absl::string_view where,
                       const char* field, std::string* out) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return FieldError(where, field, "a string", *it);
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetPort(const json& object, absl::string_view where,
                     const char* field, int32_t* out) {
  auto it = object.find(field);
  if (it == object.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " is missing field \"", field, "\": want an integer 1..65535"));
  }
  if (!it->is_number_integer()) {
    return FieldError(where, field, "an integer 1..65535", *it);
  }
  const int64_t v = it->get<int64_t>();
  if (v < std::numeric_limits<int32_t>::min() ||
      v > std::numeric_limits<int32_t>::max()) {
    return FieldError(where, field, "an integer 1..65535", *it);
  }
  *out = static_cast<int32_t>(v);
  return absl::OkStatus();
}

absl::StatusOr<PodRequest> ParsePod(const json& object, int index) {
  std::string where = absl::StrCat("pod ", index);
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": want an object, got ", object.dump()));
  }
  PodRequest entry;
  if (absl::Status s = GetString(object, where, "id", &entry.id); !s.ok()) {
    return s;
  }
  if (entry.id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " has no \"id\": every pod needs a unique id (the sandbox id)"));
  }
  where = absl::StrCat("pod ", index, " (id \"", entry.id, "\")");
  if (absl::Status s =
          CheckKnownFields(object, where,
                           {"id", "namespace", "name", "ips", "host_network",
                            "nat_interface", "port_mappings"});
      !s.ok()) {
    return s;
  }
  PodPortMapping& pod = entry.pod;
  for (auto [field, out] :
       {std::pair<const char*, std::string*>{"namespace", &pod.namespace_},
        {"name", &pod.name},
        {"nat_interface", &entry.nat_interface}}) {
    if (absl::Status s = GetString(object, where, field, out); !s.ok())
      return s;
  }
  if (auto it = object.find("host_network");
      it != object.end() && !it->is_null()) {
    if (!it->is_boolean())
      return FieldError(where, "host_network", "true or false", *it);
    pod.host_network = it->get<bool>();
  }
  if (auto it = object.find("ips"); it != object.end() && !it->is_null()) {
    if (!it->is_array()) {
      return FieldError(where, "ips", "an array of address strings", *it);
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& ip = (*it)[i];
      if (!ip.is_string()) {
        return FieldError(where, absl::StrCat("ips[", i, "]"),
                          "an address string", ip);
      }
      pod.ips.push_back(ip.get<std::string>());
    }
  }
  if (auto it = object.find("port_mappings");
      it != object.end() && !it->is_null()) {
    if (!it->is_array()) {
      return FieldError(where, "port_mappings", "an array of mappings", *it);
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& m = (*it)[i];
      const std::string mwhere = absl::StrCat(where, " port_mappings[", i, "]");
      if (!m.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(mwhere, ": want an object, got ", m.dump()));
      }
      if (absl::Status s = CheckKnownFields(
              m, mwhere,
              {"host_port", "container_port", "protocol", "host_ip"});
          !s.ok()) {
        return s;
      }
      PortMapping pm;
      if (absl::Status s = GetPort(m, mwhere, "host_port", &pm.host_port);
          !s.ok()) {
        return s;
      }
      if (absl::Status s =
              GetPort(m, mwhere, "container_port", &pm.container_port);
          !s.ok()) {
        return s;
      }
      std::string protocol = "TCP";
      if (absl::Status s = GetString(m, mwhere, "protocol", &protocol);
          !s.ok()) {
        return s;
      }
      absl::StatusOr<Protocol> p = ParseProtocol(protocol);
      if (!p.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            mwhere, " field \"protocol\": ", p.status().message()));
      }
      pm.protocol = *p;
      if (absl::Status s = GetString(m, mwhere, "host_ip", &pm.host_ip);
          !s.ok()) {
        return s;
      }
      pod.port_mappings.push_back(std::move(pm));
    }
  }
  return entry;
}

// Builds the pods while the JSON library reads the text, with no document in
// between (a document of 50,000 pods costs more to build and free than the
// rest of a sync), for files in the plain shape: each field at most once, of
// its type, no nulls, and ids given once. Anything else, errors included,
// stops it, and ParsePodsJson reads the text again as a document, which gives
// the same pods or says what is wrong. A handler of
// nlohmann::json::sax_parse.
class PodsBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  // The pods, once sax_parse has returned true.
  std::vector<PodRequest>& pods() { return pods_; }

  bool null() { return false; }
  bool boolean(bool value) {
    if (state_ != kHostNetwork) return false;
    pods_.back().pod.host_network = value;
    state_ = kPod;
    return true;
  }
  bool number_integer(number_integer_t value) { return Port(value); }
  bool number_unsigned(number_unsigned_t value) {
    return value <= static_cast<number_unsigned_t>(
                        std::numeric_limits<int32_t>::max()) &&
           Port(static_cast<number_integer_t>(value));
  }
  bool number_float(number_float_t, const string_t&) { return false; }
  bool binary(binary_t&) { return false; }
  bool string(string_t& value) {
    // Only a field's value, and so only inside a pod.
    if (state_ == kTop || state_ == kPods || state_ == kDone) return false;
    PodRequest& e = pods_.back();
    switch (state_) {
      case kIps:
        e.pod.ips.push_back(value);
        return true;
      case kId:
        e.id = value;
        break;
      case kNamespace:
        e.pod.namespace_ = value;
        break;
      case kName:
        e.pod.name = value;
        break;
      case kNatInterface:
        e.nat_interface = value;
        break;
      case kHostIp:
        e.pod.port_mappings.back().host_ip = value;
        state_ = kMapping;
        return true;
      case kProtocol: {
        absl::StatusOr<Protocol> p = ParseProtocol(value);
        if (!p.ok()) return false;
        e.pod.port_mappings.back().protocol = *p;
        state_ = kMapping;
        return true;
      }
      default:
        return false;
    }
    state_ = kPod;
    return true;
  }
  bool start_object(std::size_t) {
    if (state_ == kTop || state_ == kPods) {
      single_ = state_ == kTop;
      pods_.emplace_back();
      seen_ = 0;
      state_ = kPod;
      return true;
    }
    if (state_ != kMappings) return false;
    pods_.back().pod.port_mappings.emplace_back();
    seen_mapping_ = 0;
    state_ = kMapping;
    return true;
  }
  bool key(string_t& name) {
    if (state_ == kPod) return Key(name, kPodFields, &seen_);
    if (state_ == kMapping) return Key(name, kMappingFields, &seen_mapping_);
    return false;
  }
  bool end_object() {
    if (state_ == kMapping) {
      state_ = kMappings;
      return (seen_mapping_ & 0b11) == 0b11;  // host_port, container_port.
    }
    if (state_ != kPod) return false;
    const std::string& id = pods_.back().id;
    if (id.empty() || (!single_ && !ids_.insert(id).second)) return false;
    state_ = single_ ? kDone : kPods;
    return true;
  }
  bool start_array(std::size_t) {
    switch (state_) {
      case kTop:
        state_ = kPods;
        return true;
      case kIpsValue:
        state_ = kIps;
        return true;
      case kPortMappings:
        state_ = kMappings;
        return true;
      default:
        return false;
    }
  }
  bool end_array() {
    if (state_ == kPods) {
      state_ = kDone;
      return true;
    }
    if (state_ != kIps && state_ != kMappings) return false;
    state_ = kPod;
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) {
    return false;
  }

 private:
  enum State {
    kTop,
    kPods,      // In the array of pods.
    kPod,       // In a pod, before a key.
    kIps,       // In a pod's "ips".
    kMappings,  // In a pod's "port_mappings".
    kMapping,   // In a mapping, before a key.
    kDone,
    // After the key of a field, before its value.
    kId,
    kNamespace,
    kName,
    kIpsValue,
    kHostNetwork,
    kNatInterface,
    kPortMappings,
    kHostPort,
    kContainerPort,
    kProtocol,
    kHostIp,
  };
  struct Field {
    const char* name;
    State value;  // The state for its value.
  };
  // The first two mapping fields are the required ones (end_object).
  static constexpr Field kMappingFields[] = {{"host_port", kHostPort},
                                             {"container_port", kContainerPort},
                                             {"protocol", kProtocol},
                                             {"host_ip", kHostIp}};
  static constexpr Field kPodFields[] = {{"id", kId},
                                         {"namespace", kNamespace},
                                         {"name", kName},
                                         {"ips", kIpsValue},
                                         {"host_network", kHostNetwork},
                                         {"nat_interface", kNatInterface},
                                         {"port_mappings", kPortMappings}};

  // Takes the key `name`, one of `fields`, not yet in `*seen` (a bit per
  // field).
  template <size_t N>
  bool Key(const std::string& name, const Field (&fields)[N], unsigned* seen) {
    for (size_t i = 0; i < N; ++i) {
      if (name != fields[i].name) continue;
      if ((*seen & (1u << i)) != 0) return false;
      *seen |= 1u << i;
      state_ = fields[i].value;
      return true;
    }
    return false;
  }
  bool Port(number_integer_t value) {
    if ((state_ != kHostPort && state_ != kContainerPort) ||
        value < std::numeric_limits<int32_t>::min() ||
        value > std::numeric_limits<int32_t>::max()) {
      return false;
    }
    PortMapping& m = pods_.back().pod.port_mappings.back();
    (state_ == kHostPort ? m.host_port : m.container_port) =
        static_cast<int32_t>(value);
    state_ = kMapping;
    return true;
  }

  State state_ = kTop;
  unsigned seen_ = 0;          // The pod's fields given so far.
  unsigned seen_mapping_ = 0;  // The mapping's.
  bool single_ = false;        // The text is one pod, not an array.
  absl::flat_hash_set<std::string> ids_;
  std::vector<PodRequest> pods_;
};

}  // namespace

absl::Status CheckJsonDepth(absl::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // The escaped character cannot end the string.
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(absl::StrCat(
            "JSON nested deeper than ", kMaxJsonDepth, " levels at byte ", i,
            " (at most ", kMaxJsonDepth, " nested arrays and objects)"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PodRequest>> ParsePodsJson(absl::string_view text) {
  if (absl::Status s = CheckJsonDepth(text); !s.ok()) return s;
  PodsBuilder builder;
  bool built = false;
  try {
    built = json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const json::exception&) {
    // The document below says what is wrong.
  }
  if (built) return std::move(builder.pods());
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception&
               e) {  // parse_error, or out_of_range for a huge number.
    // what() reads "[json.exception.parse_error.101] parse error at line 1,
    // ...".
    absl::string_view what = e.what();
    if (size_t end = what.find("] "); end != absl::string_view::npos) {
      what.remove_prefix(end + 2);
    }
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", what));
  }
  std::vector<PodRequest> pods;
  if (doc.is_object()) {
    absl::StatusOr<PodRequest> pod = ParsePod(doc, 0);
    if (!pod.ok()) return pod.status();
    pods.push_back(std::move(*pod));
  } else if (doc.is_array()) {
    absl::flat_hash_set<std::string> ids;
    for (size_t i = 0; i < doc.size(); ++i) {
      absl::StatusOr<PodRequest> pod = ParsePod(doc[i], static_cast<int>(i));
      if (!pod.ok()) return pod.status();
      if (!ids.insert(pod->id).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "pod ", i, " repeats id \"", pod->id, "\": ids must be unique"));
      }
      pods.push_back(std::move(*pod));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "want a pod object or an array of pods, got ", doc.dump()));
  }
  return pods;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::string resolved = path;
  if (!path.empty() && path[0] != '/') {
    if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY")) {
      resolved = absl::StrCat(dir, "/", path);
    }
  }
  const int fd = open(resolved.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat st;
  const bool known = fstat(fd, &st) == 0;
  if (known && S_ISDIR(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, want a file"));
  }
  // One read for a regular file, whose size is known; pipes and /proc grow.
  std::string contents(
      known && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096,
      '\0');
  size_t size = 0;
  while (true) {
    if (size == contents.size()) contents.resize(2 * size);
    const ssize_t n = read(fd, &contents[size], contents.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return absl::DataLossError(absl::StrCat(path, ": read failed"));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  contents.resize(size);
  return contents;
}

absl::StatusOr<std::vector<PodRequest>> ReadPodsFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<PodRequest>> pods = ParsePodsJson(*text);
  if (!pods.ok()) {
    return absl::Status(pods.status().code(),
                        absl::StrCat(path, ": ", pods.status().message()));
  }
  return pods;
}

}  // namespace hostport
