// dlmscope tools: synthetic captured runs in the real run-directory format (docs/run-format.md),
// for the analysis benchmark and tests — no model needed.
//
//   tools::SyntheticRunSpec s;                       // 8B-shaped by default: 32 layers × 32 heads,
//   std::string manifest = tools::write_synthetic_run("/tmp/run8b", s);   // canvas 160, 128 steps
//
// The run is written like `dlmscope generate --visualize-attention` writes one: RunWriter for the
// manifest and history.npy, one step_SSSSS.npz per step (canvas, stats [nl, H, 3, 9] f32, attn
// [nl, Hs, L, L] f16/f32), indexed as the capture indexes them. The sampler is faked: each step
// commits the next positions of its block in a seeded random order, with random confidences.
//
// Attention: by default every (step, layer, head) map is one of a pool of 64 random softmax
// matrices (sink, diagonal and local bias, per-matrix temperature), picked by a hash of (step,
// layer, head), so writing a 128-step 8B-shaped run takes seconds; its statistics come from
// capture's head_stats on that matrix and the step's canvas, so they match the maps exactly.
// A test can pass `attention` to choose every head's matrix itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace dlmscope::tools {

struct SyntheticRunSpec {
    int n_layers = 32, n_heads = 32;
    int prompt_length = 32, gen_length = 128, block_length = 32, steps = 128;
    std::string heads = "mean";  // maps stored: mean | all | none
    bool f16 = true;             // map precision
    bool complete = true;        // false: stop after `steps_written` steps and mark the run incomplete
    int steps_written = -1;      // with complete = false: steps on disk (default: half)
    int32_t mask_id = 126336;
    uint64_t seed = 1;
    std::string manifest = "generation_with_attention.json";
    // Optional: fills the [L × L] probabilities of (step, layer, head); rows must sum to 1.
    std::function<void(int step, int layer, int head, float* P, int L)> attention;
};

// Writes the run under out_dir (created) and returns the manifest path. Throws Error on failure.
std::string write_synthetic_run(const std::string& out_dir, const SyntheticRunSpec& spec);

}  // namespace dlmscope::tools
