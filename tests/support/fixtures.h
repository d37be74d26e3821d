// Test support: paths to the fixture runs of the official MMaDA/LLaDA code and small helpers.
#pragma once

#include "core/json.h"
#include "core/npy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace dlmscope::test {

inline std::string fixtures() { return DLMSCOPE_FIXTURES_DIR; }
inline std::string tiny_checkpoint() { return fixtures() + "/mmada-tiny/checkpoint"; }
inline std::string run_dir(const std::string& name) { return fixtures() + "/mmada-tiny/runs/" + name; }

// Largest |a - b| over two equally sized arrays; fails the test on a size mismatch.
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0.0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
    return m;
}

template <typename T>
std::vector<int32_t> to_i32(const std::vector<T>& v) {
    return std::vector<int32_t>(v.begin(), v.end());
}

}  // namespace dlmscope::test
