// dlmscope bench: measures this machine's hardware peaks (see peaks.h).
//
// Layout: every header comes first; then the ISA-specific kernels, each group inside its own
// `#pragma GCC target` region, using only intrinsics and plain loops there (no std templates, whose
// instantiations could be shared with code outside the region); then the portable part — the
// thread harness and the public functions — which calls a kernel only after the engine's
// cpu_features() says the CPU and the OS support it.
#include "peaks.h"

#include "engine/kernels/cpu-features.h"

#include <fmt/format.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dlmscope::bench {
namespace {

// Tells the compiler that the memory at `p` may be read and written here, so stores to it are not
// dead and later loads from it are not folded. The tile intrinsics need this: GCC 12's
// _tile_loadconfig and _tile_loadd do not declare the memory they read.
inline void keep_memory_live(const void* p) {
    __asm__ volatile("" : : "r"(p) : "memory");
}

// Where kernel results end up, so that no kernel can be optimised away. Written by the timing
// thread only.
volatile double g_sink = 0;

// FLOP per instruction of each kernel.
constexpr double kFlopPerZmmFma = 16 * 2;          // 16 f32 lanes, multiply + add
constexpr double kFlopPerYmmFma = 8 * 2;           // 8 f32 lanes
constexpr double kFlopPerZmmBf16Dot = 16 * 2 * 2;  // 16 f32 lanes, each 2 bf16 products + adds
constexpr double kFlopPerTileDot = 16.0 * 16 * 32 * 2;  // M 16 x N 16 x K 32 multiply-adds

// Instructions per loop iteration (one per accumulator) of each compute kernel.
constexpr int kZmmFmaAccumulators = 16;
constexpr int kYmmFmaAccumulators = 12;
constexpr int kBf16DotAccumulators = 16;
constexpr int kTileDotsPerIteration = 4;

}  // namespace
}  // namespace dlmscope::bench

// ---- AVX-512 F: f32 FMA on 16 independent zmm accumulators ---------------------------------------
// Two FMA ports with a 4-cycle latency need 8 chains in flight; 16 leaves headroom. Each
// accumulator starts at a different value, otherwise the compiler would merge identical chains.
#pragma GCC push_options
#pragma GCC target("avx512f")
namespace dlmscope::bench {
namespace {

float fma_kernel_avx512(std::int64_t iterations) {
    const __m512 scale = _mm512_set1_ps(0.999999f);
    const __m512 offset = _mm512_set1_ps(1.0e-6f);
    __m512 acc0 = _mm512_set1_ps(1.00f), acc1 = _mm512_set1_ps(1.01f);
    __m512 acc2 = _mm512_set1_ps(1.02f), acc3 = _mm512_set1_ps(1.03f);
    __m512 acc4 = _mm512_set1_ps(1.04f), acc5 = _mm512_set1_ps(1.05f);
    __m512 acc6 = _mm512_set1_ps(1.06f), acc7 = _mm512_set1_ps(1.07f);
    __m512 acc8 = _mm512_set1_ps(1.08f), acc9 = _mm512_set1_ps(1.09f);
    __m512 acc10 = _mm512_set1_ps(1.10f), acc11 = _mm512_set1_ps(1.11f);
    __m512 acc12 = _mm512_set1_ps(1.12f), acc13 = _mm512_set1_ps(1.13f);
    __m512 acc14 = _mm512_set1_ps(1.14f), acc15 = _mm512_set1_ps(1.15f);
    for (std::int64_t i = 0; i < iterations; ++i) {
        acc0 = _mm512_fmadd_ps(acc0, scale, offset);
        acc1 = _mm512_fmadd_ps(acc1, scale, offset);
        acc2 = _mm512_fmadd_ps(acc2, scale, offset);
        acc3 = _mm512_fmadd_ps(acc3, scale, offset);
        acc4 = _mm512_fmadd_ps(acc4, scale, offset);
        acc5 = _mm512_fmadd_ps(acc5, scale, offset);
        acc6 = _mm512_fmadd_ps(acc6, scale, offset);
        acc7 = _mm512_fmadd_ps(acc7, scale, offset);
        acc8 = _mm512_fmadd_ps(acc8, scale, offset);
        acc9 = _mm512_fmadd_ps(acc9, scale, offset);
        acc10 = _mm512_fmadd_ps(acc10, scale, offset);
        acc11 = _mm512_fmadd_ps(acc11, scale, offset);
        acc12 = _mm512_fmadd_ps(acc12, scale, offset);
        acc13 = _mm512_fmadd_ps(acc13, scale, offset);
        acc14 = _mm512_fmadd_ps(acc14, scale, offset);
        acc15 = _mm512_fmadd_ps(acc15, scale, offset);
    }
    const __m512 sum = _mm512_add_ps(
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)),
                      _mm512_add_ps(_mm512_add_ps(acc4, acc5), _mm512_add_ps(acc6, acc7))),
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc8, acc9), _mm512_add_ps(acc10, acc11)),
                      _mm512_add_ps(_mm512_add_ps(acc12, acc13), _mm512_add_ps(acc14, acc15))));
    // Summed through memory: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized.
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, sum);
    float total = 0;
    for (const float lane : lanes) total += lane;
    return total;
}

}  // namespace
}  // namespace dlmscope::bench
#pragma GCC pop_options

