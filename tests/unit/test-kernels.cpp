// Kernel tests: every backend in the registry against the reference kernels (the whole forward of
// every backend against the reference backend is in test-model.cpp).
//
// Like Highway's per-target tests, each test is instantiated for every backend compiled in; one the
// CPU cannot run is skipped with the reason (so CI's log says which ran), and a new backend is tested
// by being registered.
//
// Sections:
//   1. error metric and seeded inputs
//   2. per-kernel case tables (matmul at both precisions, rmsnorm, rope, silu_mul, attention), each
//      case run with one thread and with all threads, so both the serial and the parallel code
//      paths are covered; NaN/Inf propagation; the thread team's exception safety
//
// The error metric is ggml's normalised mean squared error, NMSE = Σ(a−b)² / Σb², with b from the
// reference (double accumulation). Each table states its tolerance and why.
#include "engine/kernels/kernels.h"
#include "support/fixtures.h"

#include "core/half.h"

#include <fmt/format.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace dlmscope {
namespace {

namespace k = kernels;
using test::max_abs_diff;

// ---- 1. error metric and seeded inputs -----------------------------------------------------------

double nmse(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        const double d = static_cast<double>(a[i]) - b[i];
        num += d * d;
        den += static_cast<double>(b[i]) * b[i];
    }
    return den > 0.0 ? num / den : num;
}

TEST(DifferenceHelpers, FailOnNanAndInf) {
    const std::vector<float> a = {1.0f, 2.0f}, nan = {1.0f, NAN}, inf = {1.0f, INFINITY};
    EXPECT_TRUE(std::isnan(max_abs_diff(a, nan)));
    EXPECT_FALSE(max_abs_diff(a, inf) < 1.0);
    EXPECT_TRUE(std::isnan(max_abs_diff(inf, inf))) << "Inf − Inf is NaN, not 0";
    EXPECT_FALSE(nmse(nan, a) < 1.0);
    EXPECT_FALSE(nmse(inf, a) < 1.0);
    EXPECT_NONFATAL_FAILURE(max_abs_diff(a, {1.0f}), "b.size()");
    EXPECT_TRUE(std::isnan(test::worse(0.5, NAN)));
    EXPECT_TRUE(std::isnan(test::worse(NAN, 0.5)));
    EXPECT_EQ(test::worse(0.5, 0.25), 0.5);
}

// The first `n` columns of each of `rows` rows of a strided matrix (padding must not dilute NMSE).
std::vector<float> columns(const std::vector<float>& a, int64_t rows, int64_t ld, int64_t n) {
    std::vector<float> out;
    out.reserve(static_cast<size_t>(rows * n));
    for (int64_t i = 0; i < rows; ++i) out.insert(out.end(), a.begin() + i * ld, a.begin() + i * ld + n);
    return out;
}

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

// A weight matrix in the requested dtype; `storage` keeps the bytes alive.
struct TestWeight {
    std::vector<float> f32;
    std::vector<uint16_t> half;
    k::Matrix m;
};

TestWeight make_weight(int64_t rows, int64_t cols, DType dtype, uint32_t seed, float scale = 1.0f) {
    TestWeight w;
    w.f32 = randn(static_cast<size_t>(rows * cols), seed, scale);
    w.m = {dtype, w.f32.data(), rows, cols};
    if (dtype != DType::f32) {
        w.half.resize(w.f32.size());
        for (size_t i = 0; i < w.f32.size(); ++i) w.half[i] = dtype == DType::bf16 ? f32_to_bf16(w.f32[i]) : f32_to_f16(w.f32[i]);
        w.m.data = w.half.data();
    }
    return w;
}

const char* dtype_str(DType t) { return t == DType::f32 ? "f32" : t == DType::bf16 ? "bf16" : "f16"; }

// Every registered backend's name.
std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (const k::Backend* b : k::backends()) names.push_back(b->name());
    return names;
}

