#include "engine/sampler/diffusion.h"

#include "core/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

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

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Index of the first maximal element.
template <typename T>
int argmax_first(const T* x, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i)
        if (x[i] > x[best]) best = i;
    return best;
}

// softmax(lg)[idx] in float64 (MMaDA) or float32 (LLaDA), as the official scripts compute it.
double confidence_of(const float* lg, int V, int idx, SamplerFlavor flavor) {
    if (flavor == SamplerFlavor::mmada) {
        double mx = lg[0];
        for (int v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(lg[v]));
        double sum = 0.0;
        for (int v = 0; v < V; ++v) sum += std::exp(static_cast<double>(lg[v]) - mx);
        return std::exp(static_cast<double>(lg[idx]) - mx) / sum;
    }
    float mx = lg[0];
    for (int v = 1; v < V; ++v) mx = std::max(mx, lg[v]);
    float sum = 0.0f;
    for (int v = 0; v < V; ++v) sum += std::exp(lg[v] - mx);
    return static_cast<double>(std::exp(lg[idx] - mx) / sum);
}

}  // namespace

GenerateResult generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateParams& p, NoiseSource& noise,
                        const GenerateHooks& hooks) {
    using clock = std::chrono::steady_clock;
    const auto t_start = clock::now();
    const ModelConfig& c = model.config();
    const int P = static_cast<int>(prompt.size());
    validate_params(p, P, c);
    const int L = P + p.gen_length, V = c.output_width;
    const int n_blocks = p.gen_length / p.block_length, S = p.steps / n_blocks;
    const bool cfg = p.cfg_scale > 0.0;

    GenerateResult res;
    res.prompt = prompt;
    res.canvas_length = L;
    std::vector<int32_t> x(prompt);
    x.resize(static_cast<size_t>(L), p.mask_id);
    // prompt_index: positions of the initial canvas that are not the mask (spec 5.2 step 2).
    std::vector<char> prompt_index(static_cast<size_t>(L));
    for (int i = 0; i < L; ++i) prompt_index[i] = x[i] != p.mask_id;
    res.history.reserve(static_cast<size_t>(p.steps + 1) * L);

    ForwardState state, state_uncond;
    std::vector<float> logits, logits_uncond;
    std::vector<int> rows;           // canvas positions whose logits are needed
    std::vector<double> u(static_cast<size_t>(V));
    std::vector<double> conf(static_cast<size_t>(L));
    std::vector<int32_t> x0(static_cast<size_t>(L));
    std::vector<int32_t> un_x;

    for (int b = 0; b < n_blocks; ++b) {
        const int block_start = P + b * p.block_length, block_end = block_start + p.block_length;
        const int n_b = static_cast<int>(std::count(x.begin() + block_start, x.begin() + block_end, p.mask_id));
        const std::vector<int> k_sched = transfer_schedule(n_b, S);
        for (int s = 0; s < S; ++s) {
            const int step = b * S + s;
            if (hooks.cancel && hooks.cancel->load()) throw Cancelled("generation cancelled");
            res.history.insert(res.history.end(), x.begin(), x.end());

            // Only masked positions before the block end can be committed; everything else gets
            // confidence -inf (spec 5.3 step 5), so only their logits are computed.
            rows.clear();
            for (int i = 0; i < block_end; ++i)
                if (x[i] == p.mask_id) rows.push_back(i);
            const int R = static_cast<int>(rows.size());

            ForwardOptions fo;
            fo.tap = hooks.tap;
            fo.ctx.step = step;
            fo.ctx.block = b;
            fo.ctx.step_in_block = s;
            fo.ctx.steps_per_block = S;
            fo.ctx.prompt_length = P;
            fo.ctx.mask_id = p.mask_id;
            // A step with nothing left to commit still runs its forward, as the official loop does
            // (the tap sees every step); it needs no logits, so ask for a single row.
            static const int kOneRow[1] = {0};
            fo.logit_rows = R > 0 ? std::span<const int>(rows) : std::span<const int>(kOneRow);
            const auto t_fwd = clock::now();
            {
                state.run(model, x, fo, logits);
                res.flops += forward_flops(c, L, std::max(R, 1));
                ++res.forwards;
                if (cfg) {
                    un_x = x;
                    for (int i = 0; i < L; ++i)
                        if (prompt_index[i]) un_x[i] = p.mask_id;
                    fo.ctx.batch_row = 1;
                    state_uncond.run(model, un_x, fo, logits_uncond);
                    res.flops += forward_flops(c, L, std::max(R, 1));
                    ++res.forwards;
                    const float w1 = static_cast<float>(p.cfg_scale + 1.0);
                    for (size_t i = 0; i < logits.size(); ++i) logits[i] = logits_uncond[i] + w1 * (logits[i] - logits_uncond[i]);
                }
            }
            StepRecord rec;
            rec.step = step;
            rec.block = b;
            rec.step_in_block = s;
            rec.forward_seconds = std::chrono::duration<double>(clock::now() - t_fwd).count();
            res.forward_seconds += rec.forward_seconds;

            std::fill(conf.begin(), conf.end(), kNegInf);
            for (int r = 0; r < R; ++r) {
                const int i = rows[r];
                float* lg = logits.data() + static_cast<int64_t>(r) * V;
                if (p.logits_eos_inf && p.eos_id >= 0 && p.eos_id < V) lg[p.eos_id] = -std::numeric_limits<float>::infinity();
                int best;
                if (p.temperature > 0.0) {
                    // Gumbel-max in float64: argmax_v exp(l_v) / (-ln U_v)^T.
                    noise.gumbel_uniforms(step, i, u);
                    double best_val = kNegInf;
                    best = 0;
                    for (int v = 0; v < V; ++v) {
                        const double g = std::exp(static_cast<double>(lg[v])) / std::pow(-std::log(u[v]), p.temperature);
                        if (v == 0 || g > best_val) {
                            best_val = g;
                            best = v;
                        }
                    }
                } else {
                    best = argmax_first(lg, V);
                }
                x0[i] = best;
                if (p.remasking == Remasking::low_confidence) {
                    if (p.confidence_eos_eot_inf) {
                        // The official chained assignment: EOT's clean logit always; EOS's only when the
                        // noisy scores are the logits themselves (temperature 0). spec 5.9.
                        if (p.eot_id >= 0 && p.eot_id < V) lg[p.eot_id] = -std::numeric_limits<float>::infinity();
                        if (p.temperature == 0.0 && p.eos_id >= 0 && p.eos_id < V) lg[p.eos_id] = -std::numeric_limits<float>::infinity();
                    }
                    conf[i] = confidence_of(lg, V, best, p.flavor);
                }
            }
            if (p.remasking == Remasking::random) {
                // One float32 uniform per position, drawn after the Gumbel noise; only candidates matter.
                for (int r = 0; r < R; ++r) conf[rows[r]] = noise.remask_uniform(step, rows[r]);
            }

            // Top-k_s by confidence, ties to the lowest position; never more than there are candidates.
            std::vector<int> cand(rows);
            const int k = std::min(k_sched[s], R);
            std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), [&](int a, int bb) {
                return conf[a] > conf[bb] || (conf[a] == conf[bb] && a < bb);
            });
            cand.resize(static_cast<size_t>(k));
            std::sort(cand.begin(), cand.end());
            for (int i : cand) {
                x[i] = x0[i];
                rec.positions.push_back(i);
                rec.tokens.push_back(x0[i]);
                rec.confidences.push_back(conf[i]);
            }
            if (hooks.on_step) hooks.on_step(rec);
            res.steps.push_back(std::move(rec));
        }
    }
    res.history.insert(res.history.end(), x.begin(), x.end());
    res.canvas = std::move(x);
    res.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
    return res;
}

}  // namespace dlmscope
