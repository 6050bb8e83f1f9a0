// echo_server: the endpoint of e2e traffic tests, run inside a pod namespace.
//
//   echo_server --identity=NAME --port=N [--udp_source=request|route]
//
// Listens on TCP and UDP port N on both families (0.0.0.0 and [::] with
// IPV6_V6ONLY) and answers every TCP connection and every UDP datagram with one
// line "<identity> <peer address>", the peer address being the source the
// kernel delivered (so a test sees whether it was masqueraded). UDP replies
// leave from the address the request was sent to, or with
// --udp_source=route from whatever source the kernel picks for the peer (what
// a naive server on a wildcard socket does). Prints "ready" on stdout once
// every socket is bound, so the starter knows it can send.
// Exits 0 on SIGTERM. REQUIRES: the port is free in the namespace.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

void OnTerm(int) { g_stop = 1; }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "echo_server: %s: %s\n", what.c_str(),
               std::strerror(errno));
  std::exit(1);
}

// `address` (IPv4 only; 0.0.0.0 for any) is where an AF_INET socket binds.
int Open(int family, int type, int port, in_addr address) {
  const int fd = socket(family, type, 0);
  if (fd < 0) Die("socket");
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  int rc;
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr = address;
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6));
  }
  if (rc != 0) Die("bind port " + std::to_string(port));
  if (type == SOCK_STREAM && listen(fd, 16) != 0) Die("listen");
  if (type == SOCK_DGRAM) {
    // Learn each datagram's destination, to answer from it.
    if (family == AF_INET) {
      setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
    } else {
      setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
    }
  }
  return fd;
}

std::string AddressText(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr,
              text, sizeof(text));
  } else {
    inet_ntop(AF_INET6,
              &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  std::string identity = "echo";
  int port = 0;
  bool source_from_request = true;
  in_addr address{};  // INADDR_ANY
  bool only_ipv4 = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--identity=", 0) == 0) {
      identity = arg.substr(11);
    } else if (arg.rfind("--port=", 0) == 0) {
      port = std::atoi(arg.c_str() + 7);
    } else if (arg.rfind("--address=", 0) == 0) {
      if (inet_pton(AF_INET, arg.c_str() + 10, &address) != 1) {
        std::fprintf(stderr, "echo_server: --address must be IPv4\n");
        return 2;
      }
      only_ipv4 = true;
    } else if (arg == "--udp_source=request" || arg == "--udp_source=route") {
      source_from_request = arg == "--udp_source=request";
    } else {
      std::fprintf(stderr,
                   "usage: echo_server --identity=NAME --port=N "
                   "[--udp_source=request|route] [--address=IPV4]\n");
      return 2;
    }
  }
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "echo_server: --port must be 1..65535\n");
    return 2;
  }
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnTerm;  // No SA_RESTART: poll() returns EINTR.
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  std::vector<pollfd> fds;
  for (int family : {AF_INET, AF_INET6}) {
    if (only_ipv4 && family != AF_INET) continue;
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      fds.push_back({Open(family, type, port, address), POLLIN, 0});
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);

  while (!g_stop) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Die("poll");
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      const bool stream = i % 2 == 0;
      if (stream) {
        const int conn =
            accept(fds[i].fd, reinterpret_cast<sockaddr*>(&peer), &len);
        if (conn < 0) continue;
        const std::string reply = identity + " " + AddressText(peer) + "\n";
        (void)!write(conn, reply.data(), reply.size());
        close(conn);
      } else {
        // The reply leaves from the address the datagram was sent to (the
        // pktinfo of the request, interface cleared), not from whatever source
        // the route prefers: with several addresses on the link, IPv6 picks
        // the newest, and conntrack would not recognise the reply.
        char buf[512];
        alignas(cmsghdr) char control[256];
        iovec iov{buf, sizeof(buf)};
        msghdr msg{};
        msg.msg_name = &peer;
        msg.msg_namelen = len;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        if (recvmsg(fds[i].fd, &msg, 0) < 0) continue;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
             c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            auto* info = reinterpret_cast<in_pktinfo*>(CMSG_DATA(c));
            info->ipi_spec_dst = info->ipi_addr;
            info->ipi_ifindex = 0;
          } else if (c->cmsg_level == IPPROTO_IPV6 &&
                     c->cmsg_type == IPV6_PKTINFO) {
            reinterpret_cast<in6_pktinfo*>(CMSG_DATA(c))->ipi6_ifindex = 0;
          }
        }
        const std::string reply = identity + " " + AddressText(peer) + "\n";
        iov = {const_cast<char*>(reply.data()), reply.size()};
        if (!source_from_request) msg.msg_controllen = 0;
        sendmsg(fds[i].fd, &msg, 0);
      }
    }
  }
  return 0;
}
