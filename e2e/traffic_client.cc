// traffic_client: one exchange with an echo_server, run inside a namespace.
//
//   traffic_client --proto=tcp|udp --dst=ADDR --port=N --timeout_ms=N
//                  [--src=ADDR] [--src_port=N]
//
// TCP: connects and reads one line. UDP: sends one datagram from --src_port
// (so that repeated runs are one conntrack flow) and reads one datagram. On
// success prints the reply line and exits 0. Otherwise prints why on stderr
// and exits 3 when nothing came back within the timeout ("no answer within
// 1s"), 4 when the peer refused (TCP RST, ICMP port unreachable), 1 for any
// other error (the message says which call failed and how).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int timeout_ms = 1000;

std::string TimeoutText() {
  if (timeout_ms % 1000 == 0) return std::to_string(timeout_ms / 1000) + "s";
  return std::to_string(timeout_ms) + "ms";
}

[[noreturn]] void Fail(const std::string& what, int err) {
  if (err == ETIMEDOUT || err == EAGAIN) {
    std::fprintf(stderr, "no answer within %s (%s)\n", TimeoutText().c_str(),
                 what.c_str());
    std::exit(3);
  }
  if (err == ECONNREFUSED) {
    std::fprintf(stderr, "refused (%s): %s\n", what.c_str(),
                 std::strerror(err));
    std::exit(4);
  }
  std::fprintf(stderr, "%s: %s\n", what.c_str(), std::strerror(err));
  std::exit(1);
}

// Waits for `events` on fd; returns on readiness, fails on timeout.
void Wait(int fd, short events, const std::string& what) {
  pollfd p{fd, events, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) Fail("poll", errno);
  if (rc == 0) Fail(what, ETIMEDOUT);
}

}  // namespace

int main(int argc, char** argv) {
  std::string proto, dst, src;
  int port = 0, src_port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      const size_t n = std::strlen(flag);
      return arg.compare(0, n, flag) == 0 ? arg.c_str() + n : nullptr;
    };
    if (const char* v = value("--proto=")) {
      proto = v;
    } else if (const char* v = value("--dst=")) {
      dst = v;
    } else if (const char* v = value("--port=")) {
      port = std::atoi(v);
    } else if (const char* v = value("--timeout_ms=")) {
      timeout_ms = std::atoi(v);
    } else if (const char* v = value("--src=")) {
      src = v;
    } else if (const char* v = value("--src_port=")) {
      src_port = std::atoi(v);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  if ((proto != "tcp" && proto != "udp") || dst.empty() || port <= 0 ||
      timeout_ms <= 0) {
    std::fprintf(stderr,
                 "usage: traffic_client --proto=tcp|udp --dst=ADDR --port=N "
                 "--timeout_ms=N [--src=ADDR] [--src_port=N]\n");
    return 2;
  }

  sockaddr_storage to{};
  socklen_t to_len;
  int family;
  if (inet_pton(AF_INET, dst.c_str(),
                &reinterpret_cast<sockaddr_in*>(&to)->sin_addr) == 1) {
    family = AF_INET;
    reinterpret_cast<sockaddr_in*>(&to)->sin_family = AF_INET;
    reinterpret_cast<sockaddr_in*>(&to)->sin_port = htons(port);
    to_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, dst.c_str(),
                       &reinterpret_cast<sockaddr_in6*>(&to)->sin6_addr) == 1) {
    family = AF_INET6;
    reinterpret_cast<sockaddr_in6*>(&to)->sin6_family = AF_INET6;
    reinterpret_cast<sockaddr_in6*>(&to)->sin6_port = htons(port);
    to_len = sizeof(sockaddr_in6);
  } else {
    std::fprintf(stderr, "--dst=%s is not an IP address\n", dst.c_str());
    return 2;
  }

  const bool tcp = proto == "tcp";
  const int fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) Fail("socket", errno);
  if (src_port != 0 || !src.empty()) {
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    sockaddr_storage from{};
    from.ss_family = family;
    void* from_addr =
        family == AF_INET
            ? static_cast<void*>(
                  &reinterpret_cast<sockaddr_in*>(&from)->sin_addr)
            : static_cast<void*>(
                  &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr);
    if (!src.empty() && inet_pton(family, src.c_str(), from_addr) != 1) {
      std::fprintf(stderr, "--src=%s is not an address of --dst's family\n",
                   src.c_str());
      return 2;
    }
    if (family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&from)->sin_port = htons(src_port);
    } else {
      reinterpret_cast<sockaddr_in6*>(&from)->sin6_port = htons(src_port);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&from), to_len) != 0) {
      Fail("bind source", errno);
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), to_len) != 0) {
    if (errno != EINPROGRESS) Fail("connect", errno);
    Wait(fd, POLLOUT, "connect");
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) Fail("connect", err);
  }
  if (!tcp && send(fd, "hello\n", 6, 0) < 0) Fail("send", errno);

  std::string reply;
  char buf[512];
  while (reply.find('\n') == std::string::npos) {
    Wait(fd, POLLIN, tcp ? "read" : "recv");
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) Fail(tcp ? "read" : "recv", errno);
    if (n == 0) break;
    reply.append(buf, n);
    if (!tcp) break;
  }
  if (reply.empty()) {
    std::fprintf(stderr, "connection closed without a reply\n");
    return 1;
  }
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  std::printf("%s\n", reply.c_str());
  return 0;
}
