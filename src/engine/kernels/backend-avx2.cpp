// The avx2 backend: f32 FMA on 256-bit vectors, bf16 weights read from the mapping and widened in
// registers (dot-kernel.h), f32/f16 weights through OpenBLAS. For CPUs without AVX-512 (AMD Zen 2/3,
// Haswell…); compiled for AVX2+FMA here only, chosen at run time.
#include "core/half.h"
#include "engine/kernels/cpu-features.h"
#include "engine/kernels/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace dlmscope::kernels {

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace {

struct Vec {
    using T = __m256;
    static constexpr int V = 8;
    static T zero() { return _mm256_setzero_ps(); }
    static T load(const float* p) { return _mm256_loadu_ps(p); }
    static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
    static float hsum(T a) {
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
    }
    // 16 bf16 at p -> even-index elements in e, odd-index ones in o, as f32.
    static void widen_pair(const uint16_t* p, T& e, T& o) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        e = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        o = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
    }
};

}  // namespace
#include "engine/kernels/dot-kernel.h"
namespace {

void avx2_deinterleave(const float* x, int64_t M, int64_t K, int64_t ldx, bool round, float* xd) {
    deinterleave_rows<Vec::V>(x, M, K, ldx, round, xd);
}
void avx2_range(const float* xd, int64_t M, int64_t K, const uint16_t* W, int64_t n0, int64_t n1, float* y, int64_t ldy) {
    dot_matmul_range<4, 2>(xd, M, K, W, n0, n1, y, ldy);
}

}  // namespace
#pragma GCC pop_options

namespace {

class Avx2Backend final : public Backend {
public:
    const char* name() const override { return "avx2"; }
    std::string isa() const override { return "AVX2 FMA (bf16 weights widened in registers)"; }
    bool available() const override { return cpu_features().avx2 && cpu_features().fma; }
    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        static const DotKernel kern{Vec::V, avx2_deinterleave, avx2_range, 2};
        dot_matmul(kern, x, M, ldx, w, y, ldy);
    }
};

}  // namespace

const Backend& avx2_backend() {
    static const Avx2Backend b;
    return b;
}

}  // namespace dlmscope::kernels
