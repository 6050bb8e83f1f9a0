// NftRunner: the one seam through which hostport talks to nftables.
//
// The real runner calls libnftables in-process (nft_run_cmd_from_buffer): a
// script is one kernel transaction, all or nothing, in the network namespace of
// the calling thread, at about 0.1 ms a call instead of ~30 ms to spawn `nft`.
// Set elements and chain lookups, what every pod change needs, go to the kernel
// directly (NftNetlink) instead: libnftables dumps the host's whole ruleset
// before each command. Errors carry nft's own error text. Tests substitute a
// fake that keeps the ruleset in memory.
#ifndef HOSTPORT_OS_NFT_RUNNER_H_
#define HOSTPORT_OS_NFT_RUNNER_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/os/nft_netlink.h"

struct nft_ctx;

namespace hostport {

class NftRunner {
 public:
  virtual ~NftRunner() = default;

  // Runs an `nft -f` script as one transaction. On failure nothing of it
  // applies and the status carries nft's error output.
  virtual absl::Status Run(const std::string& script) = 0;

  // Runs one listing command ("list table ip crio-hostports") and returns its
  // output in `nft list` text form. NotFound when the object does not exist.
  virtual absl::StatusOr<std::string> List(const std::string& command) = 0;

  // Adds and deletes set elements of table `family` `table` as one
  // transaction; `script` is the same change as an nft script (what `ops`
  // renders to). NotFound when the table, a set or a deleted element does not
  // exist. By default: Run(script).
  virtual absl::Status RunElements(absl::string_view family,
                                   absl::string_view table,
                                   const std::vector<NftElementOp>& ops,
                                   const std::string& script);

  // For each element of `ops` (adds), whether the kernel holds it as the add
  // would (key, value, comment). By default Unimplemented: the caller lists
  // the table instead.
  virtual absl::StatusOr<std::vector<bool>> HoldsElements(
      absl::string_view family, absl::string_view table,
      const std::vector<NftElementOp>& ops);

  // Those of `chains` that exist in table `family` `table`. By default: read
  // from `list chains`.
  virtual absl::StatusOr<std::vector<std::string>> ExistingChains(
      absl::string_view family, absl::string_view table,
      const std::vector<std::string>& chains);

  // Calls `fn` with the runner's own netlink socket, for requests the
  // methods above do not make (iptables-nft's rules are nf_tables rules),
  // serialised with the runner's other calls. By default Unimplemented: the
  // caller then goes through the iptables tools.
  virtual absl::Status WithNetlink(
      const std::function<absl::Status(NftNetlink&)>& fn);
};

// Those of `chains` that `listing` (`nft list chains`) shows in table
// `family` `table`.
std::vector<std::string> ChainsListed(absl::string_view listing,
                                      absl::string_view family,
                                      absl::string_view table,
                                      const std::vector<std::string>& chains);

// libnftables in-process, and NftNetlink for elements and chain lookups.
// Thread-safe (calls are serialised). Both talk to the network namespace the
// runner was created in.
class LibNftRunner : public NftRunner {
 public:
  // Opens both in the calling thread's network namespace.
  LibNftRunner();
  ~LibNftRunner() override;
  LibNftRunner(const LibNftRunner&) = delete;
  LibNftRunner& operator=(const LibNftRunner&) = delete;

  absl::Status Run(const std::string& script) override;
  absl::StatusOr<std::string> List(const std::string& command) override;
  // Directly over netlink; through libnftables (`script`) only for an element
  // NftNetlink does not encode.
  absl::Status RunElements(absl::string_view family, absl::string_view table,
                           const std::vector<NftElementOp>& ops,
                           const std::string& script) override;
  absl::StatusOr<std::vector<std::string>> ExistingChains(
      absl::string_view family, absl::string_view table,
      const std::vector<std::string>& chains) override;
  absl::StatusOr<std::vector<bool>> HoldsElements(
      absl::string_view family, absl::string_view table,
      const std::vector<NftElementOp>& ops) override;
  absl::Status WithNetlink(
      const std::function<absl::Status(NftNetlink&)>& fn) override;

 private:
  absl::StatusOr<std::string> Execute(const std::string& text);

  std::mutex mu_;
  nft_ctx* ctx_ = nullptr;
  NftNetlink netlink_;
};

}  // namespace hostport

#endif  // HOSTPORT_OS_NFT_RUNNER_H_
