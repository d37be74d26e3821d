// The amx backend: Intel AMX tiles (TDPBF16PS: a 16×16 f32 tile += 16×32 bf16 · 32×16 bf16, 16384
// FLOP per instruction) over weights packed once at load into the tile layout.
//
// Roles: A = activations (16 rows of x × 32 k, bf16, row-major as they are), B = weights (32 k × 16
// outputs in the "VNNI" layout the instruction wants: each 32-bit element holds the pair k, k+1 of
// one output column). prepare() packs W [N, K] into B tiles, 1 KiB each, ordered [N/16][K/32] so
// that one output block's tiles over all of K are contiguous; rows and columns past N and K are
// zero. The mapped source pages can then go (Model::load releases them).
//
// A matmul keeps four C tiles (2 row blocks × 2 column blocks) over the whole of K, loading two B
// tiles and two A tiles per 32 k: four loads for four tile products. Threads split the columns,
// so each streams its own share of the weights from memory once per forward, while the rows of x
// (≤ a few MB) come from the caches.
//
// f32 precision: the bf16 weights are exact, and x = hi + mid + lo with each part a bf16 (the
// remainders of successive rounding) keeps 24 bits of x, so three products per weight tile give
// f32 results (products are exact in f32, accumulation in f32): 3× the tile work, still several
// times the f32 FMA rate. Weights that are not exactly bf16 (f32/f16 checkpoints) cannot be split
// that way; at f32 precision they stay unpacked and go through the AVX-512 path.
#include "core/half.h"
#include "engine/kernels/cpu-features.h"
#include "engine/kernels/kernels.h"

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <new>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace dlmscope::kernels {

const Backend& avx512_backend();

namespace {
constexpr int kPackedLayout = 1;    // PreparedWeight::layout of AMX-packed weights
constexpr int64_t kTileElems = 512;  // bf16 elements in one 16 × 64-byte tile
}  // namespace

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2,amx-tile,amx-bf16")
namespace {

struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

void configure_tiles() {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    // GCC 12's _tile_loadconfig tells the compiler it reads only 8 bytes of cfg: keep every store.
    __asm__ volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
}

// Splits x into `planes` bf16 parts laid out as A tiles: [planes][Mp/16][K32][16 rows][32], each
// tile 1 KiB contiguous (rows of x at their natural stride would put a tile's 16 rows 2·K bytes
// apart, all in the same cache set when K is a multiple of 2048). Rows past M and columns past K
// are zero. Plane 0 = x rounded to bf16; planes 1, 2 = the rounded remainders (f32 precision).
// Non-finite values go to plane 0 alone, so Inf stays Inf and NaN stays NaN.
// Rows [m0, m1) of the padded Mp.
void split_rows(const float* x, int64_t M, int64_t K, int64_t ldx, int planes, uint16_t* xb, int64_t Mp, int64_t K32, int64_t m0, int64_t m1) {
    const int64_t plane = Mp * K32 * 32;
    for (int64_t m = m0; m < m1; ++m) {
        const float* xr = x + m * ldx;
        uint16_t* row = xb + (m / 16) * K32 * kTileElems + (m % 16) * 32;  // tile (m/16, 0), row m%16
        for (int64_t k = 0; k < K32 * 32; k += 16) {
            const __mmask16 in = m >= M ? __mmask16(0)
                                 : k + 16 <= K ? __mmask16(0xffff)
                                 : k < K ? static_cast<__mmask16>((1u << (K - k)) - 1)
                                         : __mmask16(0);
            __m512 r = _mm512_maskz_loadu_ps(in, xr + k);
            const __mmask16 finite = static_cast<__mmask16>(~_mm512_fpclass_ps_mask(r, 0x99));  // not NaN/±Inf
            uint16_t* dst = row + (k / 32) * kTileElems + k % 32;
            for (int p = 0; p < planes; ++p) {
                const __m256bh b = _mm512_cvtneps_pbh(r);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + p * plane), reinterpret_cast<const __m256i&>(b));
                if (p + 1 < planes) {
                    const __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(b)), 16));
                    r = _mm512_maskz_sub_ps(finite, r, back);
                }
            }
        }
    }
}

constexpr int64_t kChunk = 8;  // k tiles (8 × 32 = 256 k) of one weight chunk, reused by every row block
constexpr int64_t kAhead = 2;  // k tiles between prefetching an activation tile and loading it

