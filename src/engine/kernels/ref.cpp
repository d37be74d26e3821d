// Reference kernels: plain loops, double accumulators, no tricks. Read these to learn what the
// fast kernels in cpu.cpp must compute.
#include "engine/kernels/kernels.h"

#include <cmath>
#include <vector>

namespace dlmscope::kernels {

namespace {

float element(const Matrix& m, int64_t i) {
    float f = 0.0f;
    to_f32(m.dtype, static_cast<const uint8_t*>(m.data) + i * static_cast<int64_t>(dtype_size(m.dtype)), 1, &f);
    return f;
}

}  // namespace

void rope_tables(int n_pos, int head_dim, double theta, float* cos, float* sin) {
    const int half = head_dim / 2;
    std::vector<float> inv_freq(half);
    for (int j = 0; j < half; ++j) {
        const float expo = static_cast<float>(2 * j) / static_cast<float>(head_dim);
        inv_freq[j] = 1.0f / std::pow(static_cast<float>(theta), expo);
    }
    for (int p = 0; p < n_pos; ++p) {
        for (int j = 0; j < half; ++j) {
            const float angle = static_cast<float>(p) * inv_freq[j];
            const float c = std::cos(angle), s = std::sin(angle);
            cos[p * head_dim + j] = cos[p * head_dim + j + half] = c;
            sin[p * head_dim + j] = sin[p * head_dim + j + half] = s;
        }
    }
}

namespace ref {

void matmul(const float* x, int64_t M, int64_t ldx, const Matrix& W, float* y, int64_t ldy) {
    const int64_t N = W.rows, K = W.cols;
    for (int64_t i = 0; i < M; ++i)
        for (int64_t n = 0; n < N; ++n) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(x[i * ldx + k]) * element(W, n * K + k);
            y[i * ldy + n] = static_cast<float>(acc);
        }
}

void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) {
    for (int64_t i = 0; i < M; ++i) {
        double ss = 0.0;
        for (int64_t j = 0; j < d; ++j) ss += static_cast<double>(x[i * d + j]) * x[i * d + j];
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + eps);
        for (int64_t j = 0; j < d; ++j) y[i * d + j] = static_cast<float>(x[i * d + j] * inv) * element(w, j);
    }
}

void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) {
    const int half = hd / 2;
    for (int64_t p = 0; p < L; ++p)
        for (int h = 0; h < n_heads; ++h) {
            float* t = x + p * ld + static_cast<int64_t>(h) * hd;
            const float* c = cos + p * hd;
            const float* s = sin + p * hd;
            for (int j = 0; j < half; ++j) {
                const float a = t[j], b = t[j + half];
                t[j] = a * c[j] + (-b) * s[j];
                t[j + half] = b * c[j + half] + a * s[j + half];
            }
        }
}

void silu_mul(const float* g, const float* u, float* z, int64_t n) {
    for (int64_t i = 0; i < n; ++i) z[i] = static_cast<float>(g[i] / (1.0 + std::exp(-static_cast<double>(g[i])))) * u[i];
}

void attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads, int hd,
               float* probs, float* o) {
    const int64_t dq = static_cast<int64_t>(n_heads) * hd, dkv = static_cast<int64_t>(n_kv_heads) * hd;
    const int group = n_heads / n_kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    std::vector<double> row(static_cast<size_t>(Lk));
    std::vector<float> own;  // the probabilities when the caller keeps none
    if (!probs) own.resize(static_cast<size_t>(n_heads) * Lq * Lk);
    for (int h = 0; h < n_heads; ++h) {
        const int kvh = h / group;
        float* P = (probs ? probs : own.data()) + static_cast<int64_t>(h) * Lq * Lk;
        for (int64_t i = 0; i < Lq; ++i) {
            double mx = -INFINITY;
            for (int64_t j = 0; j < Lk; ++j) {
                double s = 0.0;
                for (int e = 0; e < hd; ++e) s += static_cast<double>(q[i * dq + h * hd + e]) * k[j * dkv + kvh * hd + e];
                row[j] = s * scale;
                mx = std::max(mx, row[j]);
            }
            double sum = 0.0;
            for (int64_t j = 0; j < Lk; ++j) sum += (row[j] = std::exp(row[j] - mx));
            for (int64_t j = 0; j < Lk; ++j) P[i * Lk + j] = static_cast<float>(row[j] / sum);
            for (int e = 0; e < hd; ++e) {
                double acc = 0.0;
                for (int64_t j = 0; j < Lk; ++j) acc += static_cast<double>(P[i * Lk + j]) * v[j * dkv + kvh * hd + e];
                o[i * dq + h * hd + e] = static_cast<float>(acc);
            }
        }
    }
}

}  // namespace ref
}  // namespace dlmscope::kernels
