#include "hostport/render/nft_transaction.h"

#include "absl/strings/str_cat.h"

namespace hostport {

std::string NftTransaction::Render() const {
  std::string out;
  for (const std::string& command : commands_) {
    absl::StrAppend(&out, command, "\n");
  }
  return out;
}

}  // namespace hostport
