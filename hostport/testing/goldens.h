// Reading the golden rulesets of hostport/render/testdata/golden in tests (the
// fakes' golden test and e2e/loadability_test load them the same way).
//
// REQUIRES: data = ["//hostport:goldens"] on the test, so the files are in its
// runfiles under hostport/render/testdata/golden.
#ifndef HOSTPORT_TESTING_GOLDENS_H_
#define HOSTPORT_TESTING_GOLDENS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hostport::testing {

inline constexpr char kGoldenDir[] = "hostport/render/testdata/golden";

// The text of golden `file` ("localhost.4.nft.add"); "" when it is missing or
// empty (a pod without addresses of a family has no delta there).
std::string ReadGolden(const std::string& file);

// The scenario names (from the "<name>.4.iptables.full" files), sorted; nullopt
// when the goldens are not in the runfiles.
std::optional<std::vector<std::string>> GoldenScenarios();

// How many owner comments ("comment \"...\"") `text` holds: every element the
// renderers write carries one.
int CountOwnerComments(absl::string_view text);

// How many lines of `text` start with `prefix`.
int CountPrefixed(absl::string_view text, absl::string_view prefix);

}  // namespace hostport::testing

#endif  // HOSTPORT_TESTING_GOLDENS_H_
