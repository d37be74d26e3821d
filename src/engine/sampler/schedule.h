// dlmscope engine: the sampler's parameters, their validation and the transfer schedule (spec 5.2).
//
//   canvas = prompt + G × mask, G = gen_length, cut into G / block_length blocks decoded left to right
//   fixed schedule:  block b gets S = steps / blocks steps; step s commits k_s = ⌊n_b/S⌋ (+1 for
//                    the first n_b mod S steps) of its n_b masks
//   threshold T:     each step commits the most confident mask and every other one with confidence
//                    ≥ T; a block ends when it holds no mask, so steps per block vary (Fast-dLLM)
//   cache:           none | prefix | dual — what each step recomputes (engine/model/denoiser.h)
#pragma once

#include "dlmscope/types.h"
#include "engine/model/denoiser.h"
#include "engine/model/model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dlmscope {

// Throws Error naming the parameter when the schedule is impossible (spec 5.2), the canvas is
// longer than the model allows, or a combination is not supported (CFG with a cache).
void validate_params(const GenerateParams& p, int prompt_length, const ModelConfig& c);

// The transfer schedule of one block: k_s for s = 0..steps_per_block-1.
std::vector<int> transfer_schedule(int masked_in_block, int steps_per_block);

// fixed_steps_per_block and max_steps, which a run directory needs before generating, are in
// include/dlmscope/types.h.

}  // namespace dlmscope
