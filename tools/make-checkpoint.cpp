// dlmscope-make-checkpoint: writes a random-weight LLaDA/MMaDA checkpoint of any size in the hub
// layout, for benchmarks and tests (see checkpoint-writer.h for the files and the weight recipe).
//
//   dlmscope-make-checkpoint --preset 100m /tmp/mmada-100m
//   dlmscope-make-checkpoint --d-model 256 --layers 4 --heads 4 --mlp 768 --vocab 1024 --shards 3 DIR
#include "checkpoint-writer.h"

#include "core/error.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <optional>

#ifndef DLMSCOPE_TINY_CHECKPOINT
#define DLMSCOPE_TINY_CHECKPOINT ""
#endif

int main(int argc, char** argv) {
    using namespace dlmscope;
    CLI::App app{"Write a random-weight LLaDA/MMaDA checkpoint (config.json, sharded safetensors, index, tokenizer)"};
    std::string dir, preset, dtype = "bf16", tokenizer_from = DLMSCOPE_TINY_CHECKPOINT;
    std::optional<int> d_model, layers, heads, kv_heads, mlp, vocab, shards, max_seq;
    uint64_t seed = 5;
    app.add_option("dir", dir, "Output directory (created; existing files of the same name are replaced)")->required();
    app.add_option("--preset", preset, "Size preset: 100m (104.6 M parameters), 1b (1.006 B) or 8b (8.02 B, LLaDA-8B's shapes)")
        ->check(CLI::IsMember({"100m", "1b", "8b"}));
    app.add_option("--d-model", d_model, "Hidden size")->check(CLI::PositiveNumber);
    app.add_option("--layers", layers, "Number of blocks")->check(CLI::PositiveNumber);
    app.add_option("--heads", heads, "Attention heads")->check(CLI::PositiveNumber);
    app.add_option("--kv-heads", kv_heads, "Key/value heads (default: --heads)")->check(CLI::PositiveNumber);
    app.add_option("--mlp", mlp, "MLP hidden size (mlp_hidden_size)")->check(CLI::PositiveNumber);
    app.add_option("--vocab", vocab, "Rows of the embedding and the head (vocab_size = embedding_size)")->check(CLI::PositiveNumber);
    app.add_option("--max-seq-len", max_seq, "max_sequence_length in config.json")->check(CLI::PositiveNumber);
    app.add_option("--shards", shards, "Number of safetensors shards (at most)")->check(CLI::PositiveNumber);
    app.add_option("--seed", seed, "Seed of the weights")->capture_default_str();
    app.add_option("--dtype", dtype, "Stored dtype")->check(CLI::IsMember({"bf16", "f16", "f32"}))->capture_default_str();
    app.add_option("--tokenizer-from", tokenizer_from,
                   "Directory whose tokenizer.json, tokenizer_config.json and special_tokens_map.json are copied "
                   "(mask and eos ids come from it); \"\" writes no tokenizer")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        tools::CheckpointSpec s = preset.empty() ? tools::CheckpointSpec{} : tools::checkpoint_preset(preset);
        if (d_model) s.d_model = *d_model;
        if (layers) s.n_layers = *layers;
        if (heads) s.n_heads = s.n_kv_heads = *heads;
        if (kv_heads) s.n_kv_heads = *kv_heads;
        if (mlp) s.mlp_hidden = *mlp;
        if (vocab) s.vocab_size = *vocab;
        if (max_seq) s.max_sequence_length = *max_seq;
        if (shards) s.shards = *shards;
        s.seed = seed;
        s.dtype = dtype == "f32" ? DType::f32 : dtype == "f16" ? DType::f16 : DType::bf16;
        s.tokenizer_from = tokenizer_from;

        const int64_t params = tools::checkpoint_params(s);
        fmt::print("writing {}: d_model {}, {} layers, {} heads ({} kv), mlp {}, vocab {}, {} ({:.1f} M parameters, {:.1f} MiB)\n",
                   dir, s.d_model, s.n_layers, s.n_heads, s.n_kv_heads, s.mlp_hidden, s.vocab_size, dtype_name(s.dtype),
                   params / 1e6, static_cast<double>(params) * static_cast<double>(dtype_size(s.dtype)) / (1 << 20));
        const auto t0 = std::chrono::steady_clock::now();
        tools::write_random_checkpoint(dir, s);
        fmt::print("done in {:.1f} s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const Error& e) {
        fmt::print(stderr, "dlmscope-make-checkpoint: error: {}\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "dlmscope-make-checkpoint: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
