#include "engine/checkpoint/config.h"

#include "core/error.h"

#include <filesystem>
#include <utility>

namespace dlmscope {

namespace {

// Bounds on the sizes: far above any checkpoint dlmscope runs (LLaDA-8B: 4096 wide, 32 layers,
// 12288 hidden, 126464 vocab), low enough that no product of them (the MLP width from mlp_ratio,
// n_params, the engine's buffer sizes) overflows.
constexpr int kMaxWidth = 1 << 16;      // d_model
constexpr int kMaxLayers = 1 << 12;     // n_layers
constexpr int kMaxHidden = 1 << 20;     // mlp_hidden_size
constexpr int kMaxVocab = 1 << 24;      // vocab_size, embedding_size (as the tokenizer's bound)
constexpr int kMaxSequence = 1 << 24;   // max_sequence_length

// Reads an integer key in [0, max]; `fallback` < 0 means the key is required.
int get_int(const json& j, const std::string& src, const char* key, int fallback = -1, int max = INT32_MAX) {
    if (!j.contains(key) || j[key].is_null()) {
        if (fallback >= 0) return fallback;
        fail("{}: missing key '{}'", src, key);
    }
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0 || j[key].get<int64_t>() > INT32_MAX)
        fail("{}: key '{}' must be a non-negative integer, got {}", src, key, j[key].dump());
    if (j[key].get<int64_t>() > max) fail("{}: {} = {} is larger than dlmscope supports ({})", src, key, j[key].dump(), max);
    return j[key].get<int>();
}

double get_double(const json& j, const std::string& src, const char* key, double fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) fail("{}: key '{}' must be a number, got {}", src, key, j[key].dump());
    return j[key].get<double>();
}

// A key the engine only implements with one value; absent keys take the LLaDA default.
template <typename T>
void require(const json& j, const std::string& src, const char* key, const T& want, bool absent_ok = true) {
    if (!j.contains(key) || j[key].is_null()) {
        if (absent_ok) return;
        fail("{}: missing key '{}'", src, key);
    }
    // Compared as JSON values, never converted: get<int>() of 1e300 would be undefined behaviour.
    if (j[key] != json(want))
        fail("{}: unsupported {} = {} (dlmscope implements only {} = {})", src, key, j[key].dump(), key, json(want).dump());
}

}  // namespace

int64_t ModelConfig::n_params() const {
    const int64_t d = d_model, kv = static_cast<int64_t>(n_kv_heads) * head_dim;
    const int64_t per_layer = d * d * 2 + d * kv * 2 + 3 * d * mlp_hidden + 2 * d;
    return per_layer * n_layers + 2 * static_cast<int64_t>(output_width) * d + d;
}

