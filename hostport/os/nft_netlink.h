// NftNetlink: set elements and chain lookups of nftables over netlink,
// built with libnftnl, without the cache libnftables fetches first.
//
// Before it runs any command, libnftables dumps every table, chain, set and
// object of the network namespace (five dumps per call), so a process that
// adds one element to one set pays for the whole host's ruleset, and a
// plugin process pays it on every run. NftNetlink sends only the messages a
// change needs:
//   * ApplyElements: one batch of NEWSETELEM/DELSETELEM messages, one kernel
//     transaction, all or nothing;
//   * ExistingChains: one GETCHAIN request per named chain, no dump;
//   * ChainHandles, RulesByHandle: one GETCHAIN or GETRULE request each;
//   * RuleJumps: one dump of one chain's rules (kernel-side filtered), each
//     with its handle and the chain it jumps to;
//   * ApplyRuleOps: one batch deleting rules by handle, flushing and
//     deleting chains.
// The last two are how iptables-nft's own tables lose a mapping without an
// iptables-nft-restore, which caches every rule of the table to delete one.
//
// Elements are given as nft writes them ("10.88.0.5 . 80") with the type the
// set was declared with ("ipv4_addr . inet_service"). The types encoded are
// the ones hostport's sets use: ipv4_addr, ipv6_addr, inet_proto (tcp, udp,
// sctp or a number), inet_service (a number) and ifname (quoted); anything
// else is Unimplemented, for the caller to fall back to libnftables. Fields
// of a concatenation are padded to 4 bytes each, as nft stores them, so what
// is added here lists exactly as the same element added by `nft`.
//
// REQUIRES: the calling thread is in the network namespace to change (the
// socket is opened in it, on first use) and has CAP_NET_ADMIN.
#ifndef HOSTPORT_OS_NFT_NETLINK_H_
#define HOSTPORT_OS_NFT_NETLINK_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/os/nft_element.h"

struct mnl_nlmsg_batch;
struct mnl_socket;
struct nlmsghdr;

namespace hostport {

// `text` ("10.88.0.5 . 80") as the kernel stores data of `type` ("ipv4_addr
// . inet_service"): network byte order, each field of a concatenation padded
// to 4 bytes. InvalidArgument names a value that is not of its type;
// Unimplemented a type word this encoder does not know.
absl::StatusOr<std::string> EncodeNftData(absl::string_view type,
                                          absl::string_view text);

// One rule of a chain: its handle, and the chain its verdict jumps or goes
// to ("" when it does neither).
struct NftRuleJump {
  uint64_t handle = 0;
  std::string target;
};

// One step of ApplyRuleOps, in table `table` of the call's family.
struct NftRuleOp {
  enum class Kind {
    kDeleteRule,   // The rule `handle` of `chain`.
    kFlushChain,   // Every rule of `chain`.
    kDeleteChain,  // `chain` itself, which nothing may jump to.
  };
  Kind kind;
  std::string table;
  std::string chain;
  uint64_t handle = 0;
};

class NftNetlink {
 public:
  NftNetlink() = default;
  ~NftNetlink();
  NftNetlink(const NftNetlink&) = delete;
  NftNetlink& operator=(const NftNetlink&) = delete;

  // Opens and binds the socket in the calling thread's network namespace,
  // where every request then goes; the first request does it otherwise.
  absl::Status Open();

  // Adds and deletes the elements of `ops`, in order, in table `family`
  // ("ip" or "ip6") `table`, as one transaction. Unimplemented (nothing sent)
  // when an element does not encode; otherwise the kernel's answer: NotFound
  // for a table, set or element that does not exist, FailedPrecondition for
  // any other refusal, with the first refused element named.
  absl::Status ApplyElements(absl::string_view family, absl::string_view table,
                             const std::vector<NftElementOp>& ops);

  // For each element of `ops` (adds), whether its set holds it as the add
  // would: the key, with the value (maps) and the comment. One GETSETELEM
  // request per element, no dump. A missing table or set holds nothing.
  // Unimplemented (nothing sent) when an element does not encode.
  absl::StatusOr<std::vector<bool>> HoldsElements(
      absl::string_view family, absl::string_view table,
      const std::vector<NftElementOp>& ops);

