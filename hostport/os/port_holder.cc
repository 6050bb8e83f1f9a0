#include "hostport/os/port_holder.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

class SocketHeldPort : public HeldPort {
 public:
  explicit SocketHeldPort(int fd) : fd_(fd) {}
  ~SocketHeldPort() override { close(fd_); }
  SocketHeldPort(const SocketHeldPort&) = delete;
  SocketHeldPort& operator=(const SocketHeldPort&) = delete;

 private:
  int fd_;
};

absl::Status SocketError(const PortKey& key, absl::string_view step, int err) {
  const std::string what = absl::StrCat("cannot hold ", key.ToString(), ": ",
                                        step, ": ", std::strerror(err));
  switch (err) {
    case EADDRINUSE:
      return absl::AlreadyExistsError(
          absl::StrCat(what, " (another socket holds the port)"));
    case EADDRNOTAVAIL:
      return absl::FailedPreconditionError(
          absl::StrCat(what, " (the address is not one of this host's)"));
    case EPROTONOSUPPORT:
    case ESOCKTNOSUPPORT:
    case EAFNOSUPPORT:
      return absl::UnimplementedError(
          absl::StrCat(what, " (the kernel lacks this protocol or family)"));
    default:
      return absl::InternalError(what);
  }
}

}  // namespace

std::string PortKey::ToString() const {
  const std::string addr =
      address ? address->ToBracketedString()
              : (family == IPFamily::kIPv4 ? "0.0.0.0" : "[::]");
  return absl::StrCat(ProtocolKeyword(protocol), " ", addr, ":", port);
}

absl::StatusOr<std::unique_ptr<HeldPort>> SocketPortHolder::Hold(
    const PortKey& key) {
  const int domain = key.family == IPFamily::kIPv4 ? AF_INET : AF_INET6;
  int type = SOCK_STREAM, proto = 0;
  if (key.protocol == Protocol::kUDP) type = SOCK_DGRAM;
  if (key.protocol == Protocol::kSCTP) proto = IPPROTO_SCTP;
  const int fd = socket(domain, type | SOCK_CLOEXEC, proto);
  if (fd < 0) return SocketError(key, "socket", errno);
  auto held = std::make_unique<SocketHeldPort>(fd);

  // Drop every packet: the socket exists to hold the port, never to talk.
  sock_filter drop_all = {BPF_RET | BPF_K, 0, 0, 0};
  sock_fprog program = {1, &drop_all};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) !=
      0) {
    return SocketError(key, "attach drop-all filter", errno);
  }
  sockaddr_storage storage;
  memset(&storage, 0, sizeof(storage));
  socklen_t length = 0;
  if (key.family == IPFamily::kIPv4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(key.port));
    if (key.address) memcpy(&sin->sin_addr, key.address->bytes(), 4);
    length = sizeof(*sin);
  } else {
    const int on = 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
      return SocketError(key, "IPV6_V6ONLY", errno);
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(key.port));
    if (key.address) memcpy(&sin6->sin6_addr, key.address->bytes(), 16);
    length = sizeof(*sin6);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    return SocketError(key, "bind", errno);
  }
  if (key.protocol != Protocol::kUDP && listen(fd, 1) != 0) {
    return SocketError(key, "listen", errno);
  }
  return held;
}

}  // namespace hostport
