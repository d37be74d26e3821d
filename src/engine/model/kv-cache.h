// dlmscope engine: the per-layer key/value cache of block-cached decoding (Fast-dLLM prefix/dual).
//
//   layer l:  K[l] [L, n_kv_heads*hd]  (after RoPE, at each key's own canvas position)
//             V[l] [L, n_kv_heads*hd]
//   step_of   [L]  the sampler step whose forward computed position i's K/V (-1 before any, or for
//                  a forward outside generation)
//
// A forward that fills the cache writes every position; a forward that reuses it recomputes a range
// of rows and writes their fresh K/V over the old ones, stamping them with its step. Every layer's
// entries of a position come from the same forward, so one stamp per position says how old they are.
#pragma once

#include "engine/model/model.h"

#include <cstdint>
#include <span>
#include <vector>

namespace dlmscope {

class KvCache {
public:
    // Sizes the cache for a canvas of L positions of this model; every stamp is -1 (nothing cached).
    void reset(const ModelConfig& c, int64_t L);

    float* k(int layer) { return k_.data() + static_cast<size_t>(layer) * stride_; }
    float* v(int layer) { return v_.data() + static_cast<size_t>(layer) * stride_; }
    const float* k(int layer) const { return k_.data() + static_cast<size_t>(layer) * stride_; }
    const float* v(int layer) const { return v_.data() + static_cast<size_t>(layer) * stride_; }

    int64_t length() const { return L_; }
    int64_t row_width() const { return kvd_; }  // n_kv_heads * head_dim
    // The step that computed each position's K/V, -1 where nothing was cached.
    std::span<const int> step_of() const { return step_of_; }
    // Marks positions [begin, end) as computed by `step`.
    void stamp(int64_t begin, int64_t end, int step);
    // True when every position outside [begin, end) holds K/V (a cached forward may run).
    bool covers_outside(int64_t begin, int64_t end) const;
    size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

private:
    int64_t L_ = 0, kvd_ = 0;
    size_t stride_ = 0;  // floats per layer
    std::vector<float> k_, v_;
    std::vector<int> step_of_;
    std::vector<char> filled_;  // [L] holds K/V
};

}  // namespace dlmscope
