// Test support: paths to the fixture runs of the official MMaDA/LLaDA code and small helpers.
#pragma once

#include "core/json.h"
#include "core/npy.h"

#include <gtest/gtest.h>

#include "core/error.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dlmscope::test {

inline std::string fixtures() { return DLMSCOPE_FIXTURES_DIR; }
inline std::string tiny_checkpoint() { return fixtures() + "/mmada-tiny/checkpoint"; }
inline std::string run_dir(const std::string& name) { return fixtures() + "/mmada-tiny/runs/" + name; }

// Largest |a − b| over two equally sized arrays (a size mismatch fails the test), or NaN when any
// difference is NaN (a NaN output, or Inf against Inf): every
// `EXPECT_LT(max_abs_diff(...), tol)` then fails instead of std::max skipping the NaN.
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0.0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        const double d = std::abs(double(a[i]) - double(b[i]));
        if (std::isnan(d)) return NAN;
        m = std::max(m, d);
    }
    return m;
}

// The larger of two differences, NaN if either is: folds max_abs_diff results without losing a NaN
// (std::max(m, NaN) returns m).
inline double worse(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }

// The message of the dlmscope::Error that f throws, or "(no error)".
inline std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// A fresh, empty directory under the system temp dir, unique to this process.
inline std::filesystem::path temp_dir(const std::string& name) {
    namespace fs = std::filesystem;
    fs::path p = fs::temp_directory_path() / ("dlmscope-test-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

template <typename T>
std::vector<int32_t> to_i32(const std::vector<T>& v) {
    return std::vector<int32_t>(v.begin(), v.end());
}

}  // namespace dlmscope::test