// Runs each case with every backend, once with one thread and once with all threads (serial and
// parallel paths). A backend this CPU cannot run is skipped, saying so.
class BackendThreads : public ::testing::TestWithParam<std::tuple<std::string, int>> {
protected:
    void SetUp() override {
        const std::string& name = std::get<0>(GetParam());
        for (const k::Backend* b : k::backends())
            if (name == b->name()) backend_ = b;
        ASSERT_NE(backend_, nullptr);
        if (!backend_->available()) GTEST_SKIP() << "backend " << name << " needs " << backend_->isa() << ": not on this CPU";
        k::set_threads(std::get<1>(GetParam()));
    }
    void TearDown() override { k::set_threads(0); }
    const k::Backend& backend() const { return *backend_; }

private:
    const k::Backend* backend_ = nullptr;
};

std::string backend_thread_name(const ::testing::TestParamInfo<std::tuple<std::string, int>>& info) {
    std::string n = std::get<0>(info.param);
    for (char& ch : n)
        if (ch == '-') ch = '_';
    return n + (std::get<1>(info.param) == 0 ? "_all_threads" : "_" + std::to_string(std::get<1>(info.param)) + "_thread");
}

#define DLM_INSTANTIATE_PER_BACKEND(Suite) \
    INSTANTIATE_TEST_SUITE_P(Kernels, Suite, ::testing::Combine(::testing::ValuesIn(backend_names()), ::testing::Values(1, 0)), \
                             backend_thread_name)

TEST(Registry, NamesAreUniqueAndAutoIsAvailable) {
    const std::vector<std::string> names = backend_names();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
    EXPECT_TRUE(k::select_backend("auto").available());
    EXPECT_STREQ(k::select_backend("reference").name(), "reference");
    for (const k::Backend* b : k::backends()) std::printf("backend %-12s %-9s %s\n", b->name(), b->available() ? "runs" : "SKIPPED", b->isa().c_str());
}

// ---- 2. kernel cases -----------------------------------------------------------------------------

// matmul: y = x·Wᵀ against ref::matmul (double sums) on the same operands: at f32 precision the
// weight as given; at bf16 both operands rounded to bf16 first (products exact). What remains is the
// summation: float (blocked, in BLAS, in registers, or in AMX tiles) against double, plus, for AMX at
// f32, the 2⁻²⁴-relative remainder of splitting x into three bf16 parts. Rounding grows like
// √K·2⁻²⁴ per element: measured NMSE is ≤ 1e-13 for K up to 3000. 1e-11 leaves a margin of 100
// and still catches one wrong element among the ~10⁵ of the largest case (that alone gives
// NMSE ≳ 1e-5).
constexpr double kMatmulNmse = 1e-11;

struct MatmulCase {
    const char* name;
    int64_t M, N, K;
    int64_t ldx_pad, ldy_pad;  // extra row stride of x and y (the forward writes into wider buffers)
    DType dtype;
    bool bf16_exact = false;   // f32 weights that hold bf16 values (a widened checkpoint)
};

const MatmulCase kMatmulCases[] = {
    {"tiny", 1, 1, 1, 0, 0, DType::f32},
    {"square", 8, 8, 8, 0, 0, DType::f32},
    {"odd sizes", 7, 13, 33, 0, 0, DType::f32},
    {"odd sizes bf16", 5, 130, 67, 0, 0, DType::bf16},
    {"odd sizes f16", 17, 65, 96, 0, 0, DType::f16},
    {"strided x and y", 9, 20, 24, 5, 3, DType::f32},
    {"strided bf16", 9, 70, 24, 1, 7, DType::bf16},
    {"one row (head of one logit row)", 1, 300, 64, 0, 0, DType::f32},
    {"one row bf16", 1, 300, 64, 0, 0, DType::bf16},
    {"parallel, N not a multiple of 64", 33, 1000, 300, 0, 0, DType::f32},
    {"parallel strided", 40, 700, 200, 3, 9, DType::f32},
    {"bench model q shape", 160, 768, 768, 0, 0, DType::f32},
    {"bench model q shape bf16", 160, 768, 768, 0, 0, DType::bf16},
    {"tails of every block size bf16", 49, 47, 100, 2, 5, DType::bf16},
    {"K below one chunk bf16", 3, 17, 7, 0, 0, DType::bf16},
    {"odd K bf16", 19, 33, 61, 0, 0, DType::bf16},
    {"widened bf16 (exact f32)", 35, 90, 128, 0, 0, DType::f32, true},
    {"parallel bf16, several widening chunks", 3, 1200, 3000, 0, 0, DType::bf16},
    {"parallel f16", 20, 515, 640, 0, 0, DType::f16},
};

