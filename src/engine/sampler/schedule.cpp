#include "engine/sampler/schedule.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>

namespace dlmscope {

Remasking parse_remasking(const std::string& s) {
    if (s == "low_confidence") return Remasking::low_confidence;
    if (s == "random") return Remasking::random;
    fail("unknown remasking '{}' (expected low_confidence or random)", s);
}

const char* remasking_name(Remasking r) { return r == Remasking::random ? "random" : "low_confidence"; }

SamplerFlavor parse_sampler_flavor(const std::string& s) {
    if (s == "mmada") return SamplerFlavor::mmada;
    if (s == "llada") return SamplerFlavor::llada;
    fail("unknown sampler '{}' (expected mmada or llada)", s);
}

const char* sampler_flavor_name(SamplerFlavor f) { return f == SamplerFlavor::llada ? "llada" : "mmada"; }

void validate_params(const GenerateParams& p, int prompt_length, const ModelConfig& c) {
    if (p.gen_length <= 0) fail("gen_length must be positive, got {}", p.gen_length);
    if (p.block_length <= 0) fail("block_length must be positive, got {}", p.block_length);
    if (p.steps <= 0) fail("steps must be positive, got {}", p.steps);
    if (p.gen_length % p.block_length != 0)
        fail("gen_length {} is not a multiple of block_length {}", p.gen_length, p.block_length);
    const int blocks = p.gen_length / p.block_length;
    if (p.steps % blocks != 0)
        fail("steps {} is not a multiple of the number of blocks {} (gen_length {} / block_length {})", p.steps, blocks,
             p.gen_length, p.block_length);
    if (!(p.temperature >= 0.0) || !std::isfinite(p.temperature)) fail("temperature must be >= 0, got {}", p.temperature);
    if (!(p.cfg_scale >= 0.0) || !std::isfinite(p.cfg_scale)) fail("cfg_scale must be >= 0, got {}", p.cfg_scale);
    if (p.parallel_threshold != 0.0 && !(p.parallel_threshold > 0.0 && p.parallel_threshold < 1.0))
        fail("parallel_threshold must lie strictly between 0 and 1 (or be 0 for the fixed schedule), got {}", p.parallel_threshold);
    if (p.cache_refresh < 0) fail("cache_refresh must be >= 0 (0 = off), got {}", p.cache_refresh);
    if (p.cache == CacheMode::none && p.cache_refresh > 0)
        fail("cache_refresh {} needs a cache (prefix or dual); with cache none every step is a full forward", p.cache_refresh);
    if (p.cache == CacheMode::none && p.cache_audit)
        fail("cache_audit needs a cache (prefix or dual): with cache none every step is already the exact forward");
    if (p.cache != CacheMode::none && p.cfg_scale > 0.0)
        fail("cfg_scale {} is not supported with cache {}: the unconditional canvas would need its own cache (use cache none)",
             p.cfg_scale, cache_mode_name(p.cache));
    if (prompt_length <= 0) fail("the prompt is empty");
    const int64_t canvas = static_cast<int64_t>(prompt_length) + p.gen_length;
    if (canvas > c.max_sequence_length)
        fail("prompt ({} tokens) + gen_length ({}) = {} exceeds the model's max_sequence_length {}", prompt_length, p.gen_length,
             canvas, c.max_sequence_length);
    if (p.mask_id < 0 || p.mask_id >= c.output_width)
        fail("mask id {} is outside the model's vocabulary (0..{})", p.mask_id, c.output_width - 1);
}

std::vector<int> transfer_schedule(int masked_in_block, int steps_per_block) {
    std::vector<int> k(static_cast<size_t>(steps_per_block), masked_in_block / steps_per_block);
    for (int s = 0; s < masked_in_block % steps_per_block; ++s) ++k[s];
    return k;
}

}  // namespace dlmscope
