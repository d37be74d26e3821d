// Fuzzes config.json: load_model_config on a checkpoint directory holding the input. Whatever it
// accepts must be a model the engine can size: positive dimensions that divide as the attention
// needs, and a parameter count that fits.
#include "engine/checkpoint/config.h"
#include "fuzz-util.h"

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const fuzz::ScratchDir dir("config");
    dir.write("config.json", data, size);
    try {
        const ModelConfig c = load_model_config(dir.path().string());
        DLM_ASSERT(c.d_model > 0 && c.n_layers > 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.mlp_hidden > 0);
        DLM_ASSERT(c.head_dim * c.n_heads == c.d_model && c.n_heads % c.n_kv_heads == 0 && c.head_dim % 2 == 0);
        DLM_ASSERT(c.output_width >= c.vocab_size && c.vocab_size >= 0);
        DLM_ASSERT(c.n_params() > 0);
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
