#include "hostport/os/nft_netlink.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hostport {
namespace {

// How long an answer may take before the kernel is declared silent.
constexpr int kAnswerSeconds = 10;

// One field of `type_word` from `text`, unpadded.
absl::StatusOr<std::string> EncodeField(absl::string_view type_word,
                                        absl::string_view text) {
  const std::string value(text);
  if (type_word == "ipv4_addr" || type_word == "ipv6_addr") {
    const bool v4 = type_word == "ipv4_addr";
    unsigned char bytes[16];
    if (inet_pton(v4 ? AF_INET : AF_INET6, value.c_str(), bytes) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text, "\" is not an ", v4 ? "IPv4" : "IPv6", " address"));
    }
    return std::string(reinterpret_cast<char*>(bytes), v4 ? 4 : 16);
  }
  if (type_word == "inet_proto") {
    int number = -1;
    if (text == "tcp") number = IPPROTO_TCP;
    if (text == "udp") number = IPPROTO_UDP;
    if (text == "sctp") number = IPPROTO_SCTP;
    if (number < 0 &&
        (!absl::SimpleAtoi(text, &number) || number < 0 || number > 255)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text, "\" is not a protocol: want tcp, udp, sctp or 0-255"));
    }
    return std::string(1, static_cast<char>(number));
  }
  if (type_word == "inet_service") {
    int port = -1;
    if (!absl::SimpleAtoi(text, &port) || port < 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a port: want 0-65535"));
    }
    const uint16_t network = htons(static_cast<uint16_t>(port));
    return std::string(reinterpret_cast<const char*>(&network), 2);
  }
  if (type_word == "ifname") {
    absl::string_view name = text;
    if (!absl::ConsumePrefix(&name, "\"") ||
        !absl::ConsumeSuffix(&name, "\"") || name.size() >= IFNAMSIZ) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text,
                       "\" is not an interface name: want a quoted name of "
                       "at most ",
                       IFNAMSIZ - 1, " characters"));
    }
    std::string bytes(name);
    bytes.resize(IFNAMSIZ, '\0');
    return bytes;
  }
  return absl::UnimplementedError(
      absl::StrCat("type \"", type_word, "\" is not encoded here"));
}

absl::StatusOr<uint16_t> NfProto(absl::string_view family) {
  if (family == "ip") return NFPROTO_IPV4;
  if (family == "ip6") return NFPROTO_IPV6;
  return absl::UnimplementedError(
      absl::StrCat("family \"", family, "\" is not encoded here"));
}

// The comment `text` as nft stores it in an element's user data.
absl::StatusOr<std::string> CommentData(const std::string& text) {
  std::unique_ptr<nftnl_udata_buf, void (*)(const nftnl_udata_buf*)> buf(
      nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN), nftnl_udata_buf_free);
  if (buf == nullptr) return absl::ResourceExhaustedError("out of memory");
  if (!nftnl_udata_put_strz(buf.get(), NFTNL_UDATA_SET_ELEM_COMMENT,
                            text.c_str())) {
    return absl::InvalidArgumentError(
        absl::StrCat("comment \"", text, "\" is too long"));
  }
  return std::string(static_cast<char*>(nftnl_udata_buf_data(buf.get())),
                     nftnl_udata_buf_len(buf.get()));
}

struct EncodedOp {
  std::string key;
  std::string value;
  std::string comment;
};

absl::StatusOr<EncodedOp> Encode(const NftElementOp& op) {
  EncodedOp e;
  absl::StatusOr<std::string> key = EncodeNftData(op.key_type, op.key);
  if (!key.ok()) return key.status();
  e.key = std::move(*key);
  if (op.kind == NftElementOp::Kind::kAdd && !op.value_type.empty()) {
    absl::StatusOr<std::string> value = EncodeNftData(op.value_type, op.value);
    if (!value.ok()) return value.status();
    e.value = std::move(*value);
  }
  if (op.kind == NftElementOp::Kind::kAdd && !op.comment.empty()) {
    absl::StatusOr<std::string> comment = CommentData(op.comment);
    if (!comment.ok()) return comment.status();
    e.comment = std::move(*comment);
  }
  return e;
}

