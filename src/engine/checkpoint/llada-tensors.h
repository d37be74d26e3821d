// dlmscope engine: the tensors of a LLaDA/MMaDA checkpoint (spec 3.1), named and shaped in one place
// for the loader (model/model.cpp) and the random-checkpoint writer (tools/checkpoint-writer.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlmscope::llada {

// Every tensor the engine reads: three for the model, nine per block.
enum class Tensor {
    wte,        // model.transformer.wte.weight               [V, d]
    ln_f,       // model.transformer.ln_f.weight              [d]
    head,       // model.transformer.ff_out.weight            [V, d]
    attn_norm,  // model.transformer.blocks.<i>.attn_norm.weight [d]
    q_proj,     //                               .q_proj      [d, d]
    k_proj,     //                               .k_proj      [kv, d]
    v_proj,     //                               .v_proj      [kv, d]
    attn_out,   //                               .attn_out    [d, d]
    ff_norm,    //                               .ff_norm     [d]
    ff_proj,    //                               .ff_proj     [f, d]  (gate, through SiLU)
    up_proj,    //                               .up_proj     [f, d]
    ff_out,     //                               .ff_out      [d, f]  (down)
};

// The sizes the shapes are made of.
struct Sizes {
    int64_t d;   // d_model
    int64_t kv;  // n_kv_heads * head_dim
    int64_t f;   // mlp_hidden_size
    int64_t V;   // rows of wte and of the head (embedding_size)
};

// The tensor's name in the checkpoint; `layer` numbers the block (unused for wte, ln_f and head).
std::string tensor_name(Tensor t, int layer = 0);
std::vector<int64_t> tensor_shape(Tensor t, const Sizes& s);

}  // namespace dlmscope::llada
