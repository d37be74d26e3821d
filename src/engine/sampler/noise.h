// dlmscope engine: the sampler's randomness, passed in explicitly so every decision can be replayed.
//
// The official sampler draws, per step, one float64 uniform for every (position, vocab id) — the
// Gumbel-max noise — and, with random remasking, one float32 uniform per position. A NoiseSource
// answers those draws by (step, position): SeededNoise from a counter-based generator (the same
// numbers whatever subset of rows is asked for), RecordedNoise from the official run's arrays.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dlmscope {

class NoiseSource {
public:
    virtual ~NoiseSource() = default;
    // Fills u[v] (v = 0..V-1) with uniforms in [0, 1) for canvas position `pos` at `step`.
    virtual void gumbel_uniforms(int step, int pos, std::span<double> u) = 0;
    // The random-remasking uniform in [0, 1) for `pos` at `step`.
    virtual float remask_uniform(int step, int pos) = 0;
};

// Counter-based noise: U = hash(seed, stream, step, pos, v) mapped to 53 bits. Reproducible for a
// seed, independent of which rows are drawn. (Torch's stream cannot be reproduced; spec 5.5.)
class SeededNoise final : public NoiseSource {
public:
    explicit SeededNoise(uint64_t seed) : seed_(seed) {}
    void gumbel_uniforms(int step, int pos, std::span<double> u) override;
    float remask_uniform(int step, int pos) override;

private:
    uint64_t seed_;
};

// Replays arrays recorded from the official code: gumbel [T, 1, L, V] float64 and remask
// [T, 1, L] float32 (either may be absent when the run did not draw it).
class RecordedNoise final : public NoiseSource {
public:
    RecordedNoise(const std::string& gumbel_npy, const std::string& remask_npy);
    void gumbel_uniforms(int step, int pos, std::span<double> u) override;
    float remask_uniform(int step, int pos) override;

private:
    std::vector<double> gumbel_;
    std::vector<float> remask_;
    int64_t T_ = 0, L_ = 0, V_ = 0, Tr_ = 0, Lr_ = 0;
};

}  // namespace dlmscope