// Accumulates, for NM (1-2) row blocks × NN (1-2) column blocks, the k tiles [kb0, kb1) with P planes
// of x into the C tiles held in c (tile (i, j) at c + (2i + j) * 256 floats; zeroed when `first`).
// a: plane 0's tiles of the first row block; b: the first column block's tiles.
template <int NM, int NN, int P>
void tile_chunk(const uint16_t* a, int64_t plane, const uint16_t* b, int64_t K32, int64_t kb0, int64_t kb1, bool first, float* c) {
    const uint16_t* a1 = a + K32 * kTileElems;
    const uint16_t* b1 = b + K32 * kTileElems;
    if (first) {
        _tile_zero(0);
        if constexpr (NN > 1) _tile_zero(1);
        if constexpr (NM > 1) _tile_zero(2);
        if constexpr (NM > 1 && NN > 1) _tile_zero(3);
    } else {
        _tile_loadd(0, c, 64);
        if constexpr (NN > 1) _tile_loadd(1, c + 256, 64);
        if constexpr (NM > 1) _tile_loadd(2, c + 512, 64);
        if constexpr (NM > 1 && NN > 1) _tile_loadd(3, c + 768, 64);
    }
    // Each load sits right before the first product that reads it, so it can overlap the products
    // still running on the other registers.
    for (int64_t kb = kb0; kb < kb1; ++kb) {
        // The activation tiles come from L2 (every row block's share of x does not fit in L1 beside
        // the weight chunk); asking for them kAhead steps early hides L2's latency. Measured on the
        // 1B preset: 4-7% faster at bf16; at f32 (three planes, 96 prefetches per step) 10% slower,
        // so bf16 only. The weight tiles, which the hardware prefetchers bring towards L2, are asked
        // into L1 the same distance ahead: with 32 rows (a dual-cache step) 103 → 92 ms per 1B
        // forward at bf16, no change with 160.
        if (kb + kAhead < kb1)
            for (int l = 0; l < 16; ++l) {
                if constexpr (P == 1) {
                    _mm_prefetch(reinterpret_cast<const char*>(a + (kb + kAhead) * kTileElems) + 64 * l, _MM_HINT_T0);
                    if constexpr (NM > 1) _mm_prefetch(reinterpret_cast<const char*>(a1 + (kb + kAhead) * kTileElems) + 64 * l, _MM_HINT_T0);
                }
                _mm_prefetch(reinterpret_cast<const char*>(b + (kb + kAhead) * kTileElems) + 64 * l, _MM_HINT_T0);
                if constexpr (NN > 1) _mm_prefetch(reinterpret_cast<const char*>(b1 + (kb + kAhead) * kTileElems) + 64 * l, _MM_HINT_T0);
            }
#pragma GCC unroll 3
        for (int p = 0; p < P; ++p) {
            if (p == 0) _tile_loadd(6, b + kb * kTileElems, 64);
            _tile_loadd(4, a + p * plane + kb * kTileElems, 64);
            _tile_dpbf16ps(0, 4, 6);
            if constexpr (NN > 1) {
                if (p == 0) _tile_loadd(7, b1 + kb * kTileElems, 64);
                _tile_dpbf16ps(1, 4, 7);
            }
            if constexpr (NM > 1) {
                _tile_loadd(5, a1 + p * plane + kb * kTileElems, 64);
                _tile_dpbf16ps(2, 5, 6);
                if constexpr (NN > 1) _tile_dpbf16ps(3, 5, 7);
            }
        }
    }
    _tile_stored(0, c, 64);
    if constexpr (NN > 1) _tile_stored(1, c + 256, 64);
    if constexpr (NM > 1) _tile_stored(2, c + 512, 64);
    if constexpr (NM > 1 && NN > 1) _tile_stored(3, c + 768, 64);
}

using ChunkFn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, int64_t, int64_t, bool, float*);

template <int P>
ChunkFn chunk_fn(int nm, int nn) {
    if (nm == 2) return nn == 2 ? tile_chunk<2, 2, P> : tile_chunk<2, 1, P>;
    return nn == 2 ? tile_chunk<1, 2, P> : tile_chunk<1, 1, P>;
}

