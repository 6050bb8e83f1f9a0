// Pods files: the JSON that hostportctl (and tests, fuzzers and the CNI plugin)
// read pods from.
//
// A file holds one pod object or an array of them (DESIGN §8):
//   {"id": "sandbox-1", "namespace": "default", "name": "web",
//    "ips": ["10.88.0.5", "fd00:88::5"], "host_network": false,
//    "nat_interface": "hp-br0", "port_mappings": [{"host_port": 8080,
//    "container_port": 80, "protocol": "TCP",
//                       "host_ip": ""}]}
// Parsing is strict: unknown fields, wrong types and duplicate ids are errors
// that name the pod, the field and the value. Only the shape is checked here;
// PlanPod() checks the values (ranges, addresses, overlaps).
#ifndef TOOLS_PODS_FILE_H_
#define TOOLS_PODS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/model/types.h"

namespace hostport {

// The deepest nesting of arrays and objects any JSON the tools read may have.
// Deeper documents (`[` x 100000) would exhaust the stack of the JSON
// library; no pods file, CNI request or record comes near it.
constexpr int kMaxJsonDepth = 64;

// OK when `text` nests arrays and objects at most kMaxJsonDepth deep
// (brackets inside strings do not count); otherwise InvalidArgument naming
// the byte offset and the limit. Cheap: one pass, no allocation.
absl::Status CheckJsonDepth(absl::string_view text);

// Parses the JSON text of a pods file: one PodRequest per pod, in the file's
// order, with nat_interface "" where the file gives none. A file in the plain
// shape (each field at most once, no nulls) is read without building a JSON
// document, which costs several times the rest for a file of 50,000 pods.
absl::StatusOr<std::vector<PodRequest>> ParsePodsJson(absl::string_view text);

// Reads and parses `path`; errors start with the path.
absl::StatusOr<std::vector<PodRequest>> ReadPodsFile(const std::string& path);

// Reads a whole file. A relative path is taken from the directory `bazel run`
// was started in (BUILD_WORKING_DIRECTORY) when set, so `bazel run
// //tools:hostportctl -- render --pods tools/examples/pods.json` reads the
// workspace's file.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace hostport

#endif  // TOOLS_PODS_FILE_H_
