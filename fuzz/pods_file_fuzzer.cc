// Fuzzes the pods-file parser and the planning of what it parses: no crash, no
// hang, and every rejection is a message (never an empty one).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "hostport/model/plan.h"
#include "tools/pods_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<hostport::PodRequest>> pods =
      hostport::ParsePodsJson(text);
  if (!pods.ok()) {
    if (pods.status().message().empty()) std::abort();
    return 0;
  }
  for (const hostport::PodRequest& e : *pods) {
    absl::StatusOr<hostport::PodPlan> plan =
        hostport::PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok() && plan.status().message().empty()) std::abort();
  }
  return 0;
}