// The comment in an element's user data ("" for none).
std::string CommentOf(const void* data, uint32_t size) {
  const nftnl_udata* attrs[NFTNL_UDATA_SET_ELEM_MAX + 1] = {};
  const int parsed = nftnl_udata_parse(
      data, size,
      [](const nftnl_udata* attr, void* out) {
        const uint8_t type = nftnl_udata_type(attr);
        if (type <= NFTNL_UDATA_SET_ELEM_MAX) {
          static_cast<const nftnl_udata**>(out)[type] = attr;
        }
        return 0;
      },
      attrs);
  const nftnl_udata* comment = attrs[NFTNL_UDATA_SET_ELEM_COMMENT];
  if (parsed < 0 || comment == nullptr || nftnl_udata_len(comment) == 0) {
    return "";
  }
  // Stored with its terminating NUL.
  return std::string(static_cast<const char*>(nftnl_udata_get(comment)),
                     nftnl_udata_len(comment) - 1);
}

// Whether the element a NEWSETELEM answer carries has `want`'s value and
// comment (its key is the one asked for).
bool HeldAs(const nlmsghdr* message, const EncodedOp& want) {
  std::unique_ptr<nftnl_set, void (*)(const nftnl_set*)> set(nftnl_set_alloc(),
                                                             nftnl_set_free);
  if (set == nullptr || nftnl_set_elems_nlmsg_parse(message, set.get()) < 0) {
    return false;
  }
  std::unique_ptr<nftnl_set_elems_iter, void (*)(nftnl_set_elems_iter*)> it(
      nftnl_set_elems_iter_create(set.get()), nftnl_set_elems_iter_destroy);
  nftnl_set_elem* elem =
      it == nullptr ? nullptr : nftnl_set_elems_iter_next(it.get());
  if (elem == nullptr) return false;
  uint32_t size = 0;
  const void* value = nftnl_set_elem_get(elem, NFTNL_SET_ELEM_DATA, &size);
  const std::string held_value =
      value == nullptr ? ""
                       : std::string(static_cast<const char*>(value), size);
  const void* user = nftnl_set_elem_get(elem, NFTNL_SET_ELEM_USERDATA, &size);
  const std::string held_comment = user == nullptr ? "" : CommentOf(user, size);
  const std::string want_comment =
      want.comment.empty()
          ? ""
          : CommentOf(want.comment.data(), want.comment.size());
  return held_value == want.value && held_comment == want_comment;
}

// Appends to `batch` one `type` message for element `e` of `table` `set`:
// its key, and with `whole` its value and comment too.
absl::Status AppendElement(mnl_nlmsg_batch* batch, uint16_t type,
                           uint16_t nfproto, uint16_t flags, uint32_t seq,
                           const std::string& table, const std::string& set,
                           const EncodedOp& e, bool whole) {
  std::unique_ptr<nftnl_set, void (*)(const nftnl_set*)> s(nftnl_set_alloc(),
                                                           nftnl_set_free);
  nftnl_set_elem* elem = s == nullptr ? nullptr : nftnl_set_elem_alloc();
  if (elem == nullptr) return absl::ResourceExhaustedError("out of memory");
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set.c_str());
  nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY, e.key.data(), e.key.size());
  if (whole && !e.value.empty()) {
    nftnl_set_elem_set(elem, NFTNL_SET_ELEM_DATA, e.value.data(),
                       e.value.size());
  }
  if (whole && !e.comment.empty()) {
    nftnl_set_elem_set(elem, NFTNL_SET_ELEM_USERDATA, e.comment.data(),
                       e.comment.size());
  }
  nftnl_set_elem_add(s.get(), elem);  // The set frees it.
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch)),
                            type, nfproto, flags, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  mnl_nlmsg_batch_next(batch);
  return absl::OkStatus();
}

