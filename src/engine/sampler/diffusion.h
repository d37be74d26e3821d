// dlmscope engine: the MMaDA/LLaDA masked-diffusion sampler (spec section 5).
//
//   canvas = prompt + G × mask
//   for each block b (left to right):                  n_b masks in the block window
//     for each step s of the block:                    k_s = ⌊n_b/S⌋ (+1 for the first n_b mod S steps)
//       lg   = model(canvas)                           (CFG: uncond + (w+1)(cond − uncond))
//       x0   = argmax_v exp(lg)/(−ln U)^T  (f64)       (T = 0: argmax lg; first maximal index)
//       conf = softmax(lg)[x0] (f64; f32 for LLaDA) | a uniform (random remasking)
//       conf = −∞ outside {masked positions before the block end}
//       commit the k_s highest-confidence positions (ties: lowest position)
#pragma once

#include "dlmscope/tap.h"
#include "engine/model/forward.h"
#include "engine/sampler/noise.h"

#include <atomic>
#include <cstdint>
#include <functional>
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
};

// Throws Error naming the parameter when the schedule is impossible (spec 5.2) or the canvas
// is longer than the model allows.
void validate_params(const GenerateParams& p, int prompt_length, const ModelConfig& c);

// The transfer schedule of one block: k_s for s = 0..steps_per_block-1.
std::vector<int> transfer_schedule(int masked_in_block, int steps_per_block);

struct StepRecord {
    int step = 0;
    int block = 0;
    int step_in_block = 0;
    std::vector<int> positions;        // committed canvas positions, ascending
    std::vector<int32_t> tokens;       // their new ids
    std::vector<double> confidences;   // the confidence each was chosen with
    double forward_seconds = 0.0;
};

struct GenerateResult {
    std::vector<int32_t> prompt;
    std::vector<int32_t> canvas;       // final canvas, prompt + generation
    std::vector<int32_t> history;      // [steps + 1, L] row s = canvas before step s; last = final
    std::vector<StepRecord> steps;
    int canvas_length = 0;
    double seconds = 0.0;              // whole generate()
    double forward_seconds = 0.0;      // sum over forwards
    int forwards = 0;                  // model calls (2 per step under CFG)
    double flops = 0.0;                // sum of forward_flops()
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