ModelConfig parse_model_config(const json& j, const std::string& src) {
    if (!j.is_object()) fail("{}: not a JSON object", src);
    require<std::string>(j, src, "block_type", "llama", false);
    require<std::string>(j, src, "layer_norm_type", "rms");
    require<std::string>(j, src, "activation_type", "silu");
    require<bool>(j, src, "rope", true, false);
    require<bool>(j, src, "alibi", false);
    require<bool>(j, src, "include_bias", false);
    require<bool>(j, src, "include_qkv_bias", false);
    require<bool>(j, src, "bias_for_layer_norm", false);
    require<bool>(j, src, "attention_layer_norm", false);
    require<bool>(j, src, "input_emb_norm", false);
    require<bool>(j, src, "scale_logits", false);
    require<bool>(j, src, "weight_tying", false);
    require<int>(j, src, "block_group_size", 1);
    require<bool>(j, src, "layer_norm_with_affine", true);
    if (j.contains("clip_qkv") && !j["clip_qkv"].is_null())
        fail("{}: unsupported clip_qkv = {} (dlmscope implements only null)", src, j["clip_qkv"].dump());

    ModelConfig c;
    if (j.contains("model_type") && !j["model_type"].is_null() && !j["model_type"].is_string())
        fail("{}: key 'model_type' must be a string, got {}", src, j["model_type"].dump());
    c.model_type = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "llada";
    c.d_model = get_int(j, src, "d_model", -1, kMaxWidth);
    c.n_layers = get_int(j, src, "n_layers", -1, kMaxLayers);
    c.n_heads = get_int(j, src, "n_heads");
    c.n_kv_heads = get_int(j, src, "n_kv_heads", c.n_heads);
    if (j.contains("multi_query_attention") && j["multi_query_attention"].is_boolean() && j["multi_query_attention"].get<bool>())
        c.n_kv_heads = 1;
    for (const auto& [key, v] : {std::pair<const char*, int>{"d_model", c.d_model}, {"n_layers", c.n_layers},
                                 {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}})
        if (v == 0) fail("{}: {} must be positive, got 0", src, key);
    if (c.d_model % c.n_heads != 0) fail("{}: d_model = {} is not divisible by n_heads = {}", src, c.d_model, c.n_heads);
    if (c.n_heads % c.n_kv_heads != 0) fail("{}: n_heads = {} is not divisible by n_kv_heads = {}", src, c.n_heads, c.n_kv_heads);
    c.head_dim = c.d_model / c.n_heads;
    if (c.head_dim % 2 != 0) fail("{}: head dimension {} must be even for RoPE", src, c.head_dim);
    if (j.contains("mlp_hidden_size") && !j["mlp_hidden_size"].is_null()) {
        c.mlp_hidden = get_int(j, src, "mlp_hidden_size", -1, kMaxHidden);
    } else {
        const int64_t hidden = static_cast<int64_t>(get_int(j, src, "mlp_ratio", 4)) * c.d_model;
        if (hidden > kMaxHidden)
            fail("{}: mlp_ratio * d_model = {} is larger than dlmscope supports ({})", src, hidden, kMaxHidden);
        c.mlp_hidden = static_cast<int>(hidden);
    }
    if (c.mlp_hidden == 0) fail("{}: mlp_hidden_size must be positive", src);
    c.vocab_size = get_int(j, src, "vocab_size", -1, kMaxVocab);
    c.output_width = get_int(j, src, "embedding_size", c.vocab_size, kMaxVocab);
    if (c.output_width < c.vocab_size)
        fail("{}: embedding_size = {} is smaller than vocab_size = {}", src, c.output_width, c.vocab_size);
    c.max_sequence_length = get_int(j, src, "max_sequence_length", 4096, kMaxSequence);
    c.rms_norm_eps = get_double(j, src, "rms_norm_eps", 1e-5);
    c.rope_theta = get_double(j, src, "rope_theta", 10000.0);
    if (!(c.rope_theta > 0)) fail("{}: rope_theta must be positive, got {}", src, c.rope_theta);
    auto opt_id = [&](const char* key) -> int32_t {
        if (!j.contains(key) || j[key].is_null()) return -1;
        return get_int(j, src, key);
    };
    c.mask_token_id = opt_id("mask_token_id");
    c.eos_token_id = opt_id("eos_token_id");
    c.pad_token_id = opt_id("pad_token_id");
    return c;
}

ModelConfig load_model_config(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(dir, ec);
    if (st.type() == fs::file_type::not_found) fail("model path {} does not exist", dir);
    if (ec) fail("model path {} is not readable: {}", dir, ec.message());
    if (!fs::is_directory(st)) fail("model path {} is not a directory (pass the checkpoint directory that holds config.json)", dir);
    const std::string path = (fs::path(dir) / "config.json").string();
    if (!fs::exists(path, ec)) {
        if (ec) fail("cannot read {}: {}", path, ec.message());
        fail("{}: no config.json (is this a Hugging Face checkpoint directory?)", dir);
    }
    return parse_model_config(read_json_file(path), path);
}

}  // namespace dlmscope
