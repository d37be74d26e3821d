#include "engine/sampler/audit.h"

#include "core/error.h"
#include "engine/sampler/select.h"

#include <algorithm>
#include <cmath>

namespace dlmscope {

void AuditTap::record(AttentionTap* next) {
    comparing_ = false;
    next_ = next;
}

void AuditTap::compare(StepAudit& out) {
    comparing_ = true;
    next_ = nullptr;
    out_ = &out;
    out.present = true;
    out.attn.assign(static_cast<size_t>(n_layers_) * n_heads_ * kNumDriftStats, 0.0f);
}

void AuditTap::on_forward_begin(const TapContext& ctx) {
    if (!comparing_) {
        q0_ = ctx.query_begin;
        nq_ = ctx.n_queries;
        nk_ = static_cast<int>(ctx.canvas.size());
        cached_.resize(static_cast<size_t>(n_layers_) * n_heads_ * nq_ * nk_);
        if (next_) next_->on_forward_begin(ctx);
    }
}

bool AuditTap::wants(const TapContext& ctx, int layer) {
    if (!comparing_) next_wants_ = next_ && next_->wants(ctx, layer);
    return true;
}

namespace {

// Σ p log2(p/m) over the entries where p > 0.
double kl_bits(const float* p, const double* m, int n) {
    double s = 0.0;
    for (int j = 0; j < n; ++j)
        if (p[j] > 0.0f) s += p[j] * std::log2(p[j] / m[j]);
    return s;
}

}  // namespace

void AuditTap::on_attention(const TapContext& ctx, int layer, const AttentionProbs& probs) {
    DLM_ASSERT(probs.n_heads == n_heads_ && layer < n_layers_);
    if (!comparing_) {
        DLM_ASSERT(probs.n_queries == nq_ && probs.n_keys == nk_);
        const size_t per = static_cast<size_t>(n_heads_) * nq_ * nk_;
        std::copy_n(probs.data, per, cached_.begin() + static_cast<std::ptrdiff_t>(layer * per));
        if (next_wants_) next_->on_attention(ctx, layer, probs);
        return;
    }
    // The exact forward computes every row; compare its rows [q0_, q0_ + nq_) with the cached ones.
    DLM_ASSERT(probs.n_keys == nk_ && ctx.query_begin == 0 && probs.n_queries >= q0_ + nq_);
    const size_t per = static_cast<size_t>(n_heads_) * nq_ * nk_;
    std::vector<double> m(static_cast<size_t>(nk_));
    for (int h = 0; h < n_heads_; ++h) {
        double l1_sum = 0.0, l1_max = 0.0, js_sum = 0.0;
        for (int i = 0; i < nq_; ++i) {
            const float* p = cached_.data() + layer * per + (static_cast<size_t>(h) * nq_ + i) * nk_;
            const float* q = probs.head(h) + static_cast<int64_t>(q0_ + i) * nk_;
            double l1 = 0.0;
            for (int j = 0; j < nk_; ++j) {
                l1 += std::abs(static_cast<double>(p[j]) - q[j]);
                m[j] = 0.5 * (static_cast<double>(p[j]) + q[j]);
            }
            l1_sum += l1;
            l1_max = std::max(l1_max, l1);
            js_sum += 0.5 * kl_bits(p, m.data(), nk_) + 0.5 * kl_bits(q, m.data(), nk_);
        }
        float* o = out_->attn.data() + (static_cast<size_t>(layer) * n_heads_ + h) * kNumDriftStats;
        o[0] = static_cast<float>(l1_sum / nq_);
        o[1] = static_cast<float>(l1_max);
        o[2] = static_cast<float>(js_sum / nq_);
    }
}

void AuditTap::on_forward_end(const TapContext& ctx) {
    if (!comparing_ && next_) next_->on_forward_end(ctx);
}

void audit_logits(std::span<const float> cached, std::span<const float> exact, int V, StepAudit& out) {
    DLM_ASSERT(cached.size() == exact.size() && V > 0);
    const size_t rows = cached.size() / static_cast<size_t>(V);
    out.logits_max_abs = 0.0;
    out.argmax_agree = 0;
    out.argmax_rows = static_cast<int>(rows);
    for (size_t r = 0; r < rows; ++r) {
        const auto a = cached.subspan(r * V, static_cast<size_t>(V)), b = exact.subspan(r * V, static_cast<size_t>(V));
        for (int v = 0; v < V; ++v) {
            const double d = std::abs(static_cast<double>(a[v]) - b[v]);
            if (std::isnan(d) || std::isnan(out.logits_max_abs)) out.logits_max_abs = NAN;  // a NaN is never folded away
            else out.logits_max_abs = std::max(out.logits_max_abs, d);
        }
        out.argmax_agree += argmax_first(a) == argmax_first(b);
    }
}

}  // namespace dlmscope