// x rounded to bf16 values (kept as f32), for the bf16-precision reference.
std::vector<float> rounded(const std::vector<float>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); ++i) r[i] = bf16_to_f32(f32_to_bf16(x[i]));
    return r;
}

void check_matmul(const k::Backend& be, k::Precision prec) {
    uint32_t seed = 1;
    for (const MatmulCase& c : kMatmulCases) {
        SCOPED_TRACE(fmt::format("{} M={} N={} K={} {} precision {}", c.name, c.M, c.N, c.K, dtype_str(c.dtype), k::precision_name(prec)));
        const int64_t ldx = c.K + c.ldx_pad, ldy = c.N + c.ldy_pad;
        const std::vector<float> x = randn(static_cast<size_t>(c.M * ldx), seed++);
        TestWeight w = make_weight(c.N, c.K, c.dtype, seed++, 1.0f / std::sqrt(static_cast<float>(c.K)));
        if (c.bf16_exact)
            for (float& v : w.f32) v = bf16_to_f32(f32_to_bf16(v));
        // Padding columns of y hold a sentinel: neither kernel may write them.
        constexpr float kSentinel = 12345.0f;
        std::vector<float> y_ref(static_cast<size_t>(c.M * ldy), kSentinel), y_be(y_ref);
        if (prec == k::Precision::f32) {
            k::ref::matmul(x.data(), c.M, ldx, w.m, y_ref.data(), ldy);
        } else {
            std::vector<float> wr(static_cast<size_t>(c.N * c.K));
            to_f32(w.m.dtype, w.m.data, c.N * c.K, wr.data());
            wr = rounded(wr);
            k::ref::matmul(rounded(x).data(), c.M, ldx, {DType::f32, wr.data(), c.N, c.K}, y_ref.data(), ldy);
        }
        const k::PreparedWeight pw = be.prepare(w.m, prec);
        be.matmul(x.data(), c.M, ldx, pw, y_be.data(), ldy);
        EXPECT_LT(nmse(columns(y_be, c.M, ldy, c.N), columns(y_ref, c.M, ldy, c.N)), kMatmulNmse);
        for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = c.N; j < ldy; ++j) ASSERT_EQ(y_be[i * ldy + j], kSentinel) << "row " << i << " padding col " << j;
    }
}

class MatmulTest : public BackendThreads {};

TEST_P(MatmulTest, F32MatchesRef) { check_matmul(backend(), k::Precision::f32); }
TEST_P(MatmulTest, Bf16MatchesRoundedRef) { check_matmul(backend(), k::Precision::bf16); }

// A NaN or Inf in x must show in its output row (as NaN or ±Inf), never vanish; other rows stay exact.
TEST_P(MatmulTest, NanAndInfPropagate) {
    for (k::Precision prec : {k::Precision::f32, k::Precision::bf16}) {
        SCOPED_TRACE(k::precision_name(prec));
        const int64_t M = 20, N = 40, K = 96;
        std::vector<float> x = randn(static_cast<size_t>(M * K), 5);
        x[3 * K + 10] = NAN;
        x[7 * K + 50] = INFINITY;
        const TestWeight w = make_weight(N, K, DType::bf16, 6, 0.1f);
        std::vector<float> y(static_cast<size_t>(M * N));
        backend().matmul(x.data(), M, K, backend().prepare(w.m, prec), y.data(), N);
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
                const float v = y[i * N + j];
                if (i == 3 || i == 7) EXPECT_FALSE(std::isfinite(v)) << "row " << i << " col " << j << " = " << v;
                else ASSERT_TRUE(std::isfinite(v)) << "row " << i << " col " << j;
            }
    }
}

