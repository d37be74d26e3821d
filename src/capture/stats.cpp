#include "capture/stats.h"

#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace dlmscope {

std::vector<uint8_t> key_classes(std::span<const int32_t> canvas, int prompt_length, int32_t mask_id) {
    std::vector<uint8_t> cls(canvas.size());
    for (size_t j = 0; j < canvas.size(); ++j)
        cls[j] = canvas[j] == mask_id ? 2 : static_cast<int>(j) < prompt_length ? 0 : 1;
    return cls;
}

namespace {

// Eight floats; GCC lowers the arithmetic to whatever the clone's instruction set has.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

// ln(x) for x > 0, eight at a time (Cephes logf: the mantissa folded into [√½, √2), a degree-8
// polynomial; within 2 ulp). x below FLT_MIN is clamped: its x·ln x is 0 to float precision.
// std::log per probability made the statistics cost as much as a small model's forward.
// (Passed by reference: a 32-byte vector by value changes the ABI between the clones.)
inline void log8(const v8f& in, v8f& out) {
    const v8f tiny = v8f{} + std::numeric_limits<float>::min();
    const v8f x = in < tiny ? tiny : in;
    const v8i b = reinterpret_cast<v8i>(x);  // a vector cast: the same bits
    v8f e = __builtin_convertvector((b >> 23) - 126, v8f);
    const v8i mb = (b & 0x007fffff) | 0x3f000000;
    v8f m = reinterpret_cast<v8f>(mb);  // [0.5, 1)
    const v8i small = m < 0.707106781186547524f;
    e = small ? e - 1.0f : e;
    m = small ? m + m - 1.0f : m - 1.0f;
    const v8f z = m * m;
    v8f y = v8f{} + 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    out = m + y + 0.693359375f * e;
}

// Sums over one row of probabilities: −Σ p ln p, max, Σ p², and the mass on each key class (w0/w1/w2
// are 1 where the key is of that class, else 0). Cloned for AVX2 and the baseline; the loader picks.
struct RowSums {
    float ent, max, sq, mass[3];
};
__attribute__((target_clones("avx2", "default"))) RowSums row_sums(const float* p, const float* w0, const float* w1,
                                                                      const float* w2, int L) {
    v8f ent{}, mx{}, sq{}, m0{}, m1{}, m2{};
    // Eight keys from j on; the last group zero-padded (0 adds nothing to any sum, 0·ln 0 is 0).
    const auto add = [&](int j, int n) __attribute__((always_inline)) {
        v8f v{}, a{}, b{}, c{}, lv;
        std::memcpy(&v, p + j, sizeof(float) * n);
        std::memcpy(&a, w0 + j, sizeof(float) * n);
        std::memcpy(&b, w1 + j, sizeof(float) * n);
        std::memcpy(&c, w2 + j, sizeof(float) * n);
        log8(v, lv);
        ent -= v * lv;
        mx = v > mx ? v : mx;
        sq += v * v;
        m0 += v * a;
        m1 += v * b;
        m2 += v * c;
    };
    int j = 0;
    for (; j + 8 <= L; j += 8) add(j, 8);
    if (j < L) add(j, L - j);
    RowSums r{0.0f, 0.0f, 0.0f, {0.0f, 0.0f, 0.0f}};
    for (int k = 0; k < 8; ++k) {
        r.ent += ent[k];
        r.max = std::max(r.max, mx[k]);
        r.sq += sq[k];
        r.mass[0] += m0[k];
        r.mass[1] += m1[k];
        r.mass[2] += m2[k];
    }
    return r;
}

}  // namespace

void head_stats(const float* P, int q0, int n_q, int L, std::span<const uint8_t> key_class, int prompt_length,
                std::array<float, kNumRowSets * kNumStats>& out) {
    std::array<double, kNumRowSets * kNumStats> sum{};
    std::array<int, kNumRowSets> count{};
    // Softmax rows are full of subnormal probabilities (and p·p underflows to them); each such
    // operand costs a microcode assist (~100 cycles on Intel). Their share of any sum is below 1e-36,
    // so flush them to zero here (FTZ and DAZ), restoring the caller's mode after.
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u);
    thread_local std::vector<float> w;  // the three key-class indicator rows
    w.assign(static_cast<size_t>(3) * L, 0.0f);
    for (int j = 0; j < L; ++j) w[static_cast<size_t>(key_class[j]) * L + j] = 1.0f;
    for (int i = q0; i < q0 + n_q; ++i) {
        const float* p = P + static_cast<int64_t>(i - q0) * L;
        const RowSums rs = row_sums(p, w.data(), w.data() + L, w.data() + 2 * L, L);
        const float ent = rs.ent, mx = rs.max, sq = rs.sq;
        const float* mass = rs.mass;
        float local = 0.0f;
        for (int j = std::max(0, i - kLocalWindow); j <= std::min(L - 1, i + kLocalWindow); ++j) local += p[j];
    const float row[kNumStats] = {ent, mx, p[i], sq > 0.0f ? 1.0f / sq : 0.0f, local, mass[0], mass[1], mass[2], p[0]};
        const bool in_set[kNumRowSets] = {true, i >= prompt_length, key_class[i] == 2};
        for (int r = 0; r < kNumRowSets; ++r) {
            if (!in_set[r]) continue;
            ++count[r];
            for (int s = 0; s < kNumStats; ++s) sum[r * kNumStats + s] += row[s];
        }
    }
    _mm_setcsr(csr);
    for (int r = 0; r < kNumRowSets; ++r)
        for (int s = 0; s < kNumStats; ++s)
            out[r * kNumStats + s] = count[r] ? static_cast<float>(sum[r * kNumStats + s] / count[r])
                                              : std::numeric_limits<float>::quiet_NaN();
}

}  // namespace dlmscope
