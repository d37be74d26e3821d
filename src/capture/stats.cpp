#include "capture/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlmscope {

std::vector<uint8_t> key_classes(std::span<const int32_t> canvas, int prompt_length, int32_t mask_id) {
    std::vector<uint8_t> cls(canvas.size());
    for (size_t j = 0; j < canvas.size(); ++j)
        cls[j] = canvas[j] == mask_id ? 2 : static_cast<int>(j) < prompt_length ? 0 : 1;
    return cls;
}

void head_stats(const float* P, int q0, int n_q, int L, std::span<const uint8_t> key_class, int prompt_length,
                std::array<float, kNumRowSets * kNumStats>& out) {
    std::array<double, kNumRowSets * kNumStats> sum{};
    std::array<int, kNumRowSets> count{};
    for (int i = q0; i < q0 + n_q; ++i) {
        const float* p = P + static_cast<int64_t>(i - q0) * L;
        float ent = 0.0f, mx = 0.0f, sq = 0.0f;
        float mass[3] = {0.0f, 0.0f, 0.0f};
        for (int j = 0; j < L; ++j) {
            const float v = p[j];
            if (v > 0.0f) ent -= v * std::log(v);
            mx = std::max(mx, v);
            sq += v * v;
            mass[key_class[j]] += v;
        }
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
    for (int r = 0; r < kNumRowSets; ++r)
        for (int s = 0; s < kNumStats; ++s)
            out[r * kNumStats + s] = count[r] ? static_cast<float>(sum[r * kNumStats + s] / count[r])
                                              : std::numeric_limits<float>::quiet_NaN();
}

}  // namespace dlmscope
