// dlmscope engine: the sampler's parameters, their validation and the transfer schedule (spec 5.2).
//
//   canvas = prompt + G × mask, G = gen_length, cut into G / block_length blocks decoded left to right
//   fixed schedule:  block b gets S = steps / blocks steps; step s commits k_s = ⌊n_b/S⌋ (+1 for
//                    the first n_b mod S steps) of its n_b masks
//   threshold T:     each step commits the most confident mask and every other one with confidence
//                    ≥ T; a block ends when it holds no mask, so steps per block vary (Fast-dLLM)
//   cache:           none | prefix | dual — what each step recomputes (engine/model/denoiser.h)
#pragma once

#include "engine/model/denoiser.h"
#include "engine/model/model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dlmscope {

enum class Remasking { low_confidence, random };
Remasking parse_remasking(const std::string& s);  // "low_confidence" | "random"
const char* remasking_name(Remasking r);

// Which official script's numerics to follow where they differ (spec 5.7).
enum class SamplerFlavor {
    mmada,  // confidence softmax in float64 (MMaDA generate.py / mmu_generate)
    llada,  // confidence softmax in the logits' dtype, float32 (LLaDA generate.py)
};
SamplerFlavor parse_sampler_flavor(const std::string& s);
const char* sampler_flavor_name(SamplerFlavor f);

struct GenerateParams {
    int gen_length = 128;
    int block_length = 128;
    int steps = 128;
    double temperature = 0.0;
    double cfg_scale = 0.0;
    Remasking remasking = Remasking::low_confidence;
    SamplerFlavor flavor = SamplerFlavor::mmada;
    int32_t mask_id = -1;
    // LLaDA-only options (spec 5.9): -inf logit for eos at every position; -inf confidence for
    // predicted eos/eot. Ids come from the tokenizer; -1 = not available.
    bool logits_eos_inf = false;
    bool confidence_eos_eot_inf = false;
    int32_t eos_id = -1;
    int32_t eot_id = -1;
    // Fast-dLLM decoding (docs/decoding.md). cache: what each step after a block's first recomputes;
    // parallel_threshold: 0 = the fixed schedule, else the threshold commit rule (0 < T < 1);
    // cache_refresh: 0 = off, else every N-th step of a block is a full forward that refills the cache;
    // cache_audit: also run the exact forward at each cached step and record how far the cache drifts.
    CacheMode cache = CacheMode::none;
    double parallel_threshold = 0.0;
    int cache_refresh = 0;
    bool cache_audit = false;
    // Verification: cached steps run the slow oracle instead (a full forward whose K/V outside the
    // recomputed rows are frozen as cached, KvUse::frozen); the same tokens at a full forward's cost.
    bool cache_oracle = false;
};

// Throws Error naming the parameter when the schedule is impossible (spec 5.2), the canvas is
// longer than the model allows, or a combination is not supported (CFG with a cache).
void validate_params(const GenerateParams& p, int prompt_length, const ModelConfig& c);

// The transfer schedule of one block: k_s for s = 0..steps_per_block-1.
std::vector<int> transfer_schedule(int masked_in_block, int steps_per_block);

// Steps in every block when that is fixed in advance: S = steps / blocks for the plain sampler; for
// a cache without threshold max(2, min(S, block_length)) (a cached block ends when it holds no mask,
// after at least one cached forward); 0 when it varies (threshold decoding).
int fixed_steps_per_block(const GenerateParams& p);

// The most steps a run can take: blocks × fixed steps, or for threshold decoding one step per
// position of a block (each commits at least one), plus a cached block's closing no-op forward.
int max_steps(const GenerateParams& p);

}  // namespace dlmscope