// ---- AVX2 + FMA: f32 FMA on 12 independent ymm accumulators (of the 16 ymm registers) ----------
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace dlmscope::bench {
namespace {

float fma_kernel_avx2(std::int64_t iterations) {
    const __m256 scale = _mm256_set1_ps(0.999999f);
    const __m256 offset = _mm256_set1_ps(1.0e-6f);
    __m256 acc0 = _mm256_set1_ps(1.00f), acc1 = _mm256_set1_ps(1.01f);
    __m256 acc2 = _mm256_set1_ps(1.02f), acc3 = _mm256_set1_ps(1.03f);
    __m256 acc4 = _mm256_set1_ps(1.04f), acc5 = _mm256_set1_ps(1.05f);
    __m256 acc6 = _mm256_set1_ps(1.06f), acc7 = _mm256_set1_ps(1.07f);
    __m256 acc8 = _mm256_set1_ps(1.08f), acc9 = _mm256_set1_ps(1.09f);
    __m256 acc10 = _mm256_set1_ps(1.10f), acc11 = _mm256_set1_ps(1.11f);
    for (std::int64_t i = 0; i < iterations; ++i) {
        acc0 = _mm256_fmadd_ps(acc0, scale, offset);
        acc1 = _mm256_fmadd_ps(acc1, scale, offset);
        acc2 = _mm256_fmadd_ps(acc2, scale, offset);
        acc3 = _mm256_fmadd_ps(acc3, scale, offset);
        acc4 = _mm256_fmadd_ps(acc4, scale, offset);
        acc5 = _mm256_fmadd_ps(acc5, scale, offset);
        acc6 = _mm256_fmadd_ps(acc6, scale, offset);
        acc7 = _mm256_fmadd_ps(acc7, scale, offset);
        acc8 = _mm256_fmadd_ps(acc8, scale, offset);
        acc9 = _mm256_fmadd_ps(acc9, scale, offset);
        acc10 = _mm256_fmadd_ps(acc10, scale, offset);
        acc11 = _mm256_fmadd_ps(acc11, scale, offset);
    }
    const __m256 sum = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)),
                      _mm256_add_ps(_mm256_add_ps(acc4, acc5), _mm256_add_ps(acc6, acc7))),
        _mm256_add_ps(_mm256_add_ps(acc8, acc9), _mm256_add_ps(acc10, acc11)));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, sum);
    float total = 0;
    for (const float lane : lanes) total += lane;
    return total;
}

