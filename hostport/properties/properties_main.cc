// main() of the property tests: 1,000 cases per property unless RC_PARAMS says
// otherwise. `bazel test --config=deep` sets RC_PARAMS through --test_env, and
// an explicit RC_PARAMS always wins over this default, so deep runs really do
// run 100,000 cases (a cc_test `env` attribute would override --test_env).
#include <cstdlib>

#include "gtest/gtest.h"

int main(int argc, char** argv) {
  if (std::getenv("RC_PARAMS") == nullptr) {
    setenv("RC_PARAMS", "max_success=1000", /*overwrite=*/0);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
