// dlmscope: the attention tap — an observer the forward pass asks, then hands attention to.
//
// The engine calls this interface; capture implements it; neither includes the other
// (the CLI wires them). The protocol, per forward pass:
//
//   on_forward_begin(ctx)              once, before layer 0
//   wants(ctx, layer) -> bool          before each layer's attention; false = zero cost
//   on_attention(ctx, layer, probs)    right after that layer's softmax, if wanted
//   on_forward_end(ctx)                once, after the last layer
//
// `probs` are the exact probabilities the forward pass multiplies with V (not a recomputation),
// float32, laid out [n_heads][n_queries][n_keys], each row summing to 1. The pointer is valid only
// during the call. Calls come from the thread that runs generate(), in layer order.
//
// A forward need not recompute every row: with a K/V cache (Fast-dLLM's prefix/dual decoding) it
// computes the query rows [query_begin, query_begin + n_queries) of the canvas only, against all
// n_keys = canvas.size() keys, some of which were computed by an earlier step and reused
// (key_step[j] < step). Rows outside the query range have no attention in this forward.
#pragma once

#include <cstdint>
#include <span>

namespace dlmscope {

// Where in the diffusion run a forward pass happens.
struct TapContext {
    int step = -1;            // global step index 0..steps-1 (-1: a forward outside generation)
    int block = -1;           // block index
    int step_in_block = -1;   // step within the block
    int steps_per_block = 0;  // steps in every block (0 outside generation, or when it varies: threshold)
    int batch_row = 0;        // 0 = conditional canvas; 1 = unconditional (CFG) canvas
    std::span<const int32_t> canvas;  // the tokens this forward sees (length n_keys)
    int query_begin = 0;              // the recomputed query rows: canvas positions
    int n_queries = 0;                //   [query_begin, query_begin + n_queries)
    // Per key column (canvas position), the step whose forward computed its key/value: `step` for
    // fresh keys, earlier for keys read from a cache (age = step - key_step[j]).
    std::span<const int> key_step;
    int prompt_length = 0;    // canvas positions [0, prompt_length) are the prompt
    int32_t mask_id = -1;     // the mask token id
    // Runs fn(arg, i) for every i < n on the threads the forward pass uses, returning when all are
    // done (null: the observer runs its loops itself). An observer's per-head work can use the
    // cores the kernels use, without the observer knowing the engine.
    void (*parallel_for)(int64_t n, void (*fn)(void* arg, int64_t i), void* arg) = nullptr;
};

// One layer's attention probabilities.
struct AttentionProbs {
    const float* data = nullptr;  // [n_heads][n_queries][n_keys]
    int n_heads = 0;
    int n_queries = 0;
    int n_keys = 0;
    const float* head(int h) const { return data + static_cast<int64_t>(h) * n_queries * n_keys; }
};

class AttentionTap {
public:
    virtual ~AttentionTap() = default;
    virtual void on_forward_begin(const TapContext&) {}
    // Asked before a layer's attention; return false to skip (costs nothing).
    virtual bool wants(const TapContext& ctx, int layer) = 0;
    // Handed the probabilities the forward pass used for `layer`.
    virtual void on_attention(const TapContext& ctx, int layer, const AttentionProbs& probs) = 0;
    virtual void on_forward_end(const TapContext&) {}
};

}  // namespace dlmscope
