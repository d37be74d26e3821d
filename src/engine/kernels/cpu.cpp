// Fast kernels: every matrix product goes through BLAS sgemm, single-threaded, called on independent
// slices (column slices of a matmul, heads of attention) by the thread team (team.h): OpenBLAS's own
// pool beside another made the two spin against each other (~20% of the sgemm peak). Each kernel
// must agree with its twin in ref.cpp (tests/unit/test-kernels.cpp). Loops too small to gain from
// threads run on the caller. Softmax and SiLU use exp_approx, which vectorises: std::exp took half
// of the attention time.
#include "engine/kernels/kernels.h"

#include "core/error.h"

#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

namespace dlmscope::kernels {

namespace {

// ---- elementwise --------------------------------------------------------------------------------

// e^x to within 1.5 ulp for |x| <= 87 (beyond, x is clamped to ±87), with no branch or call so that
// the softmax and SiLU loops vectorise (std::exp does not). x = n·ln2 + r, |r| <= ln2/2 (ln2 split
// in two for an exact product), e^r by Cephes' expf polynomial, 2^n written into the exponent bits.
// The clamp works on the bit pattern: a float compare would keep GCC from vectorising the loop
// (-ftrapping-math).
inline float exp_approx(float x) {
    uint32_t b = std::bit_cast<uint32_t>(x);
    if ((b & 0x7fffffffu) > 0x42ae0000u) b = (b & 0x80000000u) | 0x42ae0000u;  // |x| > 87.0f
    x = std::bit_cast<float>(b);
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2)
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// ---- matmul --------------------------------------------------------------------------------------

// Rows of a bf16/f16 weight are widened to f32 per call, at most kChunkElems floats at a time per
// thread, so the sgemm below sees f32 and the scratch stays small.
constexpr int64_t kChunkElems = int64_t(1) << 20;  // 4 MiB of f32 per thread

void widen_rows(const Matrix& W, int64_t r0, int64_t n, float* out) {
    to_f32(W.dtype, static_cast<const uint16_t*>(W.data) + r0 * W.cols, n * W.cols, out);
}

// y[:, n0:n0+n] = x · W[n0:n0+n, :]ᵀ on the calling thread.
void matmul_rows(const float* x, int64_t M, int64_t ldx, const Matrix& W, int64_t n0, int64_t n, float* y, int64_t ldy) {
    const int64_t K = W.cols;
    const float* w = nullptr;
    thread_local std::vector<float> scratch;
    if (W.dtype == DType::f32) {
        w = static_cast<const float*>(W.data) + n0 * K;
    } else {
        scratch.resize(static_cast<size_t>(n * K));
        widen_rows(W, n0, n, scratch.data());
        w = scratch.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(n), static_cast<int>(K), 1.0f, x,
                static_cast<int>(ldx), w, static_cast<int>(K), 0.0f, y + n0, static_cast<int>(ldy));
}

}  // namespace

PreparedWeight pack_panels(const Matrix& w, Precision p, int nr) {
    if (p == Precision::f32 && w.dtype != DType::bf16) return as_is(w, p);  // not bf16: OpenBLAS reads it
    const int64_t N = w.rows, K = w.cols, K2 = (K + 1) / 2, P = (N + nr - 1) / nr;
    PreparedWeight pw;
    pw.src = w;
    pw.precision = p;
    pw.layout = kPanelLayout;
    pw.packed_bytes = static_cast<size_t>(P * K2 * nr) * 4;
    auto buf = std::shared_ptr<uint32_t[]>(new uint32_t[static_cast<size_t>(P * K2 * nr)]);
    uint32_t* dst = buf.get();
    parallel_for(P, threads(), [&](int64_t panel) {
        std::vector<float> row(static_cast<size_t>(K2 * 2), 0.0f);
        std::vector<uint16_t> bf(row.size());
        for (int c = 0; c < nr; ++c) {
            const int64_t n = panel * nr + c;
            if (n < N) {
                to_f32(w.dtype, static_cast<const uint8_t*>(w.data) + n * K * static_cast<int64_t>(dtype_size(w.dtype)), K, row.data());
                round_to_bf16(row.data(), K2 * 2, bf.data());  // exact for bf16 weights; the pad stays 0
            } else {
                std::fill(bf.begin(), bf.end(), uint16_t(0));
            }
            for (int64_t j = 0; j < K2; ++j) dst[(panel * K2 + j) * nr + c] = bf[2 * j] | (uint32_t(bf[2 * j + 1]) << 16);
        }
    });
    pw.packed = dst;
    pw.storage = std::move(buf);
    return pw;
}

void panel_matmul(PanelRange range, int nr, const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) {
    const int64_t N = w.rows(), K = w.cols(), K2 = (K + 1) / 2;
    if (M == 0 || N == 0) return;
    if (w.layout != kPanelLayout) return cpu::matmul(x, M, ldx, w.src, y, ldy);  // f32/f16 weights at f32 precision
    thread_local std::vector<float> xp;
    xp.resize(static_cast<size_t>(M * 2 * K2));
    for (int64_t m = 0; m < M; ++m) {
        float* d = xp.data() + m * 2 * K2;
        if (w.precision == Precision::bf16)
            round_rows_to_bf16(x + m * ldx, 1, K, ldx, d);
        else
            std::copy(x + m * ldx, x + m * ldx + K, d);
        if (K < 2 * K2) d[K] = 0.0f;  // odd K: the pad meets the panels' zero
    }
    const float* xpp = xp.data();
    const auto* panels = static_cast<const uint32_t*>(w.packed);
    const int64_t P = (N + nr - 1) / nr;
    const int nt = threads_for(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K), kParallelFlops);
    // Several groups of panels per thread, so a preempted thread holds up the others less.
    const int64_t pieces = nt == 1 ? 1 : 4 * nt, per = std::max<int64_t>(1, (P + pieces - 1) / pieces);
    parallel_for((P + per - 1) / per, nt, [&](int64_t s) { range(xpp, M, K2, panels, N, s * per, std::min(P, (s + 1) * per), y, ldy); });
}

