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
    const int64_t d = c.d_model, f = c.mlp_hidden, V = c.output_width, hd = c.head_dim;
    const float eps = static_cast<float>(c.rms_norm_eps);
    if (L == 0) fail("forward: empty canvas");
    ensure(c, L);

    // The rows this forward computes, [r0, r0 + R), and where its keys/values live.
    const bool partial = opts.kv == KvUse::reuse || opts.kv == KvUse::frozen;
    if (opts.kv != KvUse::none) {
        if (!opts.cache || opts.cache->length() != L)
            fail("forward: the K/V cache is missing or sized for another canvas ({} positions, canvas {})",
                 opts.cache ? opts.cache->length() : 0, L);
        if (partial) {
            if (opts.row_begin < 0 || opts.row_begin >= opts.row_end || opts.row_end > L)
                fail("forward: rows [{}, {}) are not inside the canvas of {} positions", opts.row_begin, opts.row_end, L);
            if (!opts.cache->covers_outside(opts.row_begin, opts.row_end))
                fail("forward: the K/V cache holds no entry for some position outside rows [{}, {})", opts.row_begin, opts.row_end);
        }
    }
    const int64_t r0 = opts.kv == KvUse::reuse ? opts.row_begin : 0;
    const int64_t R = opts.kv == KvUse::reuse ? opts.row_end - opts.row_begin : L;
    const bool keys_in_cache = opts.kv == KvUse::fill || opts.kv == KvUse::reuse;
    const int64_t kvd = static_cast<int64_t>(c.n_kv_heads) * hd;

    // Embedding lookup: h = wte[x] for the computed rows.
    for (int64_t i = 0; i < L; ++i) {
        const int32_t t = tokens[i];
        if (t < 0 || t >= V) fail("token id {} at position {} is outside the embedding (0..{})", t, i, V - 1);
    }
    for (int64_t i = 0; i < R; ++i) w.embed.row_to_f32(tokens[r0 + i], h_.data() + i * d);
    if (opts.hidden_out) {
        opts.hidden_out->assign(h_.begin(), h_.begin() + R * d);
        opts.hidden_out->reserve(static_cast<size_t>(c.n_layers + 1) * R * d);
    }

    // Which step computed each key: this one for recomputed rows, the cache's stamp for the others.
    if (opts.kv == KvUse::fill || opts.kv == KvUse::reuse) opts.cache->stamp(r0, r0 + R, opts.ctx.step);
    key_step_.assign(static_cast<size_t>(L), opts.ctx.step);
    if (opts.kv == KvUse::reuse || opts.kv == KvUse::frozen) {
        const std::span<const int> cached = opts.cache->step_of();
        for (int64_t i = 0; i < L; ++i)
            if (i < opts.row_begin || i >= opts.row_end) key_step_[i] = cached[i];
    }

    TapContext ctx = opts.ctx;
    ctx.canvas = tokens;
    ctx.query_begin = static_cast<int>(r0);
    ctx.n_queries = static_cast<int>(R);
    ctx.key_step = key_step_;
    ctx.parallel_for = tap_parallel_for;
    if (opts.tap) opts.tap->on_forward_begin(ctx);
    const float* cos_r = rope_cos_.data() + r0 * hd;
    const float* sin_r = rope_sin_.data() + r0 * hd;
    for (int layer = 0; layer < c.n_layers; ++layer) {
        const LayerWeights& lw = w.layers[layer];
        float* kb = keys_in_cache ? opts.cache->k(layer) : k_.data();  // keys of all L positions
        float* vb = keys_in_cache ? opts.cache->v(layer) : v_.data();
        // Attention sub-block: q/k/v of the computed rows (k/v at their canvas rows).
        K.rmsnorm(h_.data(), R, d, mat(lw.attn_norm), eps, a_.data());
        K.matmul(a_.data(), R, d, lw.q.prep, q_.data(), d);
        K.matmul(a_.data(), R, d, lw.k.prep, kb + r0 * kvd, kvd);
        K.matmul(a_.data(), R, d, lw.v.prep, vb + r0 * kvd, kvd);
        K.rope(q_.data(), R, d, c.n_heads, c.head_dim, cos_r, sin_r);
        K.rope(kb + r0 * kvd, R, kvd, c.n_kv_heads, c.head_dim, cos_r, sin_r);
        if (opts.kv == KvUse::frozen) {
            // The oracle: every row computed, then the keys/values outside the rows frozen as cached.
            const int64_t n0 = opts.row_begin * kvd, n1 = opts.row_end * kvd;
            std::copy_n(opts.cache->k(layer), n0, kb);
            std::copy_n(opts.cache->v(layer), n0, vb);
            std::copy(opts.cache->k(layer) + n1, opts.cache->k(layer) + L * kvd, kb + n1);
            std::copy(opts.cache->v(layer) + n1, opts.cache->v(layer) + L * kvd, vb + n1);
        }
        // Asked first, so the probabilities are kept only when someone looks at them.
        const bool observed = opts.tap && opts.tap->wants(ctx, layer);
        if (observed && probs_.size() < static_cast<size_t>(c.n_heads) * R * L) probs_.resize(static_cast<size_t>(c.n_heads) * L * L);
        K.attention(q_.data(), R, kb, vb, L, c.n_heads, c.n_kv_heads, c.head_dim, observed ? probs_.data() : nullptr, o_.data());
        if (observed) {
            const AttentionProbs p{probs_.data(), c.n_heads, static_cast<int>(R), static_cast<int>(L)};
            opts.tap->on_attention(ctx, layer, p);
        }
        K.matmul(o_.data(), R, d, lw.attn_out.prep, a_.data(), d);
        add_inplace(h_.data(), a_.data(), R * d);
        // MLP sub-block (gate = ff_proj through SiLU, up = up_proj, down = blocks.i.ff_out).
        K.rmsnorm(h_.data(), R, d, mat(lw.ff_norm), eps, a_.data());
        K.matmul(a_.data(), R, d, lw.gate.prep, g_.data(), f);
        K.matmul(a_.data(), R, d, lw.up.prep, u_.data(), f);
        K.silu_mul(g_.data(), u_.data(), g_.data(), R * f);
        K.matmul(g_.data(), R, f, lw.down.prep, a_.data(), d);
        add_inplace(h_.data(), a_.data(), R * d);
        if (opts.hidden_out && layer + 1 < c.n_layers) opts.hidden_out->insert(opts.hidden_out->end(), h_.begin(), h_.begin() + R * d);
    }
    if (opts.tap) opts.tap->on_forward_end(ctx);

    // Final norm, then the head for the requested rows only.
    K.rmsnorm(h_.data(), R, d, mat(w.final_norm), eps, a_.data());
    if (opts.hidden_out) opts.hidden_out->insert(opts.hidden_out->end(), a_.begin(), a_.begin() + R * d);
    const float* head_in = a_.data();
    int64_t n_rows = R;
    if (!opts.logit_rows.empty()) {
        n_rows = static_cast<int64_t>(opts.logit_rows.size());
        rows_.resize(n_rows * d);
        for (int64_t r = 0; r < n_rows; ++r) {
            const int64_t pos = opts.logit_rows[r];
            if (pos < r0 || pos >= r0 + R) fail("forward: logits asked for position {}, which this forward does not compute", pos);
            std::memcpy(rows_.data() + r * d, a_.data() + (pos - r0) * d, d * sizeof(float));
        }
        head_in = rows_.data();
    }
    logits.resize(static_cast<size_t>(n_rows * V));
    K.matmul(head_in, n_rows, d, w.head.prep, logits.data(), V);
}

double forward_flops(const ModelConfig& c, int64_t R, int64_t L, int64_t head_rows) {
    const double d = c.d_model, kv = static_cast<double>(c.n_kv_heads) * c.head_dim, f = c.mlp_hidden;
    const double proj = 2.0 * R * (d * d * 2 + d * kv * 2 + 3.0 * d * f);
    const double attn = 2.0 * 2.0 * c.n_heads * static_cast<double>(R) * L * c.head_dim;
    return c.n_layers * (proj + attn) + 2.0 * head_rows * d * c.output_width;
}

}  // namespace dlmscope
