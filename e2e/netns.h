// Netns: a network namespace that a test creates, runs commands in, and always
// deletes.
//
// Names are "hp-<purpose>-<pid>-<n>", so parallel tests never collide and a
// namespace left behind by a killed run is recognised (its pid is gone) and
// deleted by the next Create(). SIGTERM and SIGINT (Bazel's timeout, Ctrl-C)
// delete every live namespace of this process before the process dies. Only
// traffic inside these namespaces is ever sent by tests.
#ifndef E2E_NETNS_H_
#define E2E_NETNS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/os/command_runner.h"

namespace hostport::e2e {

// "" when this process can create network namespaces; otherwise which
// capability is missing (not root, no `ip`, netns creation refused).
std::string KernelTestsUnavailableReason();

class Netns {
 public:
  // Creates a fresh namespace with loopback up. REQUIRES: root.
  static absl::StatusOr<std::unique_ptr<Netns>> Create(
      absl::string_view purpose);

  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();  // Deletes the namespace.

  const std::string& name() const { return name_; }

  // Moves the calling thread into the namespace until the returned object is
  // destroyed, so that in-process kernel calls (libnftables, sockets,
  // conntrack, /proc/sys) act on it. Children started meanwhile inherit it.
  class Entered {
   public:
    ~Entered();
    Entered(const Entered&) = delete;
    Entered& operator=(const Entered&) = delete;

   private:
    friend class Netns;
    explicit Entered(int original) : original_(original) {}
    int original_;
  };
  absl::StatusOr<std::unique_ptr<Entered>> Enter();

  // Runs argv inside the namespace.
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    const std::string& stdin_text = "");

  // Runs argv inside the namespace; an error unless it exits 0 (the message
  // carries the command and its stderr). Returns stdout.
  absl::StatusOr<std::string> Check(const std::vector<std::string>& argv,
                                    const std::string& stdin_text = "");

 private:
  explicit Netns(std::string name) : name_(std::move(name)) {}

  std::string name_;
  RealCommandRunner runner_;
};

}  // namespace hostport::e2e

// Skips the test with the reason when kernel tests cannot run here; fails
// instead when HOSTPORT_REQUIRE_KERNEL_TESTS is set (CI sets it: there, a skip
// would hide a gap).
#define HOSTPORT_REQUIRE_KERNEL()                                              \
  do {                                                                         \
    const std::string hostport_reason =                                        \
        ::hostport::e2e::KernelTestsUnavailableReason();                       \
    if (!hostport_reason.empty()) {                                            \
      if (std::getenv("HOSTPORT_REQUIRE_KERNEL_TESTS") != nullptr) {           \
        FAIL() << "kernel tests required but cannot run: " << hostport_reason; \
      }                                                                        \
      GTEST_SKIP() << "kernel test skipped: " << hostport_reason;              \
    }                                                                          \
  } while (0)

#endif  // E2E_NETNS_H_
