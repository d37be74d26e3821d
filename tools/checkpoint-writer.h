// dlmscope tools: writes a random-weight LLaDA/MMaDA checkpoint in the Hugging Face hub layout.
//
// The output is what a hub snapshot holds (spec section 3):
//   config.json                          the full LLaDA/MMaDA key set, sizes from the spec below
//   model-0000i-of-0000N.safetensors     tensors grouped by kind across shards (not by layer),
//                                        header space-padded to 8 bytes, __metadata__ {"format":"pt"}
//   model.safetensors.index.json         metadata.total_size + weight_map
//   tokenizer.json, tokenizer_config.json, special_tokens_map.json   copied from tokenizer_from
//
// Weights follow the tiny fixture's recipe (tests/fixtures/mmada-tiny/MANIFEST.md section 2), so
// logits stay in a sane range at any size: embeddings N(0,1); a linear layer with fan-in n has std
// gain/sqrt(n) (q,k 1.5; v 1; attn_out 0.5; gate, up 1; down 0.5; head 4); norms 1 + 0.1·N(0,1).
// Every tensor draws from its own stream seeded by (seed, tensor name), so the values do not depend
// on the shard layout. Tensors are generated and written in chunks: memory stays at a few MiB
// whatever the model size.
//
// Used by tools/make-checkpoint.cpp and by tests/unit/test-model.cpp (a small random model for the forward test).
#pragma once

#include "engine/checkpoint/safetensors.h"  // DType

#include <cstdint>
#include <string>

namespace dlmscope::tools {

struct CheckpointSpec {
    int d_model = 64;
    int n_layers = 2;
    int n_heads = 4;
    int n_kv_heads = 4;
    int mlp_hidden = 192;
    int vocab_size = 320;  // rows of wte and of the head (embedding_size = vocab_size)
    int max_sequence_length = 4096;
    int shards = 2;
    uint64_t seed = 5;
    DType dtype = DType::bf16;
    // Directory holding tokenizer.json (+ tokenizer_config.json, special_tokens_map.json) to copy;
    // empty = write no tokenizer. Its mask and end-of-text ids go into config.json.
    std::string tokenizer_from;
};

// Named sizes: "100m" (d 768, 12 layers, 12 heads, MLP 2304, vocab 8192: 104.6 M parameters) and
// "1b" (d 2048, 16 layers, 16 heads, MLP 6144, vocab 32768: 1.006 B parameters). Throws Error for
// any other name.
CheckpointSpec checkpoint_preset(const std::string& name);

// Parameters of the model a spec describes (as ModelConfig::n_params counts them).
int64_t checkpoint_params(const CheckpointSpec& spec);

// Writes the checkpoint into `dir` (created if needed; files of the same name are replaced).
// Throws Error naming the file on I/O failure, or the key when the spec is inconsistent (e.g. a
// vocabulary smaller than the copied tokenizer).
void write_random_checkpoint(const std::string& dir, const CheckpointSpec& spec);

}  // namespace dlmscope::tools