// Appends to `batch` one `type` message naming chain `chain` of `table`.
absl::Status AppendChain(mnl_nlmsg_batch* batch, uint16_t type,
                         uint16_t nfproto, uint32_t seq,
                         const std::string& table, const std::string& chain) {
  std::unique_ptr<nftnl_chain, void (*)(const nftnl_chain*)> c(
      nftnl_chain_alloc(), nftnl_chain_free);
  if (c == nullptr) return absl::ResourceExhaustedError("out of memory");
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, chain.c_str());
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch)),
                            type, nfproto, 0, seq);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
  mnl_nlmsg_batch_next(batch);
  return absl::OkStatus();
}

// Appends to `batch` one `type` message naming rule `handle` of chain
// `chain` of `table` (handle 0: no rule, the chain's every rule).
absl::Status AppendRule(mnl_nlmsg_batch* batch, uint16_t type, uint16_t nfproto,
                        uint32_t seq, const std::string& table,
                        const std::string& chain, uint64_t handle) {
  std::unique_ptr<nftnl_rule, void (*)(const nftnl_rule*)> r(nftnl_rule_alloc(),
                                                             nftnl_rule_free);
  if (r == nullptr) return absl::ResourceExhaustedError("out of memory");
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  if (handle != 0) nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, handle);
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch)),
                            type, nfproto, 0, seq);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
  mnl_nlmsg_batch_next(batch);
  return absl::OkStatus();
}

// The kernel's errno as a status about `what`.
absl::Status KernelError(int error, absl::string_view what) {
  const std::string message =
      absl::StrCat("nft: ", std::strerror(error), " (", what, ")");
  return error == ENOENT ? absl::NotFoundError(message)
                         : absl::FailedPreconditionError(message);
}

// Calls `f` for each attribute in [begin, end) (mnl_attr_for_each, which C++
// cannot compile).
template <typename F>
void ForEachAttr(const void* begin, const void* end, F f) {
  const char* stop = static_cast<const char*>(end);
  for (const nlattr* a = static_cast<const nlattr*>(begin); mnl_attr_ok(
           a, static_cast<int>(stop - reinterpret_cast<const char*>(a)));
       a = mnl_attr_next(a)) {
    f(a);
  }
}

// Calls `f` for each attribute nested in `parent`.
template <typename F>
void ForEachNested(const nlattr* parent, F f) {
  const char* payload = static_cast<const char*>(mnl_attr_get_payload(parent));
  ForEachAttr(payload, payload + mnl_attr_get_payload_len(parent), f);
}

// The chain the verdict of an immediate expression's data jumps or goes to
// ("" for another verdict).
std::string VerdictTarget(const nlattr* data) {
  std::string target;
  ForEachNested(data, [&](const nlattr* verdict) {
    if (mnl_attr_get_type(verdict) != NFTA_DATA_VERDICT) return;
    uint32_t code = 0;
    std::string chain;
    ForEachNested(verdict, [&](const nlattr* field) {
      if (mnl_attr_get_type(field) == NFTA_VERDICT_CODE &&
          mnl_attr_get_payload_len(field) >= sizeof(uint32_t)) {
        code = ntohl(mnl_attr_get_u32(field));
      } else if (mnl_attr_get_type(field) == NFTA_VERDICT_CHAIN) {
        chain = mnl_attr_get_str(field);
      }
    });
    const int verdict_code = static_cast<int>(code);
    if (verdict_code == NFT_JUMP || verdict_code == NFT_GOTO) target = chain;
  });
  return target;
}

