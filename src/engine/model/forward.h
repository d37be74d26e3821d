// dlmscope engine: the LLaDA forward pass (spec section 4) — bidirectional, explicit softmax.
//
//   h = wte[x]                                                   [L, d]  (or rows [r0, r1) only)
//   per block:  a = rmsnorm(h);  q,k,v = a·W{q,k,v}ᵀ;  rope(q,k)
//               P_h = softmax(q_h k_hᵀ / √hd)   <- the attention tap sees exactly these
//               h += concat_h(P_h v_h)·W_attn_outᵀ
//               m = rmsnorm(h);  h += (silu(m·W_gateᵀ) ⊙ m·W_upᵀ)·W_downᵀ
//   logits = rmsnorm(h; ln_f)·W_headᵀ                            [rows, V]
//
// With a K/V cache (kv-cache.h) only the rows [r0, r1) are computed: their queries attend to every
// canvas position, the keys/values outside [r0, r1) coming from the cache as an earlier forward left
// them (Fast-dLLM's prefix and dual caches). RoPE always uses absolute canvas positions.
//
// One code path; the kernels are the model's backend (engine/kernels/backend.h), chosen at load.
#pragma once

#include "dlmscope/tap.h"
#include "engine/model/kv-cache.h"
#include "engine/model/model.h"

#include <cstdint>
#include <span>
#include <vector>

namespace dlmscope {

// How a forward uses the K/V cache.
enum class KvUse {
    none,    // every position computed; keys = those positions; no cache
    fill,    // every position computed; every position's K/V written to the cache
    reuse,   // rows [row_begin, row_end) computed; keys outside them read from the cache, fresh ones written to it
    frozen,  // every position computed, but per layer the K/V outside [row_begin, row_end) are replaced by the
             // cache's before attention: the slow, independent oracle of `reuse` (tests, audits); cache unchanged
};

struct ForwardOptions {
    AttentionTap* tap = nullptr;  // asked per layer before its attention; nullptr = no capture
    TapContext ctx;               // step/block context handed to the tap
    // Canvas positions whose logits are wanted, ascending; empty = every computed row.
    std::span<const int> logit_rows;
    KvUse kv = KvUse::none;
    KvCache* cache = nullptr;  // required unless kv == none; reset to the canvas length by the caller
    int row_begin = 0;         // reuse / frozen: the recomputed canvas rows [row_begin, row_end)
    int row_end = 0;
    // If non-null, receives hidden states [n_layers + 1, R, d] of the R computed rows: entry 0 =
    // embeddings, entry i = input of block i, last = output of the final norm (the fixture's
    // hidden_step0 layout).
    std::vector<float>* hidden_out = nullptr;
};

// Reusable buffers for one canvas length; grows on demand, never shrinks between steps.
class ForwardState {
public:
    // Runs the model on the canvas `tokens` and writes logits [n_rows, output_width] into `logits`
    // (resized). Throws Error for a token id outside the embedding, or a row range / cache that does
    // not fit the canvas.
    void run(const Model& model, std::span<const int32_t> tokens, const ForwardOptions& opts, std::vector<float>& logits);

private:
    void ensure(const ModelConfig& c, int64_t L);
    int64_t L_ = -1;
    std::vector<float> h_, a_, q_, k_, v_, o_, probs_, g_, u_, rope_cos_, rope_sin_, rows_;
    std::vector<int> key_step_;
};

// FLOPs of one forward (multiply-adds count 2) computing R rows against L keys, with `head_rows`
// logit rows.
double forward_flops(const ModelConfig& c, int64_t R, int64_t L, int64_t head_rows);

}  // namespace dlmscope
