// dlmscope kernels: the f32-FMA matmul over bf16 weights packed into panels, widened only in
// registers. Included by backend-avx2.cpp and backend-avx512.cpp inside a `#pragma GCC target`
// region, after each has defined its vector traits `Vec` (V lanes, zero, load, store, broadcast,
// fma, widen_pair) and `kNv` (vectors per panel): everything here is in an anonymous namespace, so
// each file compiles its own copy for its own instruction set and the linker cannot mix them up.
//
// y[m, n] = Σ_k x[m, k] · W[n, k]. pack_panels (backend.h) lays W out at load as panels of NR =
// kNv·V output columns: panel p holds, for each pair of k (2j, 2j+1), NR 32-bit lanes, lane c =
// (W[pNR + c][2j], W[pNR + c][2j + 1]) in bf16. One vector load gives V columns of two k; the even
// k widens with one shift, the odd one with one mask. The micro-kernel keeps an MR × NR block of y
// in kNv·MR vector accumulators (an outer product: broadcast x[i][k] × a vector of W columns), so
// no horizontal sums. Blocked like a BLAS: a group of panels × kKk pairs of K stays in L2 while the
// MR-row micro-panels of x stream across it from L1; partial sums accumulate in y.
#pragma once

namespace {

constexpr int kNr = kNv * Vec::V;  // output columns per panel

// y[0..MR)[0..cols) (+)= x rows · panel over pairs [j0, j1); x rows are 2·K2 floats apart.
template <int MR>
inline void panel_block(const float* x, int64_t ldx, const uint32_t* panel, int64_t j0, int64_t j1, bool first, float* y, int64_t ldy,
                        int cols) {
    typename Vec::T acc[MR][kNv];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < kNv; ++v) acc[i][v] = Vec::zero();
    for (int64_t j = j0; j < j1; ++j) {
        typename Vec::T we[kNv], wo[kNv];
#pragma GCC unroll 8
        for (int v = 0; v < kNv; ++v) Vec::widen_pair(reinterpret_cast<const uint16_t*>(panel + j * kNr + v * Vec::V), we[v], wo[v]);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const typename Vec::T xe = Vec::broadcast(x + i * ldx + 2 * j);
            const typename Vec::T xo = Vec::broadcast(x + i * ldx + 2 * j + 1);
#pragma GCC unroll 8
            for (int v = 0; v < kNv; ++v) acc[i][v] = Vec::fma(xo, wo[v], Vec::fma(xe, we[v], acc[i][v]));
        }
    }
    if (cols == kNr) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
            for (int v = 0; v < kNv; ++v) {
                float* out = y + i * ldy + v * Vec::V;
                Vec::store(out, first ? acc[i][v] : Vec::add(Vec::load(out), acc[i][v]));
            }
        return;
    }
    alignas(64) float tmp[kNr];  // the last panel: only its first `cols` columns exist in y
    for (int i = 0; i < MR; ++i) {
        for (int v = 0; v < kNv; ++v) Vec::store(tmp + v * Vec::V, acc[i][v]);
        for (int c = 0; c < cols; ++c) y[i * ldy + c] = (first ? 0.0f : y[i * ldy + c]) + tmp[c];
    }
}

// Columns of panels [p0, p1) of y, all M rows. x is [M][2·K2] (zero-padded past K).
void panel_range(const float* x, int64_t M, int64_t K2, const uint32_t* panels, int64_t N, int64_t p0, int64_t p1, float* y, int64_t ldy) {
    constexpr int64_t kKk = 256 / 2;  // pairs of K per block: a panel's share is 64 KiB (AVX-512), x's 6 KiB
    constexpr int64_t kPanels = 4;    // panels per group that stays in L2 while x streams
    const int64_t ldx = 2 * K2;
    for (int64_t g0 = p0; g0 < p1; g0 += kPanels) {
        const int64_t g1 = std::min(p1, g0 + kPanels);
        for (int64_t j0 = 0; j0 < K2; j0 += kKk) {
            const int64_t j1 = std::min(K2, j0 + kKk);
            const bool first = j0 == 0;
            int64_t m = 0;
            for (; m + kMr <= M; m += kMr)
                for (int64_t p = g0; p < g1; ++p)
                    panel_block<kMr>(x + m * ldx, ldx, panels + p * K2 * kNr, j0, j1, first, y + m * ldy + p * kNr, ldy,
                                     static_cast<int>(std::min<int64_t>(kNr, N - p * kNr)));
            for (; m < M; ++m)
                for (int64_t p = g0; p < g1; ++p)
                    panel_block<1>(x + m * ldx, ldx, panels + p * K2 * kNr, j0, j1, first, y + m * ldy + p * kNr, ldy,
                                   static_cast<int>(std::min<int64_t>(kNr, N - p * kNr)));
        }
    }
}

}  // namespace
