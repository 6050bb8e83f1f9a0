#include "tools/pods_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

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
  struct stat st;
  if (stat(resolved.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, want a file"));
  }
  std::ifstream in(resolved, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  return contents.str();
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