// Columns [nb0 * 16, nb1 * 16) of y (in column blocks of 16) for all M rows. For each pair of column
// blocks, the weights are read in chunks of kChunk k tiles (16 KiB): a chunk comes from memory once,
// then serves every row block from L1; the C tiles of all row blocks wait in `acc` between chunks.
// The weights are two sequential streams per thread, which the hardware prefetchers follow: software
// prefetches of the next chunk (T0, or a column pair ahead into L2) measured slower at every row
// count on Sapphire Rapids (1B preset, bf16, 2 threads: 32 rows 130 → 100 ms, 64 rows 187 → 139 ms,
// 160 rows 284 → 282 ms; f32 160 rows 671 → 635 ms): they stall on full fill buffers.
void amx_range(const uint16_t* xb, int64_t M, int64_t Mp, int planes, const uint16_t* Wp, int64_t K32, int64_t N, int64_t nb0,
               int64_t nb1, float* y, int64_t ldy, float* acc) {
    configure_tiles();
    const int64_t plane = Mp * K32 * 32, n_mpairs = (Mp / 16 + 1) / 2;
    for (int64_t nb = nb0; nb < nb1; nb += 2) {
        const int nn = nb + 1 < nb1 ? 2 : 1;
        const uint16_t* b = Wp + nb * K32 * kTileElems;
        for (int64_t kb0 = 0; kb0 < K32; kb0 += kChunk) {
            const int64_t kb1 = std::min(K32, kb0 + kChunk);
            for (int64_t mp = 0; mp < n_mpairs; ++mp) {
                const int64_t mb = 2 * mp;
                const int nm = (mb + 1) * 16 < M ? 2 : 1;
                const ChunkFn f = planes == 3 ? chunk_fn<3>(nm, nn) : chunk_fn<1>(nm, nn);
                f(xb + mb * K32 * kTileElems, plane, b, K32, kb0, kb1, kb0 == 0, acc + mp * 1024);
            }
        }
        // acc tile (i, j) of row pair mp holds rows 32mp + 16i, columns 16(nb + j).
        for (int64_t mp = 0; mp < n_mpairs; ++mp)
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < nn; ++j) {
                    const int64_t r0 = 32 * mp + 16 * i, c0 = 16 * (nb + j);
                    const int64_t rows = std::min<int64_t>(16, M - r0), cols = std::min<int64_t>(16, N - c0);
                    for (int64_t r = 0; r < rows; ++r)
                        std::memcpy(y + (r0 + r) * ldy + c0, acc + mp * 1024 + (2 * i + j) * 256 + r * 16, static_cast<size_t>(cols) * 4);
                }
    }
    _tile_release();
}

}  // namespace
#pragma GCC pop_options

