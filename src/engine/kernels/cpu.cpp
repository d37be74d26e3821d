// Fast kernels: every matrix product goes through BLAS sgemm; elementwise work runs under OpenMP.
// Each must agree with its twin in ref.cpp (tests/unit/test-kernels.cpp).
#include "engine/kernels/kernels.h"

#include "core/half.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

extern "C" {
void openblas_set_num_threads(int);  // provided by OpenBLAS
}

namespace dlmscope::kernels {

namespace {
int g_threads = 0;

// Rows of a bf16/f16 weight widened per call, so the sgemm below sees f32. Chunks keep the
// scratch small (at most kChunkElems floats) while each sgemm stays large enough to be efficient.
constexpr int64_t kChunkElems = int64_t(1) << 22;  // 16 MiB of f32

void widen_rows(const Matrix& W, int64_t r0, int64_t n, float* out) {
    const uint16_t* p = static_cast<const uint16_t*>(W.data) + r0 * W.cols;
    const int64_t total = n * W.cols;
    if (W.dtype == DType::bf16) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < total; ++i) out[i] = bf16_to_f32(p[i]);
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < total; ++i) out[i] = f16_to_f32(p[i]);
    }
}
}  // namespace

void set_threads(int n) {
    g_threads = n;
    const int t = n > 0 ? n : omp_get_num_procs();
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
}

int threads() { return g_threads > 0 ? g_threads : omp_get_num_procs(); }

namespace cpu {

void matmul(const float* x, int64_t M, int64_t ldx, const Matrix& W, float* y, int64_t ldy) {
    const int64_t N = W.rows, K = W.cols;
    if (M == 0 || N == 0) return;
    if (W.dtype == DType::f32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.0f,
                    x, static_cast<int>(ldx), static_cast<const float*>(W.data), static_cast<int>(K), 0.0f, y, static_cast<int>(ldy));
        return;
    }
    thread_local std::vector<float> scratch;
    const int64_t rows_per_chunk = std::max<int64_t>(1, std::min<int64_t>(N, kChunkElems / std::max<int64_t>(K, 1)));
    scratch.resize(static_cast<size_t>(rows_per_chunk * K));
    for (int64_t r0 = 0; r0 < N; r0 += rows_per_chunk) {
        const int64_t n = std::min(rows_per_chunk, N - r0);
        widen_rows(W, r0, n, scratch.data());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(n), static_cast<int>(K), 1.0f,
                    x, static_cast<int>(ldx), scratch.data(), static_cast<int>(K), 0.0f, y + r0, static_cast<int>(ldy));
    }
}

void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) {
    thread_local std::vector<float> wf;
    wf.resize(static_cast<size_t>(d));
    for (int64_t j = 0; j < d; ++j)
        wf[j] = w.dtype == DType::f32 ? static_cast<const float*>(w.data)[j]
              : w.dtype == DType::bf16 ? bf16_to_f32(static_cast<const uint16_t*>(w.data)[j])
                                       : f16_to_f32(static_cast<const uint16_t*>(w.data)[j]);
    const float* wp = wf.data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; ++i) {
        const float* xi = x + i * d;
        float ss = 0.0f;
        for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
        const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
        float* yi = y + i * d;
        for (int64_t j = 0; j < d; ++j) yi[j] = (xi[j] * inv) * wp[j];
    }
}

void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) {
    const int half = hd / 2;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < L; ++p) {
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
}

void silu_mul(const float* g, const float* u, float* z, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) z[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void attention(const float* q, const float* k, const float* v, int64_t L, int n_heads, int n_kv_heads, int hd,
               float* probs, float* o) {
    const int dq = n_heads * hd, dkv = n_kv_heads * hd, group = n_heads / n_kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const int iL = static_cast<int>(L);
    // Scores for every head: S_h = scale · q_h k_hᵀ, written straight into probs.
    for (int h = 0; h < n_heads; ++h)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iL, iL, hd, scale, q + h * hd, dq, k + (h / group) * hd, dkv, 0.0f,
                    probs + static_cast<int64_t>(h) * L * L, iL);
    // Row softmax over keys (max-subtracted), all heads × rows in parallel.
    const int64_t rows = static_cast<int64_t>(n_heads) * L;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        float* p = probs + r * L;
        float mx = p[0];
        for (int64_t j = 1; j < L; ++j) mx = std::max(mx, p[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j < L; ++j) sum += (p[j] = std::exp(p[j] - mx));
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < L; ++j) p[j] *= inv;
    }
    // o_h = P_h · v_h.
    for (int h = 0; h < n_heads; ++h)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, iL, hd, iL, 1.0f, probs + static_cast<int64_t>(h) * L * L, iL,
                    v + (h / group) * hd, dkv, 0.0f, o + h * hd, dq);
}

}  // namespace cpu
}  // namespace dlmscope::kernels
