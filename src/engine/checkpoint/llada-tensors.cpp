#include "engine/checkpoint/llada-tensors.h"

#include <fmt/format.h>

namespace dlmscope::llada {

std::string tensor_name(Tensor t, int layer) {
    auto block = [&](const char* kind) { return fmt::format("model.transformer.blocks.{}.{}.weight", layer, kind); };
    switch (t) {
        case Tensor::wte: return "model.transformer.wte.weight";
        case Tensor::ln_f: return "model.transformer.ln_f.weight";
        case Tensor::head: return "model.transformer.ff_out.weight";
        case Tensor::attn_norm: return block("attn_norm");
        case Tensor::q_proj: return block("q_proj");
        case Tensor::k_proj: return block("k_proj");
        case Tensor::v_proj: return block("v_proj");
        case Tensor::attn_out: return block("attn_out");
        case Tensor::ff_norm: return block("ff_norm");
        case Tensor::ff_proj: return block("ff_proj");
        case Tensor::up_proj: return block("up_proj");
        case Tensor::ff_out: return block("ff_out");
    }
    return "?";
}

std::vector<int64_t> tensor_shape(Tensor t, const Sizes& s) {
    switch (t) {
        case Tensor::wte:
        case Tensor::head: return {s.V, s.d};
        case Tensor::ln_f:
        case Tensor::attn_norm:
        case Tensor::ff_norm: return {s.d};
        case Tensor::q_proj:
        case Tensor::attn_out: return {s.d, s.d};
        case Tensor::k_proj:
        case Tensor::v_proj: return {s.kv, s.d};
        case Tensor::ff_proj:
        case Tensor::up_proj: return {s.f, s.d};
        case Tensor::ff_out: return {s.d, s.f};
    }
    return {};
}

}  // namespace dlmscope::llada
