#include "hostport/conntrack.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

struct Match {
  const std::optional<IpAddress>* address;
  uint16_t port_be;
  std::vector<nf_conntrack*> found;
};

int Collect(enum nf_conntrack_msg_type, nf_conntrack* ct, void* data) {
  Match* m = static_cast<Match*>(data);
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
    return NFCT_CB_CONTINUE;
  if (nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST) != m->port_be)
    return NFCT_CB_CONTINUE;
  if (m->address->has_value()) {
    const IpAddress& want = **m->address;
    const void* dst = want.family() == IPFamily::kIPv4
                          ? nfct_get_attr(ct, ATTR_ORIG_IPV4_DST)
                          : nfct_get_attr(ct, ATTR_ORIG_IPV6_DST);
    if (dst == nullptr || memcmp(dst, want.bytes(), want.byte_length()) != 0) {
      return NFCT_CB_CONTINUE;
    }
  }
  m->found.push_back(nfct_clone(ct));
  return NFCT_CB_CONTINUE;
}

}  // namespace

absl::StatusOr<int> NetlinkConntrackCleaner::DeleteUdp(
    IPFamily family, const std::optional<IpAddress>& address, int port) {
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (h == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("conntrack: cannot open netlink: ", std::strerror(errno)));
  }
  Match match{&address, htons(static_cast<uint16_t>(port)), {}};
  nfct_callback_register(h, NFCT_T_ALL, Collect, &match);
  uint32_t l3 = family == IPFamily::kIPv4 ? AF_INET : AF_INET6;
  int rc = nfct_query(h, NFCT_Q_DUMP, &l3);
  const int dump_errno = errno;
  int deleted = 0;
  absl::Status status;
  if (rc < 0) {
    status = absl::InternalError(
        absl::StrCat("conntrack: dump failed: ", std::strerror(dump_errno)));
  }
  for (nf_conntrack* ct : match.found) {
    if (status.ok()) {
      if (nfct_query(h, NFCT_Q_DESTROY, ct) == 0) {
        ++deleted;
      } else if (errno != ENOENT) {  // Gone meanwhile is fine.
        status = absl::InternalError(
            absl::StrCat("conntrack: delete failed: ", std::strerror(errno)));
      }
    }
    nfct_destroy(ct);
  }
  nfct_close(h);
  if (!status.ok()) return status;
  return deleted;
}

}  // namespace hostport