DLM_INSTANTIATE_PER_BACKEND(MatmulTest);

// rmsnorm: float accumulation of Σx² against double; each output is off by a few ulp (measured
// NMSE ≤ 5e-14). 1e-12 is the bound.
constexpr double kRmsnormNmse = 1e-12;

struct RmsnormCase {
    int64_t M, d;
    DType dtype;
};

const RmsnormCase kRmsnormCases[] = {{1, 64, DType::f32}, {7, 100, DType::bf16}, {3, 33, DType::f16}, {160, 768, DType::f32},
                                     {160, 768, DType::bf16}};

class RmsnormTest : public BackendThreads {};

TEST_P(RmsnormTest, MatchesRef) {
    uint32_t seed = 100;
    for (const RmsnormCase& c : kRmsnormCases) {
        SCOPED_TRACE(fmt::format("M={} d={} {}", c.M, c.d, dtype_str(c.dtype)));
        const std::vector<float> x = randn(static_cast<size_t>(c.M * c.d), seed++, 3.0f);
        TestWeight w = make_weight(1, c.d, c.dtype, seed++, 0.1f);
        for (float& v : w.f32) v += 1.0f;  // norm weights sit near 1
        if (c.dtype != DType::f32)
            for (size_t i = 0; i < w.f32.size(); ++i) w.half[i] = c.dtype == DType::bf16 ? f32_to_bf16(w.f32[i]) : f32_to_f16(w.f32[i]);
        std::vector<float> y_ref(x.size()), y_cpu(x.size());
        k::ref::rmsnorm(x.data(), c.M, c.d, w.m, 1e-5f, y_ref.data());
        backend().rmsnorm(x.data(), c.M, c.d, w.m, 1e-5f, y_cpu.data());
        EXPECT_LT(nmse(y_cpu, y_ref), kRmsnormNmse);
    }
}

DLM_INSTANTIATE_PER_BACKEND(RmsnormTest);

// rope: the same float formula on both sides (measured: bit-identical); only FMA contraction in a
// -march=native build could differ, by an ulp. NMSE 1e-12.
constexpr double kRopeNmse = 1e-12;

struct RopeCase {
    int64_t L;
    int n_heads, hd;
    int64_t ld_pad;  // row stride beyond n_heads·hd (k has fewer heads than q's buffer is wide)
};

const RopeCase kRopeCases[] = {{1, 1, 2, 0}, {5, 2, 8, 0}, {33, 4, 16, 7}, {160, 12, 64, 0}};

class RopeTest : public BackendThreads {};

TEST_P(RopeTest, MatchesRef) {
    uint32_t seed = 200;
    for (const RopeCase& c : kRopeCases) {
        SCOPED_TRACE(fmt::format("L={} heads={} hd={} pad={}", c.L, c.n_heads, c.hd, c.ld_pad));
        const int64_t ld = c.n_heads * c.hd + c.ld_pad;
        std::vector<float> cos(static_cast<size_t>(c.L * c.hd)), sin(cos.size());
        k::rope_tables(static_cast<int>(c.L), c.hd, 500000.0, cos.data(), sin.data());
        std::vector<float> x_ref = randn(static_cast<size_t>(c.L * ld), seed++), x_cpu(x_ref);
        const std::vector<float> before(x_ref);
        k::ref::rope(x_ref.data(), c.L, ld, c.n_heads, c.hd, cos.data(), sin.data());
        backend().rope(x_cpu.data(), c.L, ld, c.n_heads, c.hd, cos.data(), sin.data());
        const int64_t w = static_cast<int64_t>(c.n_heads) * c.hd;
        EXPECT_LT(nmse(columns(x_cpu, c.L, ld, w), columns(x_ref, c.L, ld, w)), kRopeNmse);
        for (int64_t p = 0; p < c.L; ++p)
            for (int64_t j = c.n_heads * c.hd; j < ld; ++j) ASSERT_EQ(x_cpu[p * ld + j], before[p * ld + j]) << "padding touched";
    }
}

