#include "engine/model/forward.h"

#include "core/error.h"
#include "engine/kernels/kernels.h"

#include <algorithm>
#include <cstring>

namespace dlmscope {

namespace {

kernels::Matrix mat(const Weight& w) { return {w.dtype, w.data, w.rows, w.cols}; }

// TapContext::parallel_for: the kernels' thread team, all threads.
void tap_parallel_for(int64_t n, void (*fn)(void*, int64_t), void* arg) { kernels::detail::parallel_for(n, kernels::threads(), fn, arg); }

void add_inplace(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace

void ForwardState::ensure(const ModelConfig& c, int64_t L) {
    if (L == L_) return;
    const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim, f = c.mlp_hidden;
    h_.resize(L * d);
    a_.resize(L * d);
    q_.resize(L * d);
    k_.resize(L * kv);
    v_.resize(L * kv);
    o_.resize(L * d);
    probs_.clear();  // sized on first use: only observed layers need it
    g_.resize(L * f);
    u_.resize(L * f);
    rope_cos_.resize(L * c.head_dim);
    rope_sin_.resize(L * c.head_dim);
    kernels::rope_tables(static_cast<int>(L), c.head_dim, c.rope_theta, rope_cos_.data(), rope_sin_.data());
    L_ = L;
}

void ForwardState::run(const Model& model, std::span<const int32_t> tokens, const ForwardOptions& opts, std::vector<float>& logits) {
    const ModelConfig& c = model.config();
    const ModelWeights& w = model.weights();
    const kernels::Backend& K = model.backend();
    const int64_t L = static_cast<int64_t>(tokens.size());
    const int64_t d = c.d_model, f = c.mlp_hidden, V = c.output_width;
    const float eps = static_cast<float>(c.rms_norm_eps);
    if (L == 0) fail("forward: empty canvas");
    ensure(c, L);

    // Embedding lookup: h = wte[x].
    for (int64_t i = 0; i < L; ++i) {
        const int32_t t = tokens[i];
        if (t < 0 || t >= V) fail("token id {} at position {} is outside the embedding (0..{})", t, i, V - 1);
        w.embed.row_to_f32(t, h_.data() + i * d);
    }
    if (opts.hidden_out) {
        opts.hidden_out->assign(h_.begin(), h_.end());
        opts.hidden_out->reserve(static_cast<size_t>(c.n_layers + 1) * L * d);
    }

    TapContext ctx = opts.ctx;
    ctx.canvas = tokens;
    ctx.parallel_for = tap_parallel_for;
    if (opts.tap) opts.tap->on_forward_begin(ctx);
    const int64_t kvd = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
    for (int layer = 0; layer < c.n_layers; ++layer) {
        const LayerWeights& lw = w.layers[layer];
        // Attention sub-block.
        K.rmsnorm(h_.data(), L, d, mat(lw.attn_norm), eps, a_.data());
        K.matmul(a_.data(), L, d, lw.q.prep, q_.data(), d);
        K.matmul(a_.data(), L, d, lw.k.prep, k_.data(), kvd);
        K.matmul(a_.data(), L, d, lw.v.prep, v_.data(), kvd);
        K.rope(q_.data(), L, d, c.n_heads, c.head_dim, rope_cos_.data(), rope_sin_.data());
        K.rope(k_.data(), L, kvd, c.n_kv_heads, c.head_dim, rope_cos_.data(), rope_sin_.data());
        // Asked first, so the probabilities are kept only when someone looks at them.
        const bool observed = opts.tap && opts.tap->wants(ctx, layer);
        if (observed && probs_.empty()) probs_.resize(static_cast<size_t>(c.n_heads) * L * L);
        K.attention(q_.data(), k_.data(), v_.data(), L, c.n_heads, c.n_kv_heads, c.head_dim, observed ? probs_.data() : nullptr,
                    o_.data());
        if (observed) {
            const AttentionProbs p{probs_.data(), c.n_heads, static_cast<int>(L), static_cast<int>(L)};
            opts.tap->on_attention(ctx, layer, p);
        }
        K.matmul(o_.data(), L, d, lw.attn_out.prep, a_.data(), d);
        add_inplace(h_.data(), a_.data(), L * d);
        // MLP sub-block (gate = ff_proj through SiLU, up = up_proj, down = blocks.i.ff_out).
        K.rmsnorm(h_.data(), L, d, mat(lw.ff_norm), eps, a_.data());
        K.matmul(a_.data(), L, d, lw.gate.prep, g_.data(), f);
        K.matmul(a_.data(), L, d, lw.up.prep, u_.data(), f);
        K.silu_mul(g_.data(), u_.data(), g_.data(), L * f);
        K.matmul(g_.data(), L, f, lw.down.prep, a_.data(), d);
        add_inplace(h_.data(), a_.data(), L * d);
        if (opts.hidden_out && layer + 1 < c.n_layers) opts.hidden_out->insert(opts.hidden_out->end(), h_.begin(), h_.end());
    }
    if (opts.tap) opts.tap->on_forward_end(ctx);

    // Final norm, then the head for the requested rows only.
    K.rmsnorm(h_.data(), L, d, mat(w.final_norm), eps, a_.data());
    if (opts.hidden_out) opts.hidden_out->insert(opts.hidden_out->end(), a_.begin(), a_.end());
    const float* head_in = a_.data();
    int64_t n_rows = L;
    if (!opts.logit_rows.empty()) {
        n_rows = static_cast<int64_t>(opts.logit_rows.size());
        rows_.resize(n_rows * d);
        for (int64_t r = 0; r < n_rows; ++r) {
            const int pos = opts.logit_rows[r];
            DLM_ASSERT(pos >= 0 && pos < L);
            std::memcpy(rows_.data() + r * d, a_.data() + pos * d, d * sizeof(float));
        }
        head_in = rows_.data();
    }
    logits.resize(static_cast<size_t>(n_rows * V));
    K.matmul(head_in, n_rows, d, w.head.prep, logits.data(), V);
}

double forward_flops(const ModelConfig& c, int64_t L, int64_t head_rows) {
    const double d = c.d_model, kv = static_cast<double>(c.n_kv_heads) * c.head_dim, f = c.mlp_hidden;
    const double proj = 2.0 * L * (d * d * 2 + d * kv * 2 + 3.0 * d * f);
    const double attn = 2.0 * 2.0 * c.n_heads * static_cast<double>(L) * L * c.head_dim;
    return c.n_layers * (proj + attn) + 2.0 * head_rows * d * c.output_width;
}

}  // namespace dlmscope
