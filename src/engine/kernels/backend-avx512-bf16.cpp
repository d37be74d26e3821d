// The avx512-bf16 backend: at bf16 precision, VDPBF16PS dot products (32 bf16 multiply-adds per
// instruction into 16 f32 lanes) of bf16 activations with the bf16 weights read from the mapping;
// at f32 precision, the avx512 backend's kernel (bf16 weights widened in registers). For AVX-512
// CPUs with AVX512_BF16 and no AMX (AMD Zen 4/5, Cooper Lake).
#include "core/half.h"
#include "engine/kernels/cpu-features.h"
#include "engine/kernels/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dlmscope::kernels {

const Backend& avx512_backend();

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2")
namespace {

// xb[M, Kp] = x rounded to bf16 (RNE), Kp = K rounded up to 32, zero-padded.
void to_bf16_rows(const float* x, int64_t M, int64_t K, int64_t ldx, uint16_t* xb, int64_t Kp) {
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * ldx;
        uint16_t* d = xb + m * Kp;
        int64_t k = 0;
        for (; k + 32 <= K; k += 32) {
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + k + 16), _mm512_loadu_ps(xr + k));
            _mm512_storeu_si512(d + k, reinterpret_cast<const __m512i&>(v));
        }
        for (; k < K; ++k) d[k] = f32_to_bf16(xr[k]);
        for (; k < Kp; ++k) d[k] = 0;
    }
}

// out[i][j] = Σ_k xb[i][k] W[j][k] over K (the last, partial chunk of 32 read with a mask).
template <int MR, int NR>
inline void bf16_block(const uint16_t* xb, int64_t Kp, const uint16_t* w, int64_t K, float* out, int64_t ldo) {
    __m512 acc[MR][NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
    const int64_t full = K / 32 * 32;
    for (int64_t k = 0; k < Kp; k += 32) {
        __m512i wv[NR];
        const __mmask32 mask = k < full ? ~__mmask32(0) : static_cast<__mmask32>((uint64_t(1) << (K - k)) - 1);
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) wv[j] = _mm512_maskz_loadu_epi16(mask, w + j * K + k);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const __m512i xv = _mm512_loadu_si512(xb + i * Kp + k);
#pragma GCC unroll 8
            for (int j = 0; j < NR; ++j)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], reinterpret_cast<const __m512bh&>(xv), reinterpret_cast<const __m512bh&>(wv[j]));
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) out[i * ldo + j] = _mm512_reduce_add_ps(acc[i][j]);
}

void bf16_range(const uint16_t* xb, int64_t M, int64_t Kp, const uint16_t* W, int64_t K, int64_t n0, int64_t n1, float* y, int64_t ldy) {
    constexpr int MR = 4, NR = 4;
    const int64_t mc = std::max<int64_t>(MR, (int64_t(1) << 18) / std::max<int64_t>(Kp, 1) / MR * MR);  // ~512 KiB of x
    for (int64_t m0 = 0; m0 < M; m0 += mc) {
        const int64_t m1 = std::min(M, m0 + mc);
        int64_t n = n0;
        for (; n + NR <= n1; n += NR) {
            int64_t m = m0;
            for (; m + MR <= m1; m += MR) bf16_block<MR, NR>(xb + m * Kp, Kp, W + n * K, K, y + m * ldy + n, ldy);
            for (; m < m1; ++m) bf16_block<1, NR>(xb + m * Kp, Kp, W + n * K, K, y + m * ldy + n, ldy);
        }
        for (; n < n1; ++n)
            for (int64_t m = m0; m < m1; ++m) bf16_block<1, 1>(xb + m * Kp, Kp, W + n * K, K, y + m * ldy + n, ldy);
    }
}

}  // namespace
#pragma GCC pop_options

namespace {

class Avx512Bf16Backend final : public Backend {
public:
    const char* name() const override { return "avx512-bf16"; }
    std::string isa() const override { return "AVX512-BF16 VDPBF16PS at bf16 precision, AVX-512F FMA at f32"; }
    bool available() const override {
        const CpuFeatures& f = cpu_features();
        return f.avx512f && f.avx512bw && f.avx512dq && f.avx512bf16;
    }
    // f32 precision is the avx512 backend's (weights packed into its panels); bf16 reads the bf16
    // weights where they are.
    PreparedWeight prepare(const Matrix& w, Precision p) const override {
        return p == Precision::f32 ? avx512_backend().prepare(w, p) : Backend::prepare(w, p);
    }
    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        if (w.precision == Precision::f32) return avx512_backend().matmul(x, M, ldx, w, y, ldy);
        const int64_t N = w.rows(), K = w.cols(), Kp = (K + 31) / 32 * 32;
        if (M == 0 || N == 0) return;
        thread_local std::vector<uint16_t> xb;
        xb.resize(static_cast<size_t>(M * Kp));
        to_bf16_rows(x, M, K, ldx, xb.data(), Kp);
        const uint16_t* xbp = xb.data();
        const auto* W = static_cast<const uint16_t*>(w.src.data);
        const int nt = threads_for(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K), kParallelFlops);
        const int64_t pieces = nt == 1 ? 1 : 4 * nt;
        const int64_t slice = std::max<int64_t>(4, ((N + pieces - 1) / pieces + 3) / 4 * 4);
        parallel_for((N + slice - 1) / slice, nt,
                     [&](int64_t s) { bf16_range(xbp, M, Kp, W, K, s * slice, std::min(N, (s + 1) * slice), y, ldy); });
    }
};

}  // namespace

const Backend& avx512_bf16_backend() {
    static const Avx512Bf16Backend b;
    return b;
}

}  // namespace dlmscope::kernels