DLM_INSTANTIATE_PER_BACKEND(RopeTest);

// silu_mul: a float exp within 1.5 ulp (cpu.cpp's exp_approx) against double exp, a few ulp per
// element (measured NMSE ≤ 2.4e-14). Inputs reach ±40, and ±100 in one case, so the large-argument
// ends (silu(−100) → −0) are exercised. Absolute error is bounded too, since NMSE can hide one bad
// element among large ones: |z| of the random inputs reaches ~100, where an ulp is 7.6e-6 (the
// measured maximum); 1e-4 allows about ten.
constexpr double kSiluNmse = 1e-12;
constexpr double kSiluMaxAbs = 1e-4;

class SiluMulTest : public BackendThreads {};

TEST_P(SiluMulTest, MatchesRef) {
    uint32_t seed = 300;
    for (int64_t n : {int64_t(1), int64_t(1000), int64_t(160 * 2304)}) {
        SCOPED_TRACE(fmt::format("n={}", n));
        std::vector<float> g = randn(static_cast<size_t>(n), seed++, 4.0f);
        if (n > 4) g[0] = 40.0f, g[1] = -40.0f, g[2] = 0.0f, g[3] = 100.0f, g[4] = -100.0f;
        const std::vector<float> u = randn(static_cast<size_t>(n), seed++, 2.0f);
        std::vector<float> z_ref(g.size()), z_cpu(g.size());
        k::ref::silu_mul(g.data(), u.data(), z_ref.data(), n);
        backend().silu_mul(g.data(), u.data(), z_cpu.data(), n);
        EXPECT_LT(nmse(z_cpu, z_ref), kSiluNmse);
        EXPECT_LT(max_abs_diff(z_cpu, z_ref), kSiluMaxAbs);
    }
}

TEST_P(SiluMulTest, InPlaceLikeTheForward) {
    // The forward writes z over g.
    std::vector<float> g = randn(5000, 7, 3.0f);
    const std::vector<float> u = randn(5000, 8);
    std::vector<float> z_ref(g.size());
    k::ref::silu_mul(g.data(), u.data(), z_ref.data(), 5000);
    backend().silu_mul(g.data(), u.data(), g.data(), 5000);
    EXPECT_LT(nmse(g, z_ref), kSiluNmse);
}

DLM_INSTANTIATE_PER_BACKEND(SiluMulTest);

// attention: scores are float dot products of length hd, softmax in float, against double
// throughout. Probabilities lie in [0, 1] and are off by at most a few ulp of 1 (measured 7.5e-7),
// so 1e-5 bounds them; outputs: measured NMSE ≤ 3.2e-13, bound 1e-11. Every row of probs must sum
// to 1 within the rounding of L additions.
constexpr double kProbsMaxAbs = 1e-5;
constexpr double kAttnOutNmse = 1e-11;

struct AttentionCase {
    const char* name;
    int64_t Lq, Lk;  // query rows, keys (Lq < Lk: rows recomputed against cached keys)
    int n_heads, n_kv_heads, hd;
};

const AttentionCase kAttentionCases[] = {
    {"one token", 1, 1, 1, 1, 8},
    {"multi-head", 7, 7, 2, 2, 8},
    {"grouped kv (2 q heads per kv head)", 33, 33, 4, 2, 16},
    {"multi-query (one kv head)", 64, 64, 8, 1, 32},
    {"bench model", 160, 160, 12, 12, 64},
    {"a block of rows against the canvas (dual cache)", 16, 103, 4, 4, 16},
    {"one row against many keys", 1, 97, 4, 2, 32},
    {"grouped kv, rows against keys", 32, 160, 8, 2, 64},
};

class AttentionTest : public BackendThreads {};

