#include "engine/sampler/select.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace dlmscope {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr float kNegInfF = -std::numeric_limits<float>::infinity();
}  // namespace

int argmax_first(std::span<const float> x) {
    int best = 0;
    for (int i = 1; i < static_cast<int>(x.size()); ++i)
        if (x[i] > x[best]) best = i;
    return best;
}

double confidence_of(std::span<const float> lg, int idx, SamplerFlavor flavor) {
    const size_t V = lg.size();
    if (flavor == SamplerFlavor::mmada) {
        double mx = lg[0];
        for (size_t v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(lg[v]));
        double sum = 0.0;
        for (size_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(lg[v]) - mx);
        return std::exp(static_cast<double>(lg[idx]) - mx) / sum;
    }
    float mx = lg[0];
    for (size_t v = 1; v < V; ++v) mx = std::max(mx, lg[v]);
    float sum = 0.0f;
    for (size_t v = 0; v < V; ++v) sum += std::exp(lg[v] - mx);
    return static_cast<double>(std::exp(lg[idx] - mx) / sum);
}

Prediction predict(std::span<float> lg, const GenerateParams& p, NoiseSource& noise, int step, int pos) {
    const int V = static_cast<int>(lg.size());
    if (p.logits_eos_inf && p.eos_id >= 0 && p.eos_id < V) lg[p.eos_id] = kNegInfF;
    Prediction out;
    if (p.temperature > 0.0) {
        // Gumbel-max in float64: argmax_v exp(l_v) / (-ln U_v)^T.
        thread_local std::vector<double> u;
        u.resize(static_cast<size_t>(V));
        noise.gumbel_uniforms(step, pos, u);
        double best_val = kNegInf;
        for (int v = 0; v < V; ++v) {
            const double g = std::exp(static_cast<double>(lg[v])) / std::pow(-std::log(u[v]), p.temperature);
            if (v == 0 || g > best_val) {
                best_val = g;
                out.token = v;
            }
        }
    } else {
        out.token = argmax_first(lg);
    }
    if (p.remasking == Remasking::low_confidence) {
        if (p.confidence_eos_eot_inf) {
            // The official chained assignment: EOT's clean logit always; EOS's only when the noisy
            // scores are the logits themselves (temperature 0). spec 5.9.
            if (p.eot_id >= 0 && p.eot_id < V) lg[p.eot_id] = kNegInfF;
            if (p.temperature == 0.0 && p.eos_id >= 0 && p.eos_id < V) lg[p.eos_id] = kNegInfF;
        }
        out.confidence = confidence_of(lg, out.token, p.flavor);
    } else {
        // Random remasking: one float32 uniform per position, drawn after the Gumbel noise.
        out.confidence = noise.remask_uniform(step, pos);
    }
    return out;
}

namespace {

// Candidate indices ordered by confidence, highest first (ties: lowest position); the first n only.
std::vector<size_t> ranked(std::span<const int> candidates, std::span<const double> conf, size_t n) {
    DLM_ASSERT(candidates.size() == conf.size());
    std::vector<size_t> order(candidates.size());
    std::iota(order.begin(), order.end(), size_t{0});
    n = std::min(n, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(), [&](size_t a, size_t b) {
        return conf[a] > conf[b] || (conf[a] == conf[b] && candidates[a] < candidates[b]);
    });
    order.resize(n);
    return order;
}

}  // namespace

std::vector<int> select_top_k(std::span<const int> candidates, std::span<const double> conf, int k) {
    std::vector<int> out;
    for (size_t i : ranked(candidates, conf, static_cast<size_t>(std::max(k, 0)))) out.push_back(candidates[i]);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<int> select_threshold(std::span<const int> candidates, std::span<const double> conf, double threshold) {
    std::vector<int> out;
    if (candidates.empty()) return out;
    const size_t top = ranked(candidates, conf, 1)[0];
    for (size_t i = 0; i < candidates.size(); ++i)
        if (i == top || conf[i] >= threshold) out.push_back(candidates[i]);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace dlmscope