// The handle and jump target of the rule a NEWRULE message carries.
NftRuleJump ParseRule(const nlmsghdr* message) {
  NftRuleJump rule;
  const char* payload =
      static_cast<const char*>(mnl_nlmsg_get_payload(message));
  ForEachAttr(payload + sizeof(nfgenmsg),
              reinterpret_cast<const char*>(message) + message->nlmsg_len,
              [&](const nlattr* attr) {
                if (mnl_attr_get_type(attr) == NFTA_RULE_HANDLE &&
                    mnl_attr_get_payload_len(attr) >= sizeof(uint64_t)) {
                  rule.handle = be64toh(mnl_attr_get_u64(attr));
                  return;
                }
                if (mnl_attr_get_type(attr) != NFTA_RULE_EXPRESSIONS) return;
                ForEachNested(attr, [&](const nlattr* expr) {
                  std::string name;
                  const nlattr* data = nullptr;
                  ForEachNested(expr, [&](const nlattr* field) {
                    if (mnl_attr_get_type(field) == NFTA_EXPR_NAME) {
                      name = mnl_attr_get_str(field);
                    } else if (mnl_attr_get_type(field) == NFTA_EXPR_DATA) {
                      data = field;
                    }
                  });
                  if (name != "immediate" || data == nullptr) return;
                  ForEachNested(data, [&](const nlattr* immediate) {
                    if (mnl_attr_get_type(immediate) != NFTA_IMMEDIATE_DATA) {
                      return;
                    }
                    std::string target = VerdictTarget(immediate);
                    if (!target.empty()) rule.target = std::move(target);
                  });
                });
              });
  return rule;
}

}  // namespace

absl::StatusOr<std::string> EncodeNftData(absl::string_view type,
                                          absl::string_view text) {
  const std::vector<absl::string_view> types = absl::StrSplit(type, " . ");
  const std::vector<absl::string_view> fields = absl::StrSplit(text, " . ");
  if (types.size() != fields.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" has ", fields.size(), " fields; type \"",
                     type, "\" has ", types.size()));
  }
  std::string data;
  for (size_t i = 0; i < types.size(); ++i) {
    absl::StatusOr<std::string> field = EncodeField(types[i], fields[i]);
    if (!field.ok()) return field.status();
    data += *field;
    // A concatenation keeps each field in whole 32-bit registers.
    if (types.size() > 1) data.resize((data.size() + 3) / 4 * 4, '\0');
  }
  return data;
}

NftNetlink::~NftNetlink() {
  if (socket_ != nullptr) mnl_socket_close(socket_);
}

absl::Status NftNetlink::Open() {
  if (socket_ != nullptr) return absl::OkStatus();
  socket_ = mnl_socket_open(NETLINK_NETFILTER);
  if (socket_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("nft: netlink socket: ", std::strerror(errno)));
  }
  timeval timeout{kAnswerSeconds, 0};
  if (setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout)) != 0 ||
      mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) != 0) {
    const int error = errno;
    mnl_socket_close(socket_);
    socket_ = nullptr;
    return absl::UnavailableError(
        absl::StrCat("nft: netlink socket: ", std::strerror(error)));
  }
  port_id_ = mnl_socket_get_portid(socket_);
  return absl::OkStatus();
}

absl::Status NftNetlink::Send(const void* data, size_t size) {
  if (mnl_socket_sendto(socket_, data, size) < 0) {
    return absl::UnavailableError(
        absl::StrCat("nft: netlink send: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status NftNetlink::Receive(
    const std::function<bool(const Answer&)>& done) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE * 4);
  while (true) {
    const ssize_t n =
        mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat(
          "nft: netlink receive: ",
          errno == EAGAIN ? absl::StrCat("no answer in ", kAnswerSeconds, " s")
                          : std::strerror(errno)));
    }
    int left = static_cast<int>(n);
    for (const nlmsghdr* nlh = reinterpret_cast<const nlmsghdr*>(buffer.data());
         mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_pid != port_id_ && nlh->nlmsg_pid != 0) continue;
      Answer answer{nlh->nlmsg_seq, nlh->nlmsg_type, 0, nlh};
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err =
            static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        answer.error = -err->error;
      }
      if (done(answer)) return absl::OkStatus();
    }
  }
}