namespace {

// W element (n, k) as bf16, 0 outside [N, K]: rounded (RNE) from f32/f16.
uint16_t weight_bf16(const Matrix& w, int64_t n, int64_t k) {
    if (n >= w.rows || k >= w.cols) return 0;
    const int64_t i = n * w.cols + k;
    switch (w.dtype) {
        case DType::bf16: return static_cast<const uint16_t*>(w.data)[i];
        case DType::f16: return f32_to_bf16(f16_to_f32(static_cast<const uint16_t*>(w.data)[i]));
        case DType::f32: return f32_to_bf16(static_cast<const float*>(w.data)[i]);
    }
    return 0;
}

// Whether every element of w is a bf16 value (so the three-plane product is exact in f32).
bool exactly_bf16(const Matrix& w) {
    const int64_t n = w.rows * w.cols;
    if (w.dtype == DType::bf16) return true;
    if (w.dtype == DType::f32) {
        const auto* p = static_cast<const uint32_t*>(w.data);
        for (int64_t i = 0; i < n; ++i)
            if (p[i] & 0xffffu) return false;
        return true;
    }
    const auto* p = static_cast<const uint16_t*>(w.data);
    for (int64_t i = 0; i < n; ++i)
        if (std::bit_cast<uint32_t>(f16_to_f32(p[i])) & 0xffffu) return false;
    return true;
}

// Page-aligned storage for packed weights, with transparent huge pages asked for (fewer TLB misses
// while streaming gigabytes).
std::shared_ptr<void> packed_storage(size_t bytes) {
    const size_t size = (bytes + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(4096, size);
    if (!p) throw std::bad_alloc();
    ::madvise(p, size, MADV_HUGEPAGE);
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

class AmxBackend final : public Backend {
public:
    const char* name() const override { return "amx"; }
    std::string isa() const override { return "AMX-BF16 tiles over packed weights (f32: 3 bf16 planes), AVX512-BF16"; }
    bool available() const override {
        const CpuFeatures& f = cpu_features();
        return f.amx_tile && f.amx_bf16 && f.avx512bf16 && f.avx512bw && f.avx512dq && f.avx512vl;
    }

    PreparedWeight prepare(const Matrix& w, Precision p) const override {
        if (p == Precision::f32 && !exactly_bf16(w)) return as_is(w, p);  // AVX-512 path (OpenBLAS for f32/f16)
        const int64_t N16 = (w.rows + 15) / 16, K32 = (w.cols + 31) / 32;
        PreparedWeight pw;
        pw.src = w;
        pw.precision = p;
        pw.layout = kPackedLayout;
        pw.packed_bytes = static_cast<size_t>(N16 * K32 * kTileElems) * 2;
        pw.storage = packed_storage(pw.packed_bytes);
        auto* dst = static_cast<uint16_t*>(pw.storage.get());
        const bool fast = w.dtype == DType::bf16 && w.cols % 2 == 0;
        parallel_for(N16, threads(), [&](int64_t nb) {
            for (int64_t kb = 0; kb < K32; ++kb) {
                uint16_t* t = dst + (nb * K32 + kb) * kTileElems;  // [kk 16][n 16][2]
                for (int nn = 0; nn < 16; ++nn) {
                    const int64_t n = nb * 16 + nn, k0 = kb * 32;
                    if (fast && n < w.rows && k0 + 32 <= w.cols) {
                        const auto* src = static_cast<const uint32_t*>(w.data) + (n * w.cols + k0) / 2;
                        auto* t32 = reinterpret_cast<uint32_t*>(t);
                        for (int kk = 0; kk < 16; ++kk) t32[kk * 16 + nn] = src[kk];
                    } else {
                        for (int kk = 0; kk < 16; ++kk)
                            for (int e = 0; e < 2; ++e) t[(kk * 16 + nn) * 2 + e] = weight_bf16(w, n, k0 + 2 * kk + e);
                    }
                }
            }
        });
        pw.packed = dst;
        return pw;
    }

    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        if (w.layout != kPackedLayout) return avx512_backend().matmul(x, M, ldx, w, y, ldy);  // f32/f16 weights at f32 precision
        const int64_t N = w.rows(), K = w.cols();
        if (M == 0 || N == 0) return;
        const int64_t N16 = (N + 15) / 16, K32 = (K + 31) / 32, Mp = (M + 15) / 16 * 16;
        const int planes = w.precision == Precision::f32 ? 3 : 1;
        thread_local std::vector<uint16_t> xb;
        xb.resize(static_cast<size_t>(planes * Mp * K32 * 32));
        uint16_t* xbd = xb.data();
        parallel_for(Mp / 16, threads_for(static_cast<double>(Mp * K * planes), kParallelElems),
                     [&](int64_t b) { split_rows(x, M, K, ldx, planes, xbd, Mp, K32, 16 * b, 16 * b + 16); });
        const uint16_t* xbp = xb.data();
        const auto* Wp = static_cast<const uint16_t*>(w.packed);
        const int nt = threads_for(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K), kParallelFlops);
        // Column-block pairs per task: several tasks per thread, so a preempted thread holds up the
        // others less.
        const int64_t pairs = (N16 + 1) / 2, pieces = nt == 1 ? 1 : 4 * nt;
        const int64_t per = std::max<int64_t>(1, (pairs + pieces - 1) / pieces) * 2;  // column blocks per task (even)
        parallel_for((N16 + per - 1) / per, nt, [&](int64_t s) {
            thread_local std::vector<float> acc;  // C tiles of every row pair between weight chunks
            acc.resize(static_cast<size_t>((Mp / 16 + 1) / 2 * 1024));
            amx_range(xbp, M, Mp, planes, Wp, K32, N, s * per, std::min(N16, (s + 1) * per), y, ldy, acc.data());
        });
    }
};

}  // namespace

const Backend& amx_backend() {
    static const AmxBackend b;
    return b;
}

}  // namespace dlmscope::kernels
