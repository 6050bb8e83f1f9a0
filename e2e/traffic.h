// Traffic for e2e tests: echo servers in pod namespaces and one-shot exchanges
// from any namespace, with short timeouts.
//
// Both drive the binaries //e2e:echo_server and //e2e:traffic_client through
// `ip netns exec`, so the test process itself may sit in any namespace.
// Promises: an EchoServer is killed (SIGTERM, then SIGKILL) when destroyed,
// also when the test fails, and dies with the thread that started it if the
// test is killed; Exchange never blocks longer than its timeout plus
// process start-up. REQUIRES: root; the binaries as data of the test
// (runfiles), found through TEST_SRCDIR and TEST_WORKSPACE.
#ifndef E2E_TRAFFIC_H_
#define E2E_TRAFFIC_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "e2e/netns.h"
#include "hostport/model/types.h"

namespace hostport::e2e {

// The path of a runfile, e.g. "e2e/echo_server", of the running test.
std::string RunfilePath(absl::string_view path);

// An echo_server running in a namespace, answering on TCP and UDP `port` of
// both families with "<identity> <peer address>".
class EchoServer {
 public:
  // Where UDP replies come from: the address the request was sent to, or
  // the kernel's choice of source for the peer (a naive wildcard server).
  enum class UdpSource { kRequest, kRoute };

  // Starts the server and waits (up to 5 s) until its sockets are bound:
  // on every address of both families, or only on IPv4 `address` when one
  // is given (a host service bound to "127.0.0.1").
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(
      Netns& ns, absl::string_view identity, int port,
      UdpSource udp_source = UdpSource::kRequest,
      absl::string_view address = "");

  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  ~EchoServer();  // Kills the server and reaps it.

 private:
  explicit EchoServer(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

// One TCP connection or UDP datagram from `ns` to `dst_addr`:`port`. Returns
// the reply line ("pod-a 192.0.2.100"). Errors: DeadlineExceeded "no answer
// within 1s (...)", Unavailable "refused (...)", Internal otherwise; each
// message names the namespace and the destination. `src_port` (0: any) pins
// the source port so that repeated UDP exchanges are one conntrack flow;
// `src_addr` ("": the kernel's choice) picks the source address.
absl::StatusOr<std::string> Exchange(Netns& ns, Protocol protocol,
                                     const std::string& dst_addr, int port,
                                     absl::Duration timeout, int src_port = 0,
                                     const std::string& src_addr = "");

}  // namespace hostport::e2e

#endif  // E2E_TRAFFIC_H_
