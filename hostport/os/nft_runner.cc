#include "hostport/os/nft_runner.h"

#include <nftables/libnftables.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hostport {

absl::Status NftRunner::RunElements(absl::string_view, absl::string_view,
                                    const std::vector<NftElementOp>&,
                                    const std::string& script) {
  return Run(script);
}

absl::StatusOr<std::vector<bool>> NftRunner::HoldsElements(
    absl::string_view, absl::string_view, const std::vector<NftElementOp>&) {
  return absl::UnimplementedError("elements are looked up in a listing");
}

absl::StatusOr<std::vector<std::string>> NftRunner::ExistingChains(
    absl::string_view family, absl::string_view table,
    const std::vector<std::string>& chains) {
  absl::StatusOr<std::string> listing = List("list chains");
  if (!listing.ok()) return listing.status();
  return ChainsListed(*listing, family, table, chains);
}

absl::Status NftRunner::WithNetlink(
    const std::function<absl::Status(NftNetlink&)>&) {
  return absl::UnimplementedError("no netlink socket here");
}

std::vector<std::string> ChainsListed(absl::string_view listing,
                                      absl::string_view family,
                                      absl::string_view table,
                                      const std::vector<std::string>& chains) {
  const std::string header = absl::StrCat("table ", family, " ", table, " {");
  std::vector<std::string> present;
  bool ours = false;
  for (absl::string_view line : absl::StrSplit(listing, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "table ")) ours = line == header;
    if (!ours || !absl::ConsumePrefix(&line, "chain ") ||
        !absl::ConsumeSuffix(&line, "{")) {
      continue;
    }
    line = absl::StripAsciiWhitespace(line);
    for (const std::string& chain : chains) {
      if (line == chain) present.push_back(chain);
    }
  }
  return present;
}

LibNftRunner::LibNftRunner() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (ctx_ != nullptr) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
  // A failure shows on first use, as the context's does.
  netlink_.Open().IgnoreError();
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

absl::Status LibNftRunner::RunElements(absl::string_view family,
                                       absl::string_view table,
                                       const std::vector<NftElementOp>& ops,
                                       const std::string& script) {
  absl::Status direct;
  {
    std::lock_guard<std::mutex> lock(mu_);
    direct = netlink_.ApplyElements(family, table, ops);
  }
  if (absl::IsUnimplemented(direct)) return Run(script);
  return direct;
}

absl::StatusOr<std::vector<std::string>> LibNftRunner::ExistingChains(
    absl::string_view family, absl::string_view table,
    const std::vector<std::string>& chains) {
  std::lock_guard<std::mutex> lock(mu_);
  return netlink_.ExistingChains(family, table, chains);
}

absl::StatusOr<std::vector<bool>> LibNftRunner::HoldsElements(
    absl::string_view family, absl::string_view table,
    const std::vector<NftElementOp>& ops) {
  std::lock_guard<std::mutex> lock(mu_);
  return netlink_.HoldsElements(family, table, ops);
}

absl::Status LibNftRunner::WithNetlink(
    const std::function<absl::Status(NftNetlink&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  return fn(netlink_);
}

}  // namespace hostport