// Sums `count` 32-bit integers (count a multiple of 32, data 32-byte aligned) with 4 ymm
// accumulators: 128 bytes loaded per iteration.
std::uint64_t sum_u32_avx2(const std::uint32_t* data, std::size_t count) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    __m256i acc2 = _mm256_setzero_si256(), acc3 = _mm256_setzero_si256();
    for (std::size_t i = 0; i < count; i += 32) {
        acc0 = _mm256_add_epi32(acc0, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i)));
        acc1 = _mm256_add_epi32(acc1, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 8)));
        acc2 = _mm256_add_epi32(acc2, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 16)));
        acc3 = _mm256_add_epi32(acc3, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 24)));
    }
    const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(acc0, acc1), _mm256_add_epi32(acc2, acc3));
    alignas(32) std::uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
    std::uint64_t total = 0;
    for (const std::uint32_t lane : lanes) total += lane;
    return total;
}

}  // namespace
}  // namespace dlmscope::bench
#pragma GCC pop_options

// ---- AVX512-BF16: VDPBF16PS on 16 independent zmm accumulators ----------------------------------
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bf16")
namespace dlmscope::bench {
namespace {

float bf16_dot_kernel(std::int64_t iterations) {
    // Small inputs: each instruction adds 2 * 0.01 * 0.01 per lane, far from overflow.
    const __m512 small = _mm512_set1_ps(0.01f);
    const __m512bh a = _mm512_cvtne2ps_pbh(small, small);
    const __m512bh b = _mm512_cvtne2ps_pbh(small, small);
    __m512 acc0 = _mm512_set1_ps(0.f), acc1 = _mm512_set1_ps(1.f);
    __m512 acc2 = _mm512_set1_ps(2.f), acc3 = _mm512_set1_ps(3.f);
    __m512 acc4 = _mm512_set1_ps(4.f), acc5 = _mm512_set1_ps(5.f);
    __m512 acc6 = _mm512_set1_ps(6.f), acc7 = _mm512_set1_ps(7.f);
    __m512 acc8 = _mm512_set1_ps(8.f), acc9 = _mm512_set1_ps(9.f);
    __m512 acc10 = _mm512_set1_ps(10.f), acc11 = _mm512_set1_ps(11.f);
    __m512 acc12 = _mm512_set1_ps(12.f), acc13 = _mm512_set1_ps(13.f);
    __m512 acc14 = _mm512_set1_ps(14.f), acc15 = _mm512_set1_ps(15.f);
    for (std::int64_t i = 0; i < iterations; ++i) {
        acc0 = _mm512_dpbf16_ps(acc0, a, b);
        acc1 = _mm512_dpbf16_ps(acc1, a, b);
        acc2 = _mm512_dpbf16_ps(acc2, a, b);
        acc3 = _mm512_dpbf16_ps(acc3, a, b);
        acc4 = _mm512_dpbf16_ps(acc4, a, b);
        acc5 = _mm512_dpbf16_ps(acc5, a, b);
        acc6 = _mm512_dpbf16_ps(acc6, a, b);
        acc7 = _mm512_dpbf16_ps(acc7, a, b);
        acc8 = _mm512_dpbf16_ps(acc8, a, b);
        acc9 = _mm512_dpbf16_ps(acc9, a, b);
        acc10 = _mm512_dpbf16_ps(acc10, a, b);
        acc11 = _mm512_dpbf16_ps(acc11, a, b);
        acc12 = _mm512_dpbf16_ps(acc12, a, b);
        acc13 = _mm512_dpbf16_ps(acc13, a, b);
        acc14 = _mm512_dpbf16_ps(acc14, a, b);
        acc15 = _mm512_dpbf16_ps(acc15, a, b);
    }
    const __m512 sum = _mm512_add_ps(
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)),
                      _mm512_add_ps(_mm512_add_ps(acc4, acc5), _mm512_add_ps(acc6, acc7))),
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc8, acc9), _mm512_add_ps(acc10, acc11)),
                      _mm512_add_ps(_mm512_add_ps(acc12, acc13), _mm512_add_ps(acc14, acc15))));
    // Summed through memory: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized.
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, sum);
    float total = 0;
    for (const float lane : lanes) total += lane;
    return total;
}

}  // namespace
}  // namespace dlmscope::bench
#pragma GCC pop_options

