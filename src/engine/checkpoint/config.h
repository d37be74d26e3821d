// dlmscope engine: config.json of a LLaDA/MMaDA checkpoint (spec section 2).
#pragma once

#include "core/json.h"

#include <cstdint>
#include <string>

namespace dlmscope {

struct ModelConfig {
    std::string model_type;    // "llada", "mmada", ...
    int d_model = 0;
    int n_layers = 0;
    int n_heads = 0;
    int n_kv_heads = 0;
    int head_dim = 0;          // d_model / n_heads
    int mlp_hidden = 0;        // mlp_hidden_size (or mlp_ratio * d_model)
    int vocab_size = 0;
    int output_width = 0;      // embedding_size, falling back to vocab_size: rows of wte and of the head
    int max_sequence_length = 0;
    double rms_norm_eps = 1e-5;
    double rope_theta = 10000.0;
    int32_t mask_token_id = -1;  // -1 when the config does not say
    int32_t eos_token_id = -1;
    int32_t pad_token_id = -1;

    int64_t n_params() const;  // parameters the engine uses (embedding, blocks, norm, head)
};

// Parses and validates DIR/config.json. Refuses (Error naming the key and value) every setting
// the engine does not implement (spec 2.2).
ModelConfig load_model_config(const std::string& dir);
ModelConfig parse_model_config(const json& j, const std::string& source);

}  // namespace dlmscope
