#include "dlmscope/capture.h"

#include <algorithm>

namespace dlmscope {

bool AttentionRecorder::wants(const TapContext& ctx, int layer) {
    if (sel_.heads == CaptureSelection::Heads::none || ctx.batch_row != 0) return false;
    const bool step_ok = ctx.step < 0 || sel_.wants_step(ctx.step, ctx.step_in_block, ctx.steps_per_block);
    return step_ok && sel_.wants_layer(layer);
}

void AttentionRecorder::on_attention(const TapContext& ctx, int layer, const AttentionProbs& p) {
    Map m;
    m.step = ctx.step;
    m.block = ctx.block;
    m.keys = p.n_keys;
    // The selected rows that this forward recomputed; r0/r1 are rows of `p`.
    const auto [s0, s1] = sel_.row_range(ctx.prompt_length, p.n_keys);
    const int q0 = ctx.query_begin, b = std::max(s0, q0), e = std::max(b, std::min(s1, q0 + p.n_queries));
    const int r0 = b - q0;
    m.row_begin = b;
    m.queries = e - b;
    m.key_step.assign(ctx.key_step.begin(), ctx.key_step.end());
    const size_t per = static_cast<size_t>(m.queries) * m.keys;
    if (sel_.heads == CaptureSelection::Heads::mean) {
        m.heads = 1;
        m.data.assign(per, 0.0f);
        for (int h = 0; h < p.n_heads; ++h) {
            const float* src = p.head(h) + static_cast<int64_t>(r0) * m.keys;
            for (size_t i = 0; i < per; ++i) m.data[i] += src[i];
        }
        for (float& v : m.data) v /= static_cast<float>(p.n_heads);
    } else {
        std::vector<int> heads = sel_.head_list;
        if (sel_.heads == CaptureSelection::Heads::all)
            for (int h = 0; h < p.n_heads; ++h) heads.push_back(h);
        m.heads = static_cast<int>(heads.size());
        m.data.resize(per * heads.size());
        for (size_t k = 0; k < heads.size(); ++k)
            std::copy_n(p.head(heads[k]) + static_cast<int64_t>(r0) * m.keys, per, m.data.begin() + k * per);
    }
    maps_[{ctx.step, layer}] = std::move(m);
}

}  // namespace dlmscope