// ---- AMX-BF16: TDPBF16PS on tiles held in registers ---------------------------------------------
// Accumulators tmm0-3 (16 rows x 16 f32), A tiles tmm4-5 (16 rows x 32 bf16), B tiles tmm6-7
// (16 rows of 16 bf16 pairs): each iteration is the 2x2 block product C[i][j] += A[i] · B[j].
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16")
namespace dlmscope::bench {
namespace {

// The 64-byte operand of LDTILECFG, palette 1.
struct alignas(64) TileConfig {
    std::uint8_t palette_id;
    std::uint8_t start_row;
    std::uint8_t reserved[14];
    std::uint16_t bytes_per_row[16];
    std::uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64);

float amx_bf16_kernel(std::int64_t iterations) {
    TileConfig config{};
    config.palette_id = 1;
    for (int tile = 0; tile < 8; ++tile) {
        config.rows[tile] = 16;
        config.bytes_per_row[tile] = 64;
    }
    // 16 rows x 64 bytes of bf16 0.01 (0x3C24) for both A and B; the f32 results land in `c`.
    alignas(64) std::uint16_t ab[16 * 32];
    for (std::uint16_t& value : ab) value = 0x3C24;
    alignas(64) float c[16 * 16];
    keep_memory_live(&config);
    keep_memory_live(ab);

    _tile_loadconfig(&config);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ab, 64);
    _tile_loadd(5, ab, 64);
    _tile_loadd(6, ab, 64);
    _tile_loadd(7, ab, 64);
    for (std::int64_t i = 0; i < iterations; ++i) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float total = 0;
    _tile_stored(0, c, 64);
    keep_memory_live(c);
    for (const float value : c) total += value;
    _tile_stored(1, c, 64);
    keep_memory_live(c);
    for (const float value : c) total += value;
    _tile_stored(2, c, 64);
    keep_memory_live(c);
    for (const float value : c) total += value;
    _tile_stored(3, c, 64);
    keep_memory_live(c);
    for (const float value : c) total += value;
    _tile_release();
    return total;
}

}  // namespace
}  // namespace dlmscope::bench
#pragma GCC pop_options

// ---- portable part: baseline x86-64 (SSE2) from here on -----------------------------------------
namespace dlmscope::bench {
namespace {

// Sums `count` 32-bit integers (count a multiple of 32, data 16-byte aligned) with SSE2, for a CPU
// without AVX2.
std::uint64_t sum_u32_sse2(const std::uint32_t* data, std::size_t count) {
    __m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
    __m128i acc2 = _mm_setzero_si128(), acc3 = _mm_setzero_si128();
    for (std::size_t i = 0; i < count; i += 16) {
        acc0 = _mm_add_epi32(acc0, _mm_load_si128(reinterpret_cast<const __m128i*>(data + i)));
        acc1 = _mm_add_epi32(acc1, _mm_load_si128(reinterpret_cast<const __m128i*>(data + i + 4)));
        acc2 = _mm_add_epi32(acc2, _mm_load_si128(reinterpret_cast<const __m128i*>(data + i + 8)));
        acc3 = _mm_add_epi32(acc3, _mm_load_si128(reinterpret_cast<const __m128i*>(data + i + 12)));
    }
    const __m128i sum = _mm_add_epi32(_mm_add_epi32(acc0, acc1), _mm_add_epi32(acc2, acc3));
    alignas(16) std::uint32_t lanes[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), sum);
    return std::uint64_t{lanes[0]} + lanes[1] + lanes[2] + lanes[3];
}

// ---- timing harness ----------------------------------------------------------------------------

// One thread's share of a measurement: run `units` units of work as thread `thread`, return a
// value derived from the result (it goes to g_sink).
using Body = std::function<double(int thread, std::int64_t units)>;

// Runs body(t, units) on `threads` new threads, releases them together once all have started, and
// returns the wall time from the release to the last one's end.
double run_together(int threads, std::int64_t units, const Body& body) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<double> results(static_cast<std::size_t>(threads), 0.0);
    std::vector<std::thread> team;
    team.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        team.emplace_back([&, t] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            results[static_cast<std::size_t>(t)] = body(t, units);
        });
    }
    while (ready.load() < threads) std::this_thread::yield();
    const auto start = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (std::thread& member : team) member.join();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    double sum = 0;
    for (const double result : results) sum += result;
    g_sink = g_sink + sum;
    return elapsed.count();
}