namespace cpu {

void matmul(const float* x, int64_t M, int64_t ldx, const Matrix& W, float* y, int64_t ldy) {
    const int64_t N = W.rows, K = W.cols;
    if (M == 0 || N == 0) return;
    const int nt = threads_for(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K), kParallelFlops);
    // Column slices of y (rows of W): two per thread, so a thread the OS preempts holds up the others
    // less; one when running alone. Multiples of 64 keep the BLAS kernel on full register tiles.
    const int64_t pieces = nt == 1 ? 1 : 2 * nt;
    int64_t slice = std::max<int64_t>(64, ((N + pieces - 1) / pieces + 63) / 64 * 64);
    if (W.dtype != DType::f32) slice = std::min(slice, std::max<int64_t>(1, kChunkElems / std::max<int64_t>(K, 1)));
    const int64_t n_slices = (N + slice - 1) / slice;
    parallel_for(n_slices, nt, [&](int64_t s) { matmul_rows(x, M, ldx, W, s * slice, std::min(slice, N - s * slice), y, ldy); });
}

void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) {
    thread_local std::vector<float> wf;
    wf.resize(static_cast<size_t>(d));
    to_f32(w.dtype, w.data, d, wf.data());
    const float* wp = wf.data();
    parallel_rows(M, static_cast<double>(M * d), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const float* xi = x + i * d;
            float ss = 0.0f;
            for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
            const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
            float* yi = y + i * d;
            for (int64_t j = 0; j < d; ++j) yi[j] = (xi[j] * inv) * wp[j];
        }
    });
}

void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) {
    const int half = hd / 2;
    parallel_rows(L, static_cast<double>(L * n_heads * hd), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float* c = cos + p * hd;
            const float* s = sin + p * hd;
            for (int h = 0; h < n_heads; ++h) {
                float* t = x + p * ld + static_cast<int64_t>(h) * hd;
                for (int j = 0; j < half; ++j) {
                    const float a = t[j], b = t[j + half];
                    t[j] = a * c[j] - b * s[j];
                    t[j + half] = b * c[j + half] + a * s[j + half];
                }
            }
        }
    });
}

void silu_mul(const float* g, const float* u, float* z, int64_t n) {
    parallel_rows(n, static_cast<double>(n), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) z[i] = g[i] / (1.0f + exp_approx(-g[i])) * u[i];
    });
}

void attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads, int hd,
               float* probs, float* o) {
    const int dq = n_heads * hd, dkv = n_kv_heads * hd, group = n_heads / n_kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const int iq = static_cast<int>(Lq), ik = static_cast<int>(Lk);
    const double flops = 4.0 * n_heads * static_cast<double>(Lq) * static_cast<double>(Lk) * hd;
    // Heads are independent: each task is one whole head (scores, softmax, P·v).
    parallel_for(n_heads, threads_for(flops, kParallelFlops), [&](int64_t hh) {
        const int h = static_cast<int>(hh);
        thread_local std::vector<float> scratch;  // one head's scores when nobody keeps them
        if (!probs) scratch.resize(static_cast<size_t>(Lq * Lk));
        float* P = probs ? probs + static_cast<int64_t>(h) * Lq * Lk : scratch.data();
        // S_h = scale · q_h k_hᵀ, written straight into P.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iq, ik, hd, scale, q + h * hd, dq, k + (h / group) * hd, dkv, 0.0f, P,
                    ik);
        // Row softmax over keys (max-subtracted).
        for (int64_t r = 0; r < Lq; ++r) {
            float* p = P + r * Lk;
            float mx = p[0];
            for (int64_t j = 1; j < Lk; ++j) mx = std::max(mx, p[j]);
            for (int64_t j = 0; j < Lk; ++j) p[j] = exp_approx(p[j] - mx);
            float sum = 0.0f;
            for (int64_t j = 0; j < Lk; ++j) sum += p[j];
            const float inv = 1.0f / sum;
            for (int64_t j = 0; j < Lk; ++j) p[j] *= inv;
        }
        // o_h = P_h · v_h.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, iq, hd, ik, 1.0f, P, ik, v + (h / group) * hd, dkv, 0.0f, o + h * hd,
                    dq);
    });
}

}  // namespace cpu
}  // namespace dlmscope::kernels
