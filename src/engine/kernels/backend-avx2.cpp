// The avx2 backend: f32 FMA on 256-bit vectors over bf16 weights packed at load into panels of 16
// columns and widened in registers (panel-kernel.h); f32/f16 weights at f32 precision through
// OpenBLAS. For CPUs without AVX-512 (AMD Zen 2/3,
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
    static void store(float* p, T a) { _mm256_storeu_ps(p, a); }
    static T add(T a, T b) { return _mm256_add_ps(a, b); }
    static T broadcast(const float* p) { return _mm256_broadcast_ss(p); }
    // 16 bf16 at p -> even-index elements in e, odd-index ones in o, as f32.
    static void widen_pair(const uint16_t* p, T& e, T& o) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        e = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        o = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
    }
};

constexpr int kNv = 2;  // vectors per panel: 16 columns
constexpr int kMr = 4;  // rows of x per micro-kernel: 8 accumulators + 4 widened weight vectors + 2 broadcasts

}  // namespace
#include "engine/kernels/panel-kernel.h"
namespace {

void avx2_range(const float* x, int64_t M, int64_t K2, const uint32_t* panels, int64_t N, int64_t p0, int64_t p1, float* y, int64_t ldy) {
    panel_range(x, M, K2, panels, N, p0, p1, y, ldy);
}

}  // namespace
#pragma GCC pop_options

namespace {

class Avx2Backend final : public Backend {
public:
    const char* name() const override { return "avx2"; }
    std::string isa() const override { return "AVX2 FMA (bf16 weight panels widened in registers)"; }
    bool available() const override { return cpu_features().avx2 && cpu_features().fma; }
    PreparedWeight prepare(const Matrix& w, Precision p) const override { return pack_panels(w, p, kNr); }
    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        panel_matmul(avx2_range, kNr, x, M, ldx, w, y, ldy);
    }
};

}  // namespace

const Backend& avx2_backend() {
    static const Avx2Backend b;
    return b;
}

}  // namespace dlmscope::kernels
