// The avx512 backend: f32 FMA on 512-bit vectors over bf16 weights packed at load into panels of
// 64 columns and widened in registers (panel-kernel.h); f32/f16 weights at f32 precision through
// OpenBLAS. For AVX-512 CPUs without bf16
// arithmetic (Ice Lake, Skylake-X); compiled for AVX-512F here only, chosen at run time.
#include "core/half.h"
#include "engine/kernels/cpu-features.h"
#include "engine/kernels/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace dlmscope::kernels {

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2")
namespace {

struct Vec {
    using T = __m512;
    static constexpr int V = 16;
    static T zero() { return _mm512_setzero_ps(); }
    static T load(const float* p) { return _mm512_loadu_ps(p); }
    static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
    static void store(float* p, T a) { _mm512_storeu_ps(p, a); }
    static T add(T a, T b) { return _mm512_add_ps(a, b); }
    static T broadcast(const float* p) { return _mm512_set1_ps(*p); }
    // 32 bf16 at p -> even-index elements in e, odd-index ones in o, as f32.
    static void widen_pair(const uint16_t* p, T& e, T& o) {
        const __m512i v = _mm512_loadu_si512(p);
        e = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        o = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
    }
};

constexpr int kNv = 4;  // vectors per panel: 64 columns
constexpr int kMr = 6;  // rows of x per micro-kernel: 24 accumulators + 8 widened weight vectors

}  // namespace
#include "engine/kernels/panel-kernel.h"
namespace {

void avx512_range(const float* x, int64_t M, int64_t K2, const uint32_t* panels, int64_t N, int64_t p0, int64_t p1, float* y, int64_t ldy) {
    panel_range(x, M, K2, panels, N, p0, p1, y, ldy);
}

}  // namespace
#pragma GCC pop_options

namespace {

class Avx512Backend final : public Backend {
public:
    const char* name() const override { return "avx512"; }
    std::string isa() const override { return "AVX-512F FMA (bf16 weight panels widened in registers)"; }
    bool available() const override { return cpu_features().avx512f && cpu_features().avx512bw && cpu_features().avx512dq; }
    PreparedWeight prepare(const Matrix& w, Precision p) const override { return pack_panels(w, p, kNr); }
    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        panel_matmul(avx512_range, kNr, x, M, ldx, w, y, ldy);
    }
};

}  // namespace

const Backend& avx512_backend() {
    static const Avx512Backend b;
    return b;
}

}  // namespace dlmscope::kernels
