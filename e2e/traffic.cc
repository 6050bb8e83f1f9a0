#include "e2e/traffic.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hostport::e2e {

std::string RunfilePath(absl::string_view path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/",
                      workspace != nullptr ? workspace : "hostport", "/", path);
}

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(
    Netns& ns, absl::string_view identity, int port, UdpSource udp_source,
    absl::string_view address) {
  std::vector<std::string> argv = {"ip",
                                   "netns",
                                   "exec",
                                   ns.name(),
                                   RunfilePath("e2e/echo_server"),
                                   absl::StrCat("--identity=", identity),
                                   absl::StrCat("--port=", port),
                                   udp_source == UdpSource::kRequest
                                       ? "--udp_source=request"
                                       : "--udp_source=route"};
  if (!address.empty()) argv.push_back(absl::StrCat("--address=", address));
  std::vector<char*> cargv;
  for (const std::string& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // A test killed outright (SIGKILL, or SIGTERM, whose handler deletes the
    // namespaces and dies) must not leave its servers running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(out[1], 1);
    signal(SIGPIPE, SIG_DFL);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  close(out[1]);
  // `ip netns exec` execs the server in place: `pid` is the server.
  std::unique_ptr<EchoServer> server(new EchoServer(pid));
  std::string seen;
  pollfd p{out[0], POLLIN, 0};
  while (seen.find("ready\n") == std::string::npos) {
    const int rc = poll(&p, 1, 5000);
    if (rc < 0 && errno == EINTR) continue;
    char buf[64];
    const ssize_t n = rc > 0 ? read(out[0], buf, sizeof(buf)) : -1;
    if (n <= 0) {
      close(out[0]);
      return absl::InternalError(absl::StrCat(
          "echo_server ", identity, " on port ", port, " in ", ns.name(),
          rc == 0 ? " not ready within 5s" : " exited before it was ready"));
    }
    seen.append(buf, n);
  }
  close(out[0]);
  return server;
}

EchoServer::~EchoServer() {
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    usleep(10000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

absl::StatusOr<std::string> Exchange(Netns& ns, Protocol protocol,
                                     const std::string& dst_addr, int port,
                                     absl::Duration timeout, int src_port,
                                     const std::string& src_addr) {
  if (protocol == Protocol::kSCTP) {
    return absl::UnimplementedError("traffic_client speaks TCP and UDP only");
  }
  std::vector<std::string> argv = {
      RunfilePath("e2e/traffic_client"),
      absl::StrCat("--proto=", ProtocolKeyword(protocol)),
      absl::StrCat("--dst=", dst_addr), absl::StrCat("--port=", port),
      absl::StrCat("--timeout_ms=", absl::ToInt64Milliseconds(timeout))};
  if (src_port != 0) argv.push_back(absl::StrCat("--src_port=", src_port));
  if (!src_addr.empty()) argv.push_back(absl::StrCat("--src=", src_addr));
  absl::StatusOr<CommandResult> r = ns.Run(argv);
  if (!r.ok()) return r.status();
  const std::string what =
      absl::StrCat(ProtocolKeyword(protocol), " from ", ns.name(), " to ",
                   dst_addr, " port ", port, ": ");
  const std::string why(absl::StripTrailingAsciiWhitespace(r->stderr_text));
  switch (r->exit_code) {
    case 0:
      return std::string(absl::StripTrailingAsciiWhitespace(r->stdout_text));
    case 3:
      return absl::DeadlineExceededError(absl::StrCat(what, why));
    case 4:
      return absl::UnavailableError(absl::StrCat(what, why));
    default:
      return absl::InternalError(
          absl::StrCat(what, "exit ", r->exit_code, ": ", why));
  }
}

}  // namespace hostport::e2e
