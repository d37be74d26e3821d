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

struct StepRecord {
    int step = 0;
    int block = 0;
    int step_in_block = 0;
    std::vector<int> positions;        // committed canvas positions, ascending
    std::vector<int32_t> tokens;       // their new ids
    std::vector<double> confidences;   // the confidence each was chosen with
    double forward_seconds = 0.0;
    ForwardKind kind = ForwardKind::full;  // what the step's forward computed:
    int row_begin = 0, row_end = 0;        //   canvas rows [row_begin, row_end)
    StepAudit audit;                       // with cache_audit, at cached steps
};

struct GenerateResult {
    std::vector<int32_t> prompt;
    std::vector<int32_t> canvas;       // final canvas, prompt + generation
    std::vector<int32_t> history;      // [steps + 1, L] row s = canvas before step s; last = final
    std::vector<StepRecord> steps;
    int canvas_length = 0;
    double seconds = 0.0;              // whole generate()
    double forward_seconds = 0.0;      // sum over forwards (the audit's exact forwards excluded)
    double audit_seconds = 0.0;        // the audit's exact forwards
    int forwards = 0;                  // model calls (2 per step under CFG; audit forwards excluded)
    double flops = 0.0;                // sum of forward_flops()
    std::vector<int> steps_per_block;  // steps each block took
};

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
