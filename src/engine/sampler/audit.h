// dlmscope engine: the cache audit — at each cached step, the exact full forward as well, and how
// far the cached attention and logits are from it (--cache-audit; docs/decoding.md).
//
//   per layer l, head h, over the recomputed rows i:   p_i = cached row, q_i = exact row (n_keys)
//     l1_mean = mean_i Σ_j |p_ij − q_ij|      l1_max = max_i Σ_j |p_ij − q_ij|      (0..2)
//     js_mean = mean_i JS(p_i, q_i) in bits                                          (0..1)
//   logits over the rows whose logits were asked for:
//     logits_max_abs = max |cached − exact|,  argmax_agree = rows whose argmax is the same
#pragma once

#include "core/cache-drift.h"
#include "dlmscope/types.h"
#include "dlmscope/tap.h"

#include <cstdint>
#include <span>
#include <vector>

namespace dlmscope {

// Keeps every layer's probabilities of the cached forward (and passes each call on to `next`, the
// user's observer), then compares the exact forward's rows with them.
class AuditTap final : public AttentionTap {
public:
    AuditTap(int n_layers, int n_heads) : n_layers_(n_layers), n_heads_(n_heads) {}
    // Phase 1 (the cached forward): record, forwarding to `next` (may be null).
    void record(AttentionTap* next);
    // Phase 2 (the exact forward): compare into `out`.
    void compare(StepAudit& out);

    void on_forward_begin(const TapContext& ctx) override;
    bool wants(const TapContext& ctx, int layer) override;
    void on_attention(const TapContext& ctx, int layer, const AttentionProbs& probs) override;
    void on_forward_end(const TapContext& ctx) override;

private:
    int n_layers_, n_heads_;
    bool comparing_ = false;
    AttentionTap* next_ = nullptr;
    bool next_wants_ = false;
    StepAudit* out_ = nullptr;
    int q0_ = 0, nq_ = 0, nk_ = 0;      // the cached forward's rows
    std::vector<float> cached_;        // [n_layers, H, nq, nk]
};

// Logit drift of the rows both forwards computed (`cached` and `exact` are [rows, V]).
void audit_logits(std::span<const float> cached, std::span<const float> exact, int V, StepAudit& out);

}  // namespace dlmscope