absl::Status NftNetlink::ApplyElements(absl::string_view family,
                                       absl::string_view table,
                                       const std::vector<NftElementOp>& ops) {
  if (ops.empty()) return absl::OkStatus();
  absl::StatusOr<uint16_t> nfproto = NfProto(family);
  if (!nfproto.ok()) return nfproto.status();
  // Everything encodes before anything is sent.
  std::vector<EncodedOp> encoded;
  for (const NftElementOp& op : ops) {
    absl::StatusOr<EncodedOp> e = Encode(op);
    if (!e.ok()) {
      return absl::Status(e.status().code(),
                          absl::StrCat("element { ", op.key, " } of set ",
                                       op.set, ": ", e.status().message()));
    }
    encoded.push_back(std::move(*e));
  }

  const std::string table_name(table);
  return Transact(
      ops.size(), 1024,
      [&](mnl_nlmsg_batch* batch, size_t i, uint32_t seq) {
        const bool add = ops[i].kind == NftElementOp::Kind::kAdd;
        return AppendElement(
            batch, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, *nfproto,
            add ? NLM_F_CREATE : 0, seq, table_name, ops[i].set, encoded[i],
            /*whole=*/true);
      },
      [&](size_t i) {
        const NftElementOp& op = ops[i];
        return absl::StrCat(
            op.kind == NftElementOp::Kind::kAdd ? "adding" : "deleting",
            " element { ", op.key, " } of ", family, " ", table, " ", op.set);
      });
}

absl::Status NftNetlink::Transact(
    size_t count, size_t bytes_each,
    const std::function<absl::Status(mnl_nlmsg_batch*, size_t, uint32_t)>&
        append,
    const std::function<std::string(size_t)>& what,
    std::optional<uint32_t> generation) {
  if (absl::Status s = Open(); !s.ok()) return s;
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE + count * bytes_each);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
  nlmsghdr* begin = nftnl_batch_begin(
      static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq_++);
  // The kernel refuses the whole batch (ERESTART) if the ruleset is no
  // longer at this generation.
  if (generation.has_value()) {
    static_cast<nfgenmsg*>(mnl_nlmsg_get_payload(begin))->res_id =
        htons(NFNL_SUBSYS_NFTABLES);
    mnl_attr_put_u32(begin, NFNL_BATCH_GENID, htonl(*generation));
  }
  mnl_nlmsg_batch_next(batch);
  const uint32_t first = seq_;
  for (size_t i = 0; i < count; ++i) {
    if (absl::Status appended = append(batch, i, seq_++); !appended.ok()) {
      mnl_nlmsg_batch_stop(batch);
      return appended;
    }
  }
  nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq_++);
  mnl_nlmsg_batch_next(batch);
  absl::Status sent =
      Send(mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch));
  mnl_nlmsg_batch_stop(batch);
  if (!sent.ok()) return sent;

  // The answer to a generation request sent after the batch comes after
  // every answer of the batch: the batch's errors, if any, are before it.
  char request[MNL_SOCKET_BUFFER_SIZE];
  const uint32_t marker = seq_++;
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(request, NFT_MSG_GETGEN, AF_UNSPEC, 0, marker);
  if (absl::Status s = Send(nlh, nlh->nlmsg_len); !s.ok()) return s;
  absl::Status refused = absl::OkStatus();
  absl::Status received = Receive([&](const Answer& a) {
    if (a.error != 0 && refused.ok() && a.seq >= first &&
        a.seq < first + count) {
      refused = KernelError(a.error, what(a.seq - first));
    } else if (a.error == ERESTART && refused.ok()) {
      refused = absl::FailedPreconditionError(
          "nft: the ruleset changed after it was read (the transaction)");
    } else if (a.error != 0 && refused.ok() && a.seq != marker) {
      refused = KernelError(a.error, "the transaction");
    }
    return a.seq == marker;
  });
  if (!received.ok()) return received;
  return refused;
}

