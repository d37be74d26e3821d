// dlmscope engine: the denoiser — what one sampler step runs to get logits for the canvas. The loop
// (sampler/diffusion.cpp) asks for a step's logits and does not know which denoiser answers:
//
//   full     every step: one forward over the whole canvas (the official MMaDA/LLaDA sampler)
//   prefix   a block's first step: a full forward that fills the K/V cache of every position; each
//            later step: rows [block start, L) against the cached K/V of the positions before the block
//   dual     a block's first step: the same full forward; each later step: the block's rows only,
//            against the cached K/V of every other position (the suffix as the full forward saw it)
//
// (NVlabs/Fast-dLLM llada/generate.py: generate_with_prefix_cache / generate_with_dual_cache.)
// With refresh N > 0, every N-th step of a block is also a full forward that refills the cache.
#pragma once

#include "dlmscope/types.h"
#include "dlmscope/tap.h"
#include "engine/model/forward.h"

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dlmscope {

struct DenoiseRequest {
    int block_start = 0, block_end = 0;  // the current block's canvas positions
    int step_in_block = 0;
    std::span<const int> logit_rows;     // canvas positions whose logits are wanted (inside the computed rows)
    AttentionTap* tap = nullptr;
    TapContext ctx;
};

struct DenoiseInfo {
    ForwardKind kind = ForwardKind::full;
    int row_begin = 0, row_end = 0;      // the canvas rows computed
    double flops = 0.0;
};

class Denoiser {
public:
    virtual ~Denoiser() = default;
    // The canvas rows [begin, end) the step `step_in_block` of the block [block_start, block_end)
    // computes on a canvas of L positions (logits can be asked for these only).
    virtual std::pair<int, int> rows(int step_in_block, int block_start, int block_end, int L) const = 0;
    // Logits [logit_rows, V] of one step on canvas `x`.
    virtual DenoiseInfo run(std::span<const int32_t> x, const DenoiseRequest& req, std::vector<float>& logits) = 0;
};

// The denoiser of a cache mode for canvases of `canvas_length` positions. `oracle`: cached steps
// run KvUse::frozen (every row, the cached K/V frozen) instead of the row range: slow, for checking.
std::unique_ptr<Denoiser> make_denoiser(const Model& model, CacheMode mode, int refresh, int canvas_length, bool oracle = false);

}  // namespace dlmscope