struct Timing {
    std::int64_t units_per_thread = 0;
    double best_seconds = 0;
};

constexpr int kRepetitions = 5;

// Doubles the units per thread from `start_units` until one run takes at least 20 ms (or a
// repetition's share of `seconds`, if that is less), scales them so a repetition takes about
// seconds / kRepetitions, then returns the best of kRepetitions runs.
Timing time_best(int threads, double seconds, std::int64_t start_units, const Body& body) {
    const double repetition_seconds = seconds / kRepetitions;
    const double calibration_seconds = std::min(0.02, repetition_seconds);
    std::int64_t units = start_units;
    double elapsed = run_together(threads, units, body);
    while (elapsed < calibration_seconds) {
        units *= 2;
        elapsed = run_together(threads, units, body);
    }
    Timing timing;
    timing.units_per_thread =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(units) * repetition_seconds / elapsed));
    timing.best_seconds = std::numeric_limits<double>::infinity();
    for (int repetition = 0; repetition < kRepetitions; ++repetition) {
        timing.best_seconds = std::min(timing.best_seconds, run_together(threads, timing.units_per_thread, body));
    }
    return timing;
}

void check_arguments(int threads, double seconds) {
    if (threads < 1) throw std::invalid_argument(fmt::format("peaks: threads must be at least 1, got {}", threads));
    if (!(seconds > 0)) throw std::invalid_argument(fmt::format("peaks: seconds must be positive, got {}", seconds));
}

Peak unavailable(Peak peak, std::string why_not) {
    peak.available = false;
    peak.value = 0;
    peak.why_not = std::move(why_not);
    return peak;
}

// GFLOP/s of a compute kernel `kernel(iterations)` that does flop_per_iteration per iteration.
double measure_gflops(int threads, double seconds, double flop_per_iteration, float (*kernel)(std::int64_t)) {
    const Body body = [kernel](int, std::int64_t iterations) { return static_cast<double>(kernel(iterations)); };
    const Timing timing = time_best(threads, seconds, 1 << 12, body);
    const double flop = flop_per_iteration * static_cast<double>(timing.units_per_thread) * threads;
    return flop / timing.best_seconds / 1e9;
}