absl::StatusOr<std::vector<bool>> NftNetlink::HoldsElements(
    absl::string_view family, absl::string_view table,
    const std::vector<NftElementOp>& ops) {
  if (ops.empty()) return std::vector<bool>{};
  absl::StatusOr<uint16_t> nfproto = NfProto(family);
  if (!nfproto.ok()) return nfproto.status();
  std::vector<EncodedOp> encoded;
  for (const NftElementOp& op : ops) {
    absl::StatusOr<EncodedOp> e = Encode(op);
    if (!e.ok()) return e.status();
    encoded.push_back(std::move(*e));
  }
  if (absl::Status s = Open(); !s.ok()) return s;
  const std::string table_name(table);
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE + ops.size() * 512);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
  const uint32_t first = seq_;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (absl::Status appended =
            AppendElement(batch, NFT_MSG_GETSETELEM, *nfproto, 0, seq_++,
                          table_name, ops[i].set, encoded[i], /*whole=*/false);
        !appended.ok()) {
      mnl_nlmsg_batch_stop(batch);
      return appended;
    }
  }
  std::vector<bool> holds(ops.size(), false);
  absl::Status looked_up = Lookup(
      batch, first, ops.size(), NFT_MSG_NEWSETELEM,
      [&](size_t i, const Answer& a) {
        holds[i] = HeldAs(a.message, encoded[i]);
      },
      [&](size_t i) {
        return absl::StrCat("looking up element { ", ops[i].key, " } of ",
                            family, " ", table, " ", ops[i].set);
      });
  if (!looked_up.ok()) return looked_up;
  return holds;
}

absl::Status NftNetlink::Lookup(
    mnl_nlmsg_batch* batch, uint32_t first, size_t count, uint16_t reply,
    const std::function<void(size_t, const Answer&)>& found,
    const std::function<std::string(size_t)>& what) {
  absl::Status sent =
      Send(mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch));
  mnl_nlmsg_batch_stop(batch);
  if (!sent.ok()) return sent;
  size_t answered = 0;
  absl::Status refused = absl::OkStatus();
  absl::Status received = Receive([&](const Answer& a) {
    if (a.seq < first || a.seq >= first + count) return false;
    const size_t i = a.seq - first;
    if (a.type == ((NFNL_SUBSYS_NFTABLES << 8) | reply)) {
      found(i, a);
    } else if (a.type == NLMSG_ERROR && a.error != ENOENT && refused.ok()) {
      refused = KernelError(a.error, what(i));
    }
    return ++answered == count;
  });
  if (!received.ok()) return received;
  return refused;
}

absl::StatusOr<std::vector<std::string>> NftNetlink::ExistingChains(
    absl::string_view family, absl::string_view table,
    const std::vector<std::string>& chains) {
  absl::StatusOr<std::vector<uint64_t>> handles =
      ChainHandles(family, table, chains);
  if (!handles.ok()) return handles.status();
  std::vector<std::string> present;
  for (size_t i = 0; i < chains.size(); ++i) {
    if ((*handles)[i] != 0) present.push_back(chains[i]);
  }
  return present;
}

