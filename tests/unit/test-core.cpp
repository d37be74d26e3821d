// Unit tests of src/core: resolving the paths that files name.
#include "core/file.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>

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

}  // namespace
}  // namespace dlmscope
