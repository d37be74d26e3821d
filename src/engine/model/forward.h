// dlmscope engine: the LLaDA forward pass (spec section 4) — bidirectional, no cache, explicit softmax.
//
//   h = wte[x]                                                   [L, d]
//   per block:  a = rmsnorm(h);  q,k,v = a·W{q,k,v}ᵀ;  rope(q,k)
//               P_h = softmax(q_h k_hᵀ / √hd)   <- the attention tap sees exactly these
//               h += concat_h(P_h v_h)·W_attn_outᵀ
//               m = rmsnorm(h);  h += (silu(m·W_gateᵀ) ⊙ m·W_upᵀ)·W_downᵀ
//   logits = rmsnorm(h; ln_f)·W_headᵀ                            [rows, V]
//
// One code path; the kernels are the model's backend (engine/kernels/backend.h), chosen at load.
#pragma once

#include "dlmscope/tap.h"
#include "engine/model/model.h"

#include <cstdint>
#include <span>
#include <vector>

namespace dlmscope {

struct ForwardOptions {
    AttentionTap* tap = nullptr;  // asked per layer before its attention; nullptr = no capture
    TapContext ctx;               // step/block context handed to the tap
    // Canvas positions whose logits are wanted, ascending; empty = every position.
    std::span<const int> logit_rows;
    // If non-null, receives hidden states [n_layers + 1, L, d]: entry 0 = embeddings, entry i = input
    // of block i, last = output of the final norm (the fixture's hidden_step0 layout).
    std::vector<float>* hidden_out = nullptr;
};

// Reusable buffers for one canvas length; grows on demand, never shrinks between steps.
class ForwardState {
public:
    // Runs the model on `tokens` and writes logits [n_rows, output_width] into `logits`
    // (resized). Throws Error for a token id outside the embedding.
    void run(const Model& model, std::span<const int32_t> tokens, const ForwardOptions& opts, std::vector<float>& logits);

private:
    void ensure(const ModelConfig& c, int64_t L);
    int64_t L_ = -1;
    std::vector<float> h_, a_, q_, k_, v_, o_, probs_, g_, u_, rope_cos_, rope_sin_, rows_;
};

// FLOPs of one forward (multiply-adds count 2) for a canvas of L tokens with `head_rows` logit rows.
double forward_flops(const ModelConfig& c, int64_t L, int64_t head_rows);

}  // namespace dlmscope
