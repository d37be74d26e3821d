#include "engine/sampler/noise.h"

#include "core/error.h"
#include "core/npy.h"

namespace dlmscope {

namespace {

// splitmix64 finaliser: a strong 64-bit mix, enough for a counter-based stream.
uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t key(uint64_t seed, uint64_t stream, int step, int pos) {
    return mix(mix(mix(seed ^ (stream << 56)) + static_cast<uint64_t>(step)) + static_cast<uint64_t>(pos));
}

}  // namespace

void SeededNoise::gumbel_uniforms(int step, int pos, std::span<double> u) {
    const uint64_t k = key(seed_, 1, step, pos);
    for (size_t v = 0; v < u.size(); ++v) u[v] = static_cast<double>(mix(k + v) >> 11) * 0x1.0p-53;
}

float SeededNoise::remask_uniform(int step, int pos) {
    return static_cast<float>(mix(key(seed_, 2, step, pos)) >> 40) * 0x1.0p-24f;
}

RecordedNoise::RecordedNoise(const std::string& gumbel_npy, const std::string& remask_npy) {
    if (!gumbel_npy.empty()) {
        NpyArray a = read_npy(gumbel_npy);
        if (a.shape.size() != 4 || a.shape[1] != 1) fail("{}: expected shape [T, 1, L, V]", gumbel_npy);
        T_ = a.shape[0];
        L_ = a.shape[2];
        V_ = a.shape[3];
        gumbel_ = a.as_f64();
    }
    if (!remask_npy.empty()) {
        NpyArray a = read_npy(remask_npy);
        if (a.shape.size() != 3 || a.shape[1] != 1) fail("{}: expected shape [T, 1, L]", remask_npy);
        Tr_ = a.shape[0];
        Lr_ = a.shape[2];
        remask_ = a.as_f32();
    }
}

void RecordedNoise::gumbel_uniforms(int step, int pos, std::span<double> u) {
    if (step >= T_ || pos >= L_ || static_cast<int64_t>(u.size()) != V_)
        fail("recorded Gumbel noise has no entry for step {}, position {} ({} ids)", step, pos, u.size());
    const double* src = gumbel_.data() + (static_cast<int64_t>(step) * L_ + pos) * V_;
    std::copy(src, src + V_, u.begin());
}

float RecordedNoise::remask_uniform(int step, int pos) {
    if (step >= Tr_ || pos >= Lr_) fail("recorded remasking noise has no entry for step {}, position {}", step, pos);
    return remask_[static_cast<int64_t>(step) * Lr_ + pos];
}

}  // namespace dlmscope
