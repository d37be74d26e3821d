// dlmscope engine: the MMaDA/LLaDA masked-diffusion sampler loop (spec section 5), with Fast-dLLM's
// cached and threshold decoding. The loop only loops; the schedule is schedule.h, each decision is
// select.h, and what a step computes is the denoiser's (engine/model/denoiser.h).
//
//   canvas = prompt + G × mask
//   for each block b (left to right):
//     for each step of the block:
//       lg   = denoiser(canvas)                        (CFG: uncond + (w+1)(cond − uncond))
//       x0, conf = predict(lg) for the masked positions before the block end (others: −∞)
//       commit top-k_s (fixed schedule) | the most confident + every conf ≥ T (threshold)
//     until S steps ran (plain sampler) | the block holds no mask (threshold or cache; a cached block
//     always runs one cached forward after its full one, as Fast-dLLM does)
#pragma once

#include "dlmscope/types.h"
#include "dlmscope/tap.h"
#include "engine/model/denoiser.h"
#include "engine/sampler/audit.h"
#include "engine/sampler/noise.h"
#include "engine/sampler/schedule.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dlmscope {

struct GenerateHooks {
    AttentionTap* tap = nullptr;                          // attention observer (may be null)
    std::function<void(const StepRecord&)> on_step;       // after every step (progress, streaming)
    const std::atomic<bool>* cancel = nullptr;            // checked between steps; throws Cancelled
};

// Runs the sampler. `noise` supplies every random draw (unused at temperature 0 with
// low-confidence remasking).
GenerateResult generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateParams& params,
                        NoiseSource& noise, const GenerateHooks& hooks = {});

}  // namespace dlmscope
