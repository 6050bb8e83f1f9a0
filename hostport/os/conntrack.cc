#include "hostport/os/conntrack.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

struct Match {
  // By destination port (network order): the addresses wanted there, an
  // empty optional for any.
  absl::flat_hash_map<uint16_t, std::vector<std::optional<IpAddress>>> ports;
  std::vector<nf_conntrack*> found;
};

bool AddressMatches(const nf_conntrack* ct,
                    const std::optional<IpAddress>& want) {
  if (!want.has_value()) return true;
  const void* dst = want->family() == IPFamily::kIPv4
                        ? nfct_get_attr(ct, ATTR_ORIG_IPV4_DST)
                        : nfct_get_attr(ct, ATTR_ORIG_IPV6_DST);
  return dst != nullptr && memcmp(dst, want->bytes(), want->byte_length()) == 0;
}

int Collect(enum nf_conntrack_msg_type, nf_conntrack* ct, void* data) {
  Match* m = static_cast<Match*>(data);
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
    return NFCT_CB_CONTINUE;
  auto it = m->ports.find(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  if (it == m->ports.end()) return NFCT_CB_CONTINUE;
  for (const std::optional<IpAddress>& want : it->second) {
    if (AddressMatches(ct, want)) {
      m->found.push_back(nfct_clone(ct));
      break;
    }
  }
  return NFCT_CB_CONTINUE;
}

}  // namespace

absl::StatusOr<int> NetlinkConntrackCleaner::DeleteUdp(
    IPFamily family, const std::vector<UdpDestination>& destinations) {
  if (destinations.empty()) return 0;
  Match match;
  for (const UdpDestination& d : destinations) {
    match.ports[htons(static_cast<uint16_t>(d.port))].push_back(d.address);
  }
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (h == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("conntrack: cannot open netlink: ", std::strerror(errno)));
  }
  nfct_callback_register(h, NFCT_T_ALL, Collect, &match);
  // One dump for every destination; the kernel leaves out the other family.
  nfct_filter_dump* filter = nfct_filter_dump_create();
  if (filter == nullptr) {
    nfct_close(h);
    return absl::ResourceExhaustedError("conntrack: cannot allocate a filter");
  }
  nfct_filter_dump_set_attr_u8(filter, NFCT_FILTER_DUMP_L3NUM,
                               family == IPFamily::kIPv4 ? AF_INET : AF_INET6);
  int rc = nfct_query(h, NFCT_Q_DUMP_FILTER, filter);
  const int dump_errno = errno;
  nfct_filter_dump_destroy(filter);
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
