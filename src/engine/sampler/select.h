// dlmscope engine: the sampler's decisions, as pure functions of logits, noise and confidences
// (spec 5.3–5.9; Fast-dLLM's threshold rule). Unit-tested on their own, like llama.cpp's
// test-sampling; the loop (diffusion.cpp) only calls them.
//
//   predict:        x0 = argmax_v exp(lg)/(−ln U)^T (f64; T = 0: argmax lg, first maximal index)
//                   conf = softmax(lg)[x0] (f64 for MMaDA, f32 for LLaDA)
//   select_top_k:   the k most confident candidates (ties: lowest position)
//   select_threshold: the most confident candidate, and every other with confidence ≥ T
#pragma once

#include "engine/sampler/noise.h"
#include "engine/sampler/schedule.h"

#include <cstdint>
#include <span>
#include <vector>

namespace dlmscope {

struct Prediction {
    int32_t token = 0;
    double confidence = 0.0;  // softmax probability of `token` (low_confidence remasking)
};

// The prediction for canvas position `pos` at `step` from its logits row `lg` (V entries). The
// LLaDA eos/eot options (spec 5.9) write −inf into `lg`, as the official code does.
Prediction predict(std::span<float> lg, const GenerateParams& p, NoiseSource& noise, int step, int pos);

// softmax(lg)[idx] in float64 (MMaDA) or float32 (LLaDA), as the official scripts compute it.
double confidence_of(std::span<const float> lg, int idx, SamplerFlavor flavor);

// Index of the first maximal element.
int argmax_first(std::span<const float> x);

// The positions to commit: candidates[i] has confidence conf[i]; the result is ascending.
// top-k: never more than there are candidates.
std::vector<int> select_top_k(std::span<const int> candidates, std::span<const double> conf, int k);
// threshold: the most confident candidate (ties: lowest position) always, and every other one
// whose confidence is ≥ threshold; nothing when there are no candidates.
std::vector<int> select_threshold(std::span<const int> candidates, std::span<const double> conf, double threshold);

}  // namespace dlmscope
