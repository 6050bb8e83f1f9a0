#include "hostport/os/nft_runner.h"

#include <nftables/libnftables.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hostport {

LibNftRunner::LibNftRunner() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (ctx_ != nullptr) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
}

LibNftRunner::~LibNftRunner() {
  if (ctx_ != nullptr) nft_ctx_free(ctx_);
}

absl::StatusOr<std::string> LibNftRunner::Execute(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ctx_ == nullptr) {
    return absl::UnavailableError("libnftables: cannot create a context");
  }
  const int rc = nft_run_cmd_from_buffer(ctx_, text.c_str());
  std::string output = nft_ctx_get_output_buffer(ctx_);
  std::string error = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) {
    absl::string_view message = absl::StripTrailingAsciiWhitespace(error);
    if (absl::StrContains(message, "No such file or directory")) {
      return absl::NotFoundError(absl::StrCat("nft: ", message));
    }
    return absl::FailedPreconditionError(absl::StrCat("nft: ", message));
  }
  return output;
}

absl::Status LibNftRunner::Run(const std::string& script) {
  return Execute(script).status();
}

absl::StatusOr<std::string> LibNftRunner::List(const std::string& command) {
  return Execute(command);
}

}  // namespace hostport
