// dlmscope engine: the plain kernels of the LLaDA forward pass, each in two versions with one signature:
//
//   ref::  readable scalar loops, double accumulation — the oracle (like llm.c's CPU reference);
//          the reference backend runs these
//   cpu::  single-threaded BLAS sgemm on independent slices, run by the thread team; the openblas
//          backend's matmul, and the norms, RoPE, SiLU and attention of every fast backend
//
// Backends (backend.h) are what the forward pass calls; tests/unit/test-kernels.cpp checks every
// backend's kernels against ref:: on seeded random inputs. Kernels know nothing about models:
// weights arrive as a Matrix (dtype + pointer + shape).
#pragma once

#include "engine/kernels/backend.h"
#include "engine/kernels/team.h"

#include <cstdint>

namespace dlmscope::kernels {

// RoPE tables (spec 4.3), built in fp32 like the official rotary module:
// inv_freq_j = 1 / theta^(2j/hd) (fp32), angle = p * inv_freq_j (fp32), rows [cos(angles), cos(angles)].
// cos and sin are [n_pos, head_dim].
void rope_tables(int n_pos, int head_dim, double theta, float* cos, float* sin);

namespace ref {
// y[M, N] = x[M, K] · Wᵀ, W = [N, K]. ldx/ldy are row strides of x and y.
void matmul(const float* x, int64_t M, int64_t ldx, const Matrix& W, float* y, int64_t ldy);
// y = w ⊙ x / sqrt(mean(x²) + eps), per row of x [M, d].
void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y);
// Rotates each head of x [L, n_heads*hd] (row stride ld) in place: pairs (j, j + hd/2).
void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin);
// z = silu(g) ⊙ u, n elements.
void silu_mul(const float* g, const float* u, float* z, int64_t n);
// Bidirectional attention of every head: probs [n_heads, Lq, Lk] = softmax(q_h k_hᵀ / sqrt(hd)),
// o[:, h*hd:(h+1)*hd] = probs_h · v_h. q/o are [Lq, n_heads*hd]; k/v are [Lk, n_kv_heads*hd];
// head h reads kv head h / (n_heads / n_kv_heads). probs may be null (not kept).
void attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads, int hd,
               float* probs, float* o);
}  // namespace ref

namespace cpu {
void matmul(const float* x, int64_t M, int64_t ldx, const Matrix& W, float* y, int64_t ldy);
void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y);
void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin);
void silu_mul(const float* g, const float* u, float* z, int64_t n);
void attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads, int hd,
               float* probs, float* o);
}  // namespace cpu

}  // namespace dlmscope::kernels