// A buffer from std::aligned_alloc.
struct FreeDeleter {
    void operator()(std::uint32_t* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::uint32_t[], FreeDeleter>;

}  // namespace

// ---- public functions --------------------------------------------------------------------------

Peak peak_f32_fma(int threads, double seconds, bool allow_avx512) {
    check_arguments(threads, seconds);
    Peak peak;
    peak.what = "f32 FMA";
    peak.unit = "GFLOP/s";
    const kernels::CpuFeatures& cpu = kernels::cpu_features();
    if (cpu.avx512f && allow_avx512) {
        peak.isa = "AVX-512 (zmm)";
        peak.value = measure_gflops(threads, seconds, kZmmFmaAccumulators * kFlopPerZmmFma, fma_kernel_avx512);
    } else if (cpu.avx2 && cpu.fma) {
        peak.isa = "AVX2+FMA (ymm)";
        peak.value = measure_gflops(threads, seconds, kYmmFmaAccumulators * kFlopPerYmmFma, fma_kernel_avx2);
    } else {
        return unavailable(peak, "needs AVX2+FMA or AVX-512F, with the OS's AVX register state");
    }
    peak.available = true;
    return peak;
}

Peak peak_bf16_dot(int threads, double seconds) {
    check_arguments(threads, seconds);
    Peak peak;
    peak.what = "bf16 dot";
    peak.isa = "AVX512-BF16 (zmm)";
    peak.unit = "GFLOP/s";
    if (!kernels::cpu_features().avx512bf16) return unavailable(peak, "no AVX512_BF16 (or no AVX-512 register state from the OS)");
    peak.value = measure_gflops(threads, seconds, kBf16DotAccumulators * kFlopPerZmmBf16Dot, bf16_dot_kernel);
    peak.available = true;
    return peak;
}

Peak peak_amx_bf16(int threads, double seconds) {
    check_arguments(threads, seconds);
    Peak peak;
    peak.what = "AMX bf16";
    peak.isa = "AMX-BF16 (tiles)";
    peak.unit = "GFLOP/s";
    const kernels::CpuFeatures& cpu = kernels::cpu_features();
    if (!cpu.amx_tile || !cpu.amx_bf16)
        return unavailable(peak, "no AMX-BF16 (or no tile state from the OS, or Linux refused ARCH_REQ_XCOMP_PERM)");
    peak.value = measure_gflops(threads, seconds, kTileDotsPerIteration * kFlopPerTileDot, amx_bf16_kernel);
    peak.available = true;
    return peak;
}

Peak peak_memory_read(int threads, double seconds) {
    check_arguments(threads, seconds);
    Peak peak;
    peak.what = "memory read";
    peak.unit = "GB/s";
    const bool use_avx2 = kernels::cpu_features().avx2;
    peak.isa = use_avx2 ? "AVX2 (ymm)" : "SSE2 (xmm)";

    // 1 GiB, far beyond any cache; each thread reads one slice, a multiple of 32 values (128 bytes).
    constexpr std::size_t kBytes = std::size_t{1} << 30;
    constexpr std::size_t kCount = kBytes / sizeof(std::uint32_t);
    constexpr std::size_t kBlock = 32;
    AlignedBuffer buffer(static_cast<std::uint32_t*>(std::aligned_alloc(64, kBytes)));
    if (!buffer) return unavailable(peak, "could not allocate the 1 GiB buffer");
    const std::size_t per_thread = kCount / kBlock / static_cast<std::size_t>(threads) * kBlock;
    if (per_thread == 0) return unavailable(peak, "too many threads for the buffer");
    std::uint32_t* const data = buffer.get();
    const auto slice_begin = [&](int t) { return static_cast<std::size_t>(t) * per_thread; };
    const auto slice_count = [&](int t) { return t == threads - 1 ? kCount - slice_begin(t) : per_thread; };

    // Each thread writes its own slice first: the pages become real (not the shared zero page) and,
    // on a NUMA machine, local to the thread that reads them.
    run_together(threads, 1, [&](int t, std::int64_t) {
        std::fill(data + slice_begin(t), data + slice_begin(t) + slice_count(t), 0x01010101u);
        return 0.0;
    });

    const Body body = [&](int t, std::int64_t passes) {
        std::uint64_t total = 0;
        for (std::int64_t pass = 0; pass < passes; ++pass) {
            // Without this, a compiler that sees the sum as a pure function of unchanged memory
            // could compute it once for all passes.
            keep_memory_live(data);
            total += use_avx2 ? sum_u32_avx2(data + slice_begin(t), slice_count(t))
                              : sum_u32_sse2(data + slice_begin(t), slice_count(t));
        }
        return static_cast<double>(total);
    };
    const Timing timing = time_best(threads, seconds, 1, body);
    peak.value = static_cast<double>(kBytes) * static_cast<double>(timing.units_per_thread) / timing.best_seconds / 1e9;
    peak.available = true;
    return peak;
}

std::vector<Peak> measure_peaks(int threads, double seconds_each) {
    return {peak_f32_fma(threads, seconds_each), peak_bf16_dot(threads, seconds_each),
            peak_amx_bf16(threads, seconds_each), peak_memory_read(threads, seconds_each)};
}

double load_average() {
    double la = -1.0;
    return getloadavg(&la, 1) == 1 ? la : -1.0;
}

}  // namespace dlmscope::bench
