#include "tools/kernel_command.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"

namespace hostport {

int Fail(std::ostream& err, absl::string_view verb, absl::string_view message,
         int code) {
  err << "hostportctl " << verb << ": " << message << "\n";
  return code;
}

int ParseVerbFlags(const std::vector<std::string>& args,
                   std::vector<FlagSpec> extra, absl::string_view verb,
                   const char* usage, std::ostream& out, std::ostream& err,
                   ParsedFlags* flags, bool* json) {
  std::vector<FlagSpec> specs = CommonFlags();
  specs.insert(specs.end(), extra.begin(), extra.end());
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(args, specs);
  if (!parsed.ok()) {
    err << "hostportctl " << verb << ": " << parsed.status().message() << "\n"
        << usage;
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    out << usage;
    return kExitOk;
  }
  if (absl::Status s = ParseOutputFlag(*parsed, json); !s.ok()) {
    err << "hostportctl " << verb << ": " << s.message() << "\n" << usage;
    return kExitUsage;
  }
  *flags = std::move(*parsed);
  return -1;
}

int RequireRoot(std::ostream& err, absl::string_view verb) {
  if (geteuid() != 0) {
    return Fail(err, verb, "needs root: it changes the kernel's NAT rules",
                kExitFailed);
  }
  return -1;
}

absl::StatusOr<std::unique_ptr<LockedHost>> OpenHost(
    const std::string& state_dir, MetaOptions::Backend backend,
    bool allow_forward, std::ostream& err, bool trust_records) {
  MetaOptions options;
  options.prefer = backend;
  options.allow_forward = allow_forward;
  options.hold_ports = false;
  options.trust_records = trust_records;
  options.log = LogLinesTo(err, "hostportctl");
  return LockedHost::Open(state_dir, std::move(options));
}

Progress::Progress(std::ostream& err, absl::string_view verb, size_t total)
    : err_(err),
      verb_(verb),
      total_(total),
      on_(total >= kMinPods && isatty(STDERR_FILENO)) {}

void Progress::Step(size_t done) {
  if (on_ && (done % 50 == 0 || done == total_)) {
    err_ << "\rhostportctl " << verb_ << ": " << done << "/" << total_
         << " pods" << std::flush;
  }
}

void Progress::Done() {
  if (on_) err_ << "\n";
  on_ = false;
}

void NoteLongSync(std::ostream& err, size_t pods) {
  if (isatty(STDERR_FILENO) && pods >= Progress::kMinPods) {
    err << "hostportctl: syncing " << pods << " pods...\n";
  }
}

int ReadPodsFileInput(const std::vector<std::string>& args,
                      absl::string_view verb, const char* usage,
                      std::ostream& out, std::ostream& err,
                      PodsFileInput* input) {
  if (int code =
          ParseVerbFlags(args,
                         {{"pods", true},
                          {"backend", true},
                          {"allow-forward", false},
                          {"read-kernel", false}},
                         verb, usage, out, err, &input->flags, &input->json);
      code >= 0) {
    return code;
  }
  const ParsedFlags& flags = input->flags;
  if (verb != "sync" && flags.Has("read-kernel")) {
    return Fail(err, verb,
                absl::StrCat("--read-kernel is a flag of sync only\n", usage),
                kExitUsage);
  }
  if (!flags.Has("pods")) {
    return Fail(err, verb, absl::StrCat("--pods FILE is required\n", usage),
                kExitUsage);
  }
  absl::StatusOr<MetaOptions::Backend> backend =
      ParseBackendName(flags.Get("backend", "auto"));
  if (!backend.ok()) {
    return Fail(err, verb, absl::StrCat("--", backend.status().message()),
                kExitUsage);
  }
  input->backend = *backend;
  input->path = flags.Get("pods");
  absl::StatusOr<std::vector<PodRequest>> pods = ReadPodsFile(input->path);
  if (!pods.ok()) return Fail(err, verb, pods.status().message(), kExitUsage);
  input->pods = std::move(*pods);
  for (PodRequest& e : input->pods) {
    if (e.nat_interface.empty()) e.nat_interface = flags.Get("nat-interface");
  }
  // sync checks its pods under the host's lock, where the records spare it
  // the pods recorded exactly as given (LockedHost::Sync), so that a sync
  // costs what changes; a caller that may not change the host still learns
  // first what is wrong with the file.
  if (verb == "sync" && geteuid() == 0) return -1;
  PortClaims claims;
  for (const PodRequest& e : input->pods) {
    absl::StatusOr<PodPlan> plan = PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok()) {
      return Fail(err, verb,
                  absl::StrCat(input->path, ": ", plan.status().message()),
                  kExitUsage);
    }
    if (absl::Status s = claims.Check(*plan); !s.ok()) {
      return Fail(err, verb, absl::StrCat(input->path, ": ", s.message()),
                  kExitFailed);
    }
    claims.Claim(*plan);
  }
  return RequireRoot(err, verb);
}

int FailChange(std::ostream& err, absl::string_view verb,
               const PodsFileInput& input, const absl::Status& s) {
  if (absl::IsAlreadyExists(s) || absl::IsInvalidArgument(s)) {
    return Fail(err, verb, absl::StrCat(input.path, ": ", s.message()),
                absl::IsInvalidArgument(s) ? kExitUsage : kExitFailed);
  }
  return Fail(err, verb, s.message(), kExitFailed);
}

}  // namespace hostport