absl::StatusOr<std::vector<uint64_t>> NftNetlink::ChainHandles(
    absl::string_view family, absl::string_view table,
    const std::vector<std::string>& chains) {
  if (chains.empty()) return std::vector<uint64_t>{};
  absl::StatusOr<uint16_t> nfproto = NfProto(family);
  if (!nfproto.ok()) return nfproto.status();
  if (absl::Status s = Open(); !s.ok()) return s;
  const std::string table_name(table);
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE + chains.size() * 512);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
  const uint32_t first = seq_;
  for (const std::string& name : chains) {
    if (absl::Status s = AppendChain(batch, NFT_MSG_GETCHAIN, *nfproto, seq_++,
                                     table_name, name);
        !s.ok()) {
      mnl_nlmsg_batch_stop(batch);
      return s;
    }
  }
  std::vector<uint64_t> handles(chains.size(), 0);
  absl::Status looked_up = Lookup(
      batch, first, chains.size(), NFT_MSG_NEWCHAIN,
      [&](size_t i, const Answer& a) {
        const char* payload =
            static_cast<const char*>(mnl_nlmsg_get_payload(a.message));
        ForEachAttr(
            payload + sizeof(nfgenmsg),
            reinterpret_cast<const char*>(a.message) + a.message->nlmsg_len,
            [&](const nlattr* attr) {
              if (mnl_attr_get_type(attr) == NFTA_CHAIN_HANDLE &&
                  mnl_attr_get_payload_len(attr) >= sizeof(uint64_t)) {
                handles[i] = be64toh(mnl_attr_get_u64(attr));
              }
            });
      },
      [&](size_t i) {
        return absl::StrCat("looking up chain ", chains[i], " of ", family, " ",
                            table);
      });
  if (!looked_up.ok()) return looked_up;
  return handles;
}

absl::StatusOr<std::vector<NftRuleJump>> NftNetlink::RulesByHandle(
    absl::string_view family, absl::string_view table, absl::string_view chain,
    const std::vector<uint64_t>& handles) {
  if (handles.empty()) return std::vector<NftRuleJump>{};
  absl::StatusOr<uint16_t> nfproto = NfProto(family);
  if (!nfproto.ok()) return nfproto.status();
  if (absl::Status s = Open(); !s.ok()) return s;
  const std::string table_name(table), chain_name(chain);
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE + handles.size() * 256);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
  const uint32_t first = seq_;
  for (uint64_t handle : handles) {
    if (absl::Status s = AppendRule(batch, NFT_MSG_GETRULE, *nfproto, seq_++,
                                    table_name, chain_name, handle);
        !s.ok()) {
      mnl_nlmsg_batch_stop(batch);
      return s;
    }
  }
  std::vector<std::optional<NftRuleJump>> found(handles.size());
  absl::Status looked_up = Lookup(
      batch, first, handles.size(), NFT_MSG_NEWRULE,
      [&](size_t i, const Answer& a) { found[i] = ParseRule(a.message); },
      [&](size_t i) {
        return absl::StrCat("looking up rule ", handles[i], " of chain ", chain,
                            " of ", family, " ", table);
      });
  if (!looked_up.ok()) return looked_up;
  std::vector<NftRuleJump> rules;
  for (std::optional<NftRuleJump>& rule : found) {
    if (rule.has_value()) rules.push_back(std::move(*rule));
  }
  return rules;
}

absl::StatusOr<std::vector<NftRuleJump>> NftNetlink::RuleJumps(
    absl::string_view family, absl::string_view table,
    absl::string_view chain) {
  absl::StatusOr<uint16_t> nfproto = NfProto(family);
  if (!nfproto.ok()) return nfproto.status();
  if (absl::Status s = Open(); !s.ok()) return s;
  const std::string table_name(table), chain_name(chain);
  const std::string what =
      absl::StrCat("listing chain ", chain, " of ", family, " ", table);
  // A dump the ruleset changed under is marked interrupted; ask again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    char request[MNL_SOCKET_BUFFER_SIZE];
    const uint32_t seq = seq_++;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(request, NFT_MSG_GETRULE, *nfproto,
                                          NLM_F_DUMP, seq);
    std::unique_ptr<nftnl_rule, void (*)(const nftnl_rule*)> filter(
        nftnl_rule_alloc(), nftnl_rule_free);
    if (filter == nullptr) return absl::ResourceExhaustedError("out of memory");
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, table_name.c_str());
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_CHAIN, chain_name.c_str());
    nftnl_rule_nlmsg_build_payload(nlh, filter.get());
    if (absl::Status s = Send(nlh, nlh->nlmsg_len); !s.ok()) return s;
    std::vector<NftRuleJump> rules;
    bool interrupted = false;
    int error = 0;
    absl::Status received = Receive([&](const Answer& a) {
      if (a.seq != seq) return false;
      if (a.message->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (a.type == NLMSG_DONE) return true;
      if (a.type == NLMSG_ERROR) {
        error = a.error;
        return true;
      }
      if (a.type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)) {
        rules.push_back(ParseRule(a.message));
      }
      return false;
    });
    if (!received.ok()) return received;
    if (error != 0) return KernelError(error, what);
    if (!interrupted) return rules;
  }
  return absl::UnavailableError(
      absl::StrCat("nft: the ruleset kept changing while ", what));
}

