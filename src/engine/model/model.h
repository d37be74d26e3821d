// dlmscope engine: a loaded LLaDA/MMaDA model — config, mapped shards, the weights, and the kernel
// backend that runs them.
//
// Weights are immutable after load. Each is a view into the memory-mapped shard (bf16/f16/f32 as
// stored) or an owned f32 copy ("widened", when the backend prefers f32 and it fits: --weights).
// Every 2-D weight is then handed to the backend's prepare(), which keeps it or copies it into a
// layout of its own (AMX tiles, a bf16 rounding); a copied weight's mapped pages are dropped, so
// RSS stays about the weight bytes once, not twice. A load that cannot fit in this machine's memory
// is refused before anything is read, with the memory it needs and the option that fits.
#pragma once

#include "engine/checkpoint/config.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/kernels/backend.h"

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
    kernels::PreparedWeight prep;  // 2-D weights: as the backend's matmul reads them

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

// Bytes of memory a load with these options holds for weights (f32 copies, packed copies or mapped
// pages), and whether the weights would be widened to f32.
struct WeightMemory {
    bool widen = false;
    size_t bytes = 0;
};
// This machine's physical memory in bytes (0 if unknown).
size_t physical_memory();
WeightMemory plan_weight_memory(const ModelConfig& c, size_t stored_bytes, const LoadOptions& opts, const kernels::Backend& b);
// Refuses, before anything is read, a load whose weights do not fit in `physical` bytes of memory
// beside 1 GiB for activations: Error naming DIR, the memory needed and the option that fits.
// Model::load calls it with this machine's physical memory.
void check_weight_memory(const std::string& dir, const ModelConfig& c, size_t stored_bytes, const LoadOptions& opts,
                         const kernels::Backend& b, size_t physical);

class Model {
public:
    // Loads DIR (config.json + safetensors). Throws Error naming file, key or tensor.
    // prepare = false: bind and check the tensors only (inspect), no widening or packing.
    static std::unique_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {}, bool prepare = true);

    const ModelConfig& config() const { return config_; }
    const ModelWeights& weights() const { return weights_; }
    const SafetensorsCheckpoint& checkpoint() const { return *ckpt_; }
    const std::string& dir() const { return dir_; }
    bool widened() const { return widened_; }
    const kernels::Backend& backend() const { return *backend_; }
    kernels::Precision precision() const { return precision_; }
    // Bytes of weights held in memory: owned f32 copies, backend copies, mapped tensors in use.
    size_t weight_bytes_resident() const;

private:
    Model() = default;
    std::string dir_;
    ModelConfig config_;
    std::unique_ptr<SafetensorsCheckpoint> ckpt_;
    ModelWeights weights_;
    bool widened_ = false;
    const kernels::Backend* backend_ = nullptr;
    kernels::Precision precision_ = kernels::Precision::f32;
};

}  // namespace dlmscope
