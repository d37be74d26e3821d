// dlmscope engine: a loaded LLaDA/MMaDA model — config, mapped shards, and the weights struct.
//
// Weights are immutable after load. Each is either a view into the memory-mapped shard (bf16/f16/f32
// as stored) or an owned f32 copy ("widened"), chosen by WeightPrecision: small models are widened
// once so every GEMM runs straight on f32; large ones (the 8B checkpoints) stay bf16 in memory and
// are widened block by block inside the matmul kernel, so RSS is about the file size, not twice it.
#pragma once

#include "engine/checkpoint/config.h"
#include "engine/checkpoint/safetensors.h"

#include <memory>
#include <string>
#include <vector>

namespace dlmscope {

// A 1-D or 2-D weight. 2-D weights use the PyTorch layout [out_features, in_features].
struct Weight {
    DType dtype = DType::f32;
    const void* data = nullptr;  // dtype elements, row-major
    int64_t rows = 0;            // out features (1 for vectors)
    int64_t cols = 0;            // in features (length for vectors)
    std::vector<float> owned;    // storage when widened to f32 at load

    const float* f32() const { return dtype == DType::f32 ? static_cast<const float*>(data) : nullptr; }
    // Widens row r (cols elements) into out.
    void row_to_f32(int64_t r, float* out) const;
};

// Shapes (d = d_model, kv = n_kv_heads * head_dim, f = mlp_hidden, V = output_width).
struct LayerWeights {
    Weight attn_norm;  // [d]
    Weight q;          // [d, d]
    Weight k;          // [kv, d]
    Weight v;          // [kv, d]
    Weight attn_out;   // [d, d]
    Weight ff_norm;    // [d]
    Weight gate;       // [f, d]  (blocks.i.ff_proj, goes through SiLU)
    Weight up;         // [f, d]  (blocks.i.up_proj)
    Weight down;       // [d, f]  (blocks.i.ff_out)
};

struct ModelWeights {
    Weight embed;  // [V, d]  transformer.wte
    std::vector<LayerWeights> layers;
    Weight final_norm;  // [d]  transformer.ln_f
    Weight head;        // [V, d]  transformer.ff_out (the LM head, untied)
};

enum class WeightPrecision {
    automatic,  // widen to f32 when the widened weights take at most 1/3 of physical memory
    f32,        // always widen at load
    native,     // keep the stored dtype (mapped), widen inside the kernels
};

WeightPrecision parse_weight_precision(const std::string& s);  // "auto" | "f32" | "native"

struct LoadOptions {
    WeightPrecision precision = WeightPrecision::automatic;
};

class Model {
public:
    // Loads DIR (config.json + safetensors). Throws Error naming file, key or tensor.
    static std::unique_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {});

    const ModelConfig& config() const { return config_; }
    const ModelWeights& weights() const { return weights_; }
    const SafetensorsCheckpoint& checkpoint() const { return *ckpt_; }
    const std::string& dir() const { return dir_; }
    bool widened() const { return widened_; }
    // Bytes of weights held in memory: owned f32 copies plus mapped tensors in use.
    size_t weight_bytes_resident() const;

private:
    Model() = default;
    std::string dir_;
    ModelConfig config_;
    std::unique_ptr<SafetensorsCheckpoint> ckpt_;
    ModelWeights weights_;
    bool widened_ = false;
};

}  // namespace dlmscope