absl::Status NftNetlink::ApplyRuleOps(absl::string_view family,
                                      const std::vector<NftRuleOp>& ops,
                                      std::optional<uint32_t> generation) {
  if (ops.empty()) return absl::OkStatus();
  absl::StatusOr<uint16_t> nfproto = NfProto(family);
  if (!nfproto.ok()) return nfproto.status();
  using Kind = NftRuleOp::Kind;
  return Transact(
      ops.size(), 512,
      [&](mnl_nlmsg_batch* batch, size_t i, uint32_t seq) {
        const NftRuleOp& op = ops[i];
        if (op.kind == Kind::kDeleteChain) {
          return AppendChain(batch, NFT_MSG_DELCHAIN, *nfproto, seq, op.table,
                             op.chain);
        }
        // Without a handle, DELRULE empties the chain.
        return AppendRule(batch, NFT_MSG_DELRULE, *nfproto, seq, op.table,
                          op.chain,
                          op.kind == Kind::kDeleteRule ? op.handle : 0);
      },
      [&](size_t i) {
        const NftRuleOp& op = ops[i];
        const std::string where =
            absl::StrCat(op.chain, " of ", family, " ", op.table);
        switch (op.kind) {
          case Kind::kDeleteRule:
            return absl::StrCat("deleting rule ", op.handle, " of chain ",
                                where);
          case Kind::kFlushChain:
            return absl::StrCat("flushing chain ", where);
          case Kind::kDeleteChain:
            break;
        }
        return absl::StrCat("deleting chain ", where);
      },
      generation);
}

absl::StatusOr<uint32_t> NftNetlink::Generation() {
  if (absl::Status s = Open(); !s.ok()) return s;
  char request[MNL_SOCKET_BUFFER_SIZE];
  const uint32_t seq = seq_++;
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(request, NFT_MSG_GETGEN, AF_UNSPEC, 0, seq);
  if (absl::Status s = Send(nlh, nlh->nlmsg_len); !s.ok()) return s;
  std::optional<uint32_t> generation;
  int error = 0;
  absl::Status received = Receive([&](const Answer& a) {
    if (a.seq != seq) return false;
    if (a.type == NLMSG_ERROR) {
      error = a.error;
      return true;
    }
    const char* payload =
        static_cast<const char*>(mnl_nlmsg_get_payload(a.message));
    ForEachAttr(payload + sizeof(nfgenmsg),
                reinterpret_cast<const char*>(a.message) + a.message->nlmsg_len,
                [&](const nlattr* attr) {
                  if (mnl_attr_get_type(attr) == NFTA_GEN_ID &&
                      mnl_attr_get_payload_len(attr) >= sizeof(uint32_t)) {
                    generation = ntohl(mnl_attr_get_u32(attr));
                  }
                });
    return true;
  });
  if (!received.ok()) return received;
  if (error != 0) return KernelError(error, "asking the ruleset's generation");
  if (!generation.has_value()) {
    return absl::UnavailableError("nft: the generation answer carried no id");
  }
  return *generation;
}

}  // namespace hostport
