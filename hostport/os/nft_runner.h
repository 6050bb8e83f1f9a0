// NftRunner: the one seam through which hostport talks to nftables.
//
// The real runner calls libnftables in-process (nft_run_cmd_from_buffer): a
// script is one kernel transaction, all or nothing, in the network namespace of
// the calling thread, at about 0.1 ms a call instead of ~30 ms to spawn `nft`.
// Errors carry nft's own error text. Tests substitute a fake that keeps the
// ruleset in memory.
#ifndef HOSTPORT_OS_NFT_RUNNER_H_
#define HOSTPORT_OS_NFT_RUNNER_H_

#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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
};

// libnftables in-process. Thread-safe (calls are serialised).
class LibNftRunner : public NftRunner {
 public:
  LibNftRunner();
  ~LibNftRunner() override;
  LibNftRunner(const LibNftRunner&) = delete;
  LibNftRunner& operator=(const LibNftRunner&) = delete;

  absl::Status Run(const std::string& script) override;
  absl::StatusOr<std::string> List(const std::string& command) override;

 private:
  absl::StatusOr<std::string> Execute(const std::string& text);

  std::mutex mu_;
  nft_ctx* ctx_;
};

}  // namespace hostport

#endif  // HOSTPORT_OS_NFT_RUNNER_H_
