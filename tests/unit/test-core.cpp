// Unit tests of src/core (resolving the paths that files name) and of the tests' own tolerance
// helpers, which must fail on NaN rather than pass it.
#include "core/file.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>

#include <cmath>
#include <limits>

namespace dlmscope {
namespace {

using ::testing::HasSubstr;
using test::message_of;

TEST(PathInside, RelativePathsInsideTheDirectory) {
    EXPECT_EQ(path_inside("/m", "model-00001-of-00002.safetensors", "index.json", "weight_map['x']"),
              "/m/model-00001-of-00002.safetensors");
    EXPECT_EQ(path_inside("/run", "./arrays/../arrays/step_00001.npz", "run.json", "file"), "/run/arrays/step_00001.npz");
    EXPECT_EQ(path_inside("run", "a/b.npy", "run.json", "file"), "run/a/b.npy");
}

TEST(PathInside, RefusesAbsolutePathsAndEscapes) {
    const std::string abs = message_of([] { path_inside("/m", "/etc/passwd", "/m/index.json", "weight_map['w']"); });
    EXPECT_THAT(abs, HasSubstr("/m/index.json: weight_map['w'] is the absolute path '/etc/passwd'"));
    const std::string up = message_of([] { path_inside("/m", "../secret.safetensors", "/m/index.json", "weight_map['w']"); });
    EXPECT_THAT(up, HasSubstr("'../secret.safetensors' leaves /m"));
    EXPECT_THAT(message_of([] { path_inside("/m", "a/../../b", "f", "k"); }), HasSubstr("leaves"));
    EXPECT_THAT(message_of([] { path_inside("/m", "", "f", "k"); }), HasSubstr("empty path"));
    // Going down and back up stays inside.
    EXPECT_EQ(message_of([] { path_inside("/m", "a/../b", "f", "k"); }), "(no error)");
}

// A NaN (or Inf against Inf) in an output makes max_abs_diff NaN, which fails every
// EXPECT_LT(max_abs_diff(...), tol); worse() folds differences without dropping a NaN.
TEST(TestSupport, DifferencesFailOnNaN) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(test::max_abs_diff({1.0f, 2.0f}, {1.0f, 2.5f}), 0.5);
    EXPECT_TRUE(std::isnan(test::max_abs_diff({1.0f, nan}, {1.0f, 2.0f})));
    EXPECT_TRUE(std::isnan(test::max_abs_diff({inf}, {inf})));
    EXPECT_TRUE(std::isnan(test::worse(0.1, std::nan(""))));
    EXPECT_TRUE(std::isnan(test::worse(std::nan(""), 0.1)));
    EXPECT_EQ(test::worse(0.1, 0.2), 0.2);
    EXPECT_NONFATAL_FAILURE(EXPECT_LT(test::max_abs_diff({nan}, {0.0f}), 1e-5), "max_abs_diff");
}

}  // namespace
}  // namespace dlmscope
