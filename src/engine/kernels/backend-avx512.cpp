// The avx512 backend: f32 FMA on 512-bit vectors, bf16 weights read from the mapping and widened in
// registers (dot-kernel.h), f32/f16 weights through OpenBLAS. For AVX-512 CPUs without bf16
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
    static float hsum(T a) { return _mm512_reduce_add_ps(a); }
    // 32 bf16 at p -> even-index elements in e, odd-index ones in o, as f32.
    static void widen_pair(const uint16_t* p, T& e, T& o) {
        const __m512i v = _mm512_loadu_si512(p);
        e = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        o = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
    }
};

}  // namespace
#include "engine/kernels/dot-kernel.h"
namespace {

void avx512_deinterleave(const float* x, int64_t M, int64_t K, int64_t ldx, bool round, float* xd) {
    deinterleave_rows<Vec::V>(x, M, K, ldx, round, xd);
}
void avx512_range(const float* xd, int64_t M, int64_t K, const uint16_t* W, int64_t n0, int64_t n1, float* y, int64_t ldy) {
    dot_matmul_range<4, 4>(xd, M, K, W, n0, n1, y, ldy);
}

}  // namespace
#pragma GCC pop_options

namespace {

class Avx512Backend final : public Backend {
public:
    const char* name() const override { return "avx512"; }
    std::string isa() const override { return "AVX-512F FMA (bf16 weights widened in registers)"; }
    bool available() const override { return cpu_features().avx512f && cpu_features().avx512bw && cpu_features().avx512dq; }
    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        static const DotKernel kern{Vec::V, avx512_deinterleave, avx512_range, 4};
        dot_matmul(kern, x, M, ldx, w, y, ldy);
    }
};

}  // namespace

const Backend& avx512_backend() {
    static const Avx512Backend b;
    return b;
}

}  // namespace dlmscope::kernels