  // Those of `chains` that exist in table `family` `table` (none when the
  // table does not exist).
  absl::StatusOr<std::vector<std::string>> ExistingChains(
      absl::string_view family, absl::string_view table,
      const std::vector<std::string>& chains);

  // The handle of each of `chains` in table `family` `table`, 0 for one that
  // does not exist. One GETCHAIN request per chain, no dump.
  absl::StatusOr<std::vector<uint64_t>> ChainHandles(
      absl::string_view family, absl::string_view table,
      const std::vector<std::string>& chains);

  // Those of `handles` that are rules of `chain`, in the order asked. One
  // GETRULE request per handle, no dump (the kernel walks the chain for each;
  // a handle that is not there walks all of it).
  absl::StatusOr<std::vector<NftRuleJump>> RulesByHandle(
      absl::string_view family, absl::string_view table,
      absl::string_view chain, const std::vector<uint64_t>& handles);

  // Every rule of `chain` in table `family` `table`, in order, by one dump
  // the kernel filters to that chain (repeated if the ruleset changed while
  // it ran). A chain that does not exist lists as empty: the kernel's
  // filter finds nothing (Linux 6.1).
  absl::StatusOr<std::vector<NftRuleJump>> RuleJumps(absl::string_view family,
                                                     absl::string_view table,
                                                     absl::string_view chain);

  // The ruleset's generation: it changes with every transaction anyone
  // commits in the namespace.
  absl::StatusOr<uint32_t> Generation();

  // `ops`, in order, in family `family`, as one transaction: all or nothing.
  // NotFound for a rule or chain that does not exist, FailedPrecondition for
  // any other refusal (a chain something still jumps to: EBUSY), with the
  // first refused step named. With `generation`, the kernel refuses it too
  // (FailedPrecondition) when the ruleset is no longer at that generation:
  // what the handles were read from has changed.
  absl::Status ApplyRuleOps(absl::string_view family,
                            const std::vector<NftRuleOp>& ops,
                            std::optional<uint32_t> generation = std::nullopt);

 private:
  // Sends, between a batch's begin and end, the `count` messages
  // `append(batch, i, seq)` writes (sequence numbers consecutive), as one
  // transaction, and waits for the kernel's answer to all of them. The first
  // refusal is named by `what(i)`. With `generation`, only if the ruleset is
  // still at it.
  absl::Status Transact(
      size_t count, size_t bytes_each,
      const std::function<absl::Status(mnl_nlmsg_batch*, size_t, uint32_t)>&
          append,
      const std::function<std::string(size_t)>& what,
      std::optional<uint32_t> generation = std::nullopt);
  // Sends `size` bytes of messages.
  absl::Status Send(const void* data, size_t size);
  // Reads answers until `done` returns true for one of them; each is given
  // with its sequence number, type and (for NLMSG_ERROR) errno, 0 for an
  // acknowledgement.
  struct Answer {
    uint32_t seq;
    uint16_t type;
    int error;
    const nlmsghdr* message;
  };
  absl::Status Receive(const std::function<bool(const Answer&)>& done);
  // Sends the requests of `batch` (and stops it), sequence numbers `first`
  // to `first + count - 1`, each answered by one `reply` message or an error,
  // and calls `found(i, answer)` for each reply. A missing object (ENOENT) is
  // no error; another refusal is, about `what(i)`.
  absl::Status Lookup(mnl_nlmsg_batch* batch, uint32_t first, size_t count,
                      uint16_t reply,
                      const std::function<void(size_t, const Answer&)>& found,
                      const std::function<std::string(size_t)>& what);

  mnl_socket* socket_ = nullptr;
  uint32_t port_id_ = 0;
  uint32_t seq_ = 1;
};

}  // namespace hostport

#endif  // HOSTPORT_OS_NFT_NETLINK_H_
