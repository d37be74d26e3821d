// dlmscope kernels: the register-blocked dot-product matmul over bf16 weights, widened to f32 only
// in registers. Included by backend-avx2.cpp and backend-avx512.cpp inside a `#pragma GCC target`
// region, after each has defined its vector traits `Vec` (V lanes, load, zero, fma, hsum,
// widen_pair): everything here is in an anonymous namespace, so each file compiles its own copy
// for its own instruction set and the linker can never mix them up.
//
// y[m, n] = Σ_k x[m, k] · W[n, k], W row-major bf16 [N, K] (read straight from the mapped file).
// A bf16 pair (2j, 2j+1) loaded as one 32-bit lane widens with one instruction each: the even
// element is the lane shifted left 16 bits, the odd one the lane with its low 16 bits cleared. So x
// is handed in "deinterleaved": in each chunk of 2V elements, the even-index ones first, then the
// odd ones (deinterleave_rows below). An MR × NR block of outputs keeps MR·NR accumulators in
// registers over a panel of K (dot_matmul_range says how the panels are blocked); the K % 2V tail
// is added in scalar code.
#pragma once

namespace {

// xd[m][c*2V + i] = x[m][c*2V + 2i], xd[m][c*2V + V + i] = x[m][c*2V + 2i + 1] for full chunks c;
// the tail (K % 2V) copied in order. With `round`, every value is rounded to bf16 first.
template <int V>
void deinterleave_rows(const float* x, int64_t M, int64_t K, int64_t ldx, bool round, float* xd) {
    const int64_t full = K / (2 * V) * (2 * V);
    for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * ldx;
        float* d = xd + m * K;
        for (int64_t c = 0; c < full; c += 2 * V)
            for (int i = 0; i < V; ++i) {
                d[c + i] = xr[c + 2 * i];
                d[c + V + i] = xr[c + 2 * i + 1];
            }
        for (int64_t k = full; k < K; ++k) d[k] = xr[k];
        if (round)
            for (int64_t k = 0; k < K; ++k) d[k] = dlmscope::bf16_to_f32(dlmscope::f32_to_bf16(d[k]));
    }
}

// out[i][j] (+)= x row i · W row j over chunks [c0, c1) of 2V elements, for an MR × NR block;
// `first` stores, otherwise adds to what is there.
template <int MR, int NR>
inline void dot_block(const float* xd, int64_t K, const uint16_t* w, int64_t c0, int64_t c1, bool first, float* out, int64_t ldo) {
    constexpr int V = Vec::V;
    typename Vec::T acc[MR][NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) acc[i][j] = Vec::zero();
    for (int64_t c = c0; c < c1; ++c) {
        typename Vec::T we[NR], wo[NR];
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) Vec::widen_pair(w + j * K + c * 2 * V, we[j], wo[j]);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const typename Vec::T xe = Vec::load(xd + i * K + c * 2 * V);
            const typename Vec::T xo = Vec::load(xd + i * K + c * 2 * V + V);
#pragma GCC unroll 8
            for (int j = 0; j < NR; ++j) acc[i][j] = Vec::fma(xo, wo[j], Vec::fma(xe, we[j], acc[i][j]));
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) out[i * ldo + j] = (first ? 0.0f : out[i * ldo + j]) + Vec::hsum(acc[i][j]);
}

// y rows [0, M), columns [n0, n1) — one task's share. xd is x deinterleaved (K columns).
// Blocked like a BLAS: a panel of kNc weight rows × kKc elements of K (≤ 512 KiB of bf16) stays
// in L2 while every MR-row micro-panel of x (MR × kKc floats, 16 KiB) runs across it from L1;
// partial sums over the K panels accumulate in y.
template <int MR, int NR>
void dot_matmul_range(const float* xd, int64_t M, int64_t K, const uint16_t* W, int64_t n0, int64_t n1, float* y, int64_t ldy) {
    constexpr int V = Vec::V;
    constexpr int64_t kKc = 1024 / (2 * V), kNc = 256;  // in chunks of 2V elements; in weight rows
    const int64_t chunks = K / (2 * V), full = chunks * 2 * V;
    for (int64_t nc0 = n0; nc0 < n1; nc0 += kNc) {
        const int64_t nc1 = std::min(n1, nc0 + kNc);
        for (int64_t c0 = 0; c0 == 0 || c0 < chunks; c0 += kKc) {  // once when K < 2V: stores the zeros the tail adds to
            const int64_t c1 = std::min(chunks, c0 + kKc);
            const bool first = c0 == 0;
            int64_t m = 0;
            for (; m + MR <= M; m += MR) {
                int64_t n = nc0;
                for (; n + NR <= nc1; n += NR) dot_block<MR, NR>(xd + m * K, K, W + n * K, c0, c1, first, y + m * ldy + n, ldy);
                for (; n < nc1; ++n) dot_block<MR, 1>(xd + m * K, K, W + n * K, c0, c1, first, y + m * ldy + n, ldy);
            }
            for (; m < M; ++m) {
                int64_t n = nc0;
                for (; n + NR <= nc1; n += NR) dot_block<1, NR>(xd + m * K, K, W + n * K, c0, c1, first, y + m * ldy + n, ldy);
                for (; n < nc1; ++n) dot_block<1, 1>(xd + m * K, K, W + n * K, c0, c1, first, y + m * ldy + n, ldy);
            }
        }
        if (full < K)  // the K % 2V tail, in order
            for (int64_t m = 0; m < M; ++m)
                for (int64_t n = nc0; n < nc1; ++n) {
                    float s = 0.0f;
                    for (int64_t k = full; k < K; ++k) s += xd[m * K + k] * dlmscope::bf16_to_f32(W[n * K + k]);
                    y[m * ldy + n] += s;
                }
    }
}

}  // namespace