TEST_P(AttentionTest, MatchesRef) {
    uint32_t seed = 400;
    for (const AttentionCase& c : kAttentionCases) {
        SCOPED_TRACE(fmt::format("{}: Lq={} Lk={} heads={} kv={} hd={}", c.name, c.Lq, c.Lk, c.n_heads, c.n_kv_heads, c.hd));
        const int64_t dq = static_cast<int64_t>(c.n_heads) * c.hd, dkv = static_cast<int64_t>(c.n_kv_heads) * c.hd;
        // q·k/√hd with unit-variance q and k·2 has standard deviation 2: peaked but not one-hot rows.
        const std::vector<float> q = randn(static_cast<size_t>(c.Lq * dq), seed++);
        const std::vector<float> kk = randn(static_cast<size_t>(c.Lk * dkv), seed++, 2.0f);
        const std::vector<float> v = randn(static_cast<size_t>(c.Lk * dkv), seed++);
        const size_t np = static_cast<size_t>(c.n_heads * c.Lq * c.Lk);
        std::vector<float> p_ref(np), p_cpu(np), o_ref(static_cast<size_t>(c.Lq * dq)), o_cpu(o_ref.size());
        k::ref::attention(q.data(), c.Lq, kk.data(), v.data(), c.Lk, c.n_heads, c.n_kv_heads, c.hd, p_ref.data(), o_ref.data());
        backend().attention(q.data(), c.Lq, kk.data(), v.data(), c.Lk, c.n_heads, c.n_kv_heads, c.hd, p_cpu.data(), o_cpu.data());
        EXPECT_LT(max_abs_diff(p_cpu, p_ref), kProbsMaxAbs);
        EXPECT_LT(nmse(o_cpu, o_ref), kAttnOutNmse);
        double worst_row = 0.0;
        for (size_t r = 0; r < np / c.Lk; ++r) {
            double s = 0.0;
            for (int64_t j = 0; j < c.Lk; ++j) s += p_cpu[r * c.Lk + j];
            worst_row = std::max(worst_row, std::abs(s - 1.0));
        }
        EXPECT_LT(worst_row, 1e-6 * std::max<double>(1.0, static_cast<double>(c.Lk) / 16.0)) << "a row of probs does not sum to 1";
        // Nobody observing (probs null): the same output.
        std::vector<float> o_unobserved(o_cpu.size());
        backend().attention(q.data(), c.Lq, kk.data(), v.data(), c.Lk, c.n_heads, c.n_kv_heads, c.hd, nullptr, o_unobserved.data());
        EXPECT_EQ(max_abs_diff(o_unobserved, o_cpu), 0.0);
    }
}

DLM_INSTANTIATE_PER_BACKEND(AttentionTest);

// The thread team: a throw in a task reaches the caller after every running task has finished, no
// further task starts, and the team keeps working.
TEST(Team, ExceptionReachesCallerAndTeamSurvives) {
    for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(fmt::format("{} threads", threads));
        k::set_threads(threads);
        std::atomic<int> ran{0}, running{0}, after_return{0};
        std::atomic<bool> returned{false};
        EXPECT_THROW(k::parallel_for(1000, threads,
                                     [&](int64_t i) {
                                         ++running;
                                         ++ran;
                                         if (returned) ++after_return;
                                         if (i == 3) {
                                             --running;
                                             throw std::runtime_error("task 3 failed");
                                         }
                                         std::this_thread::sleep_for(std::chrono::microseconds(50));
                                         --running;
                                     }),
                     std::runtime_error);
        returned = true;
        EXPECT_EQ(running.load(), 0) << "a task still ran after parallel_for threw";
        EXPECT_LT(ran.load(), 1000) << "tasks kept starting after the throw";
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        EXPECT_EQ(after_return.load(), 0);
        std::atomic<int64_t> sum{0};
        k::parallel_for(100, threads, [&](int64_t i) { sum += i; });
        EXPECT_EQ(sum.load(), 4950) << "the team no longer works after an exception";
    }
    k::set_threads(0);
}

}  // namespace
}  // namespace dlmscope
