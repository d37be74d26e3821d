// Random-weight checkpoint writer (see checkpoint-writer.h for the layout and the weight recipe).
//
// Sections: presets → tensor plan → random streams → tokenizer ids → config.json → shards + index.
#include "checkpoint-writer.h"

#include "core/error.h"
#include "core/half.h"
#include "core/json.h"
#include "engine/checkpoint/llada-tensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <vector>

namespace fs = std::filesystem;

namespace dlmscope::tools {

// ---- presets -------------------------------------------------------------------------------------

CheckpointSpec checkpoint_preset(const std::string& name) {
    CheckpointSpec s;
    if (name == "100m") {
        s.d_model = 768;
        s.n_layers = 12;
        s.n_heads = s.n_kv_heads = 12;
        s.mlp_hidden = 2304;
        s.vocab_size = 8192;
        s.shards = 2;
    } else if (name == "1b") {
        s.d_model = 2048;
        s.n_layers = 16;
        s.n_heads = s.n_kv_heads = 16;
        s.mlp_hidden = 6144;
        s.vocab_size = 32768;
        s.shards = 4;
    } else if (name == "8b") {  // LLaDA-8B-Instruct's shapes (fixtures/llada-8b-instruct-config)
        s.d_model = 4096;
        s.n_layers = 32;
        s.n_heads = s.n_kv_heads = 32;
        s.mlp_hidden = 12288;
        s.vocab_size = 126464;
        s.shards = 6;
    } else {
        fail("unknown checkpoint preset '{}' (expected 100m, 1b or 8b)", name);
    }
    return s;
}

int64_t checkpoint_params(const CheckpointSpec& s) {
    const int64_t d = s.d_model, kv = static_cast<int64_t>(s.n_kv_heads) * (s.d_model / s.n_heads);
    const int64_t per_layer = d * d * 2 + d * kv * 2 + 3 * d * s.mlp_hidden + 2 * d;
    return per_layer * s.n_layers + 2 * static_cast<int64_t>(s.vocab_size) * d + d;
}

namespace {

// ---- tensor plan ---------------------------------------------------------------------------------

enum class Init { normal, norm };  // N(0, std²) | 1 + 0.1·N(0,1)

struct PlannedTensor {
    std::string name;
    std::vector<int64_t> shape;
    Init init = Init::normal;
    double std = 1.0;
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t x : shape) n *= x;
        return n;
    }
};

// Every tensor the engine reads, listed kind by kind (all layers of one kind together). Shards are
// cut from this order, so each shard holds whole kinds, like the real LLaDA index (spec 3.1).
std::vector<PlannedTensor> plan_tensors(const CheckpointSpec& s) {
    const int64_t d = s.d_model, hd = s.d_model / s.n_heads, kv = s.n_kv_heads * hd, f = s.mlp_hidden, V = s.vocab_size;
    using llada::Tensor;
    const llada::Sizes sizes{d, kv, f, V};
    auto linear = [](double gain, int64_t fan_in) { return gain / std::sqrt(static_cast<double>(fan_in)); };
    auto planned = [&](Tensor t, int layer, Init init, double std) {
        return PlannedTensor{llada::tensor_name(t, layer), llada::tensor_shape(t, sizes), init, std};
    };
    struct Kind {
        Tensor t;
        Init init;
        double std;
    };
    const std::vector<Kind> block_kinds = {
        {Tensor::attn_out, Init::normal, linear(0.5, d)}, {Tensor::ff_out, Init::normal, linear(0.5, f)},
        {Tensor::q_proj, Init::normal, linear(1.5, d)},   {Tensor::k_proj, Init::normal, linear(1.5, d)},
        {Tensor::v_proj, Init::normal, linear(1.0, d)},   {Tensor::ff_proj, Init::normal, linear(1.0, d)},
        {Tensor::up_proj, Init::normal, linear(1.0, d)},  {Tensor::attn_norm, Init::norm, 0.0},
        {Tensor::ff_norm, Init::norm, 0.0},
    };
    std::vector<PlannedTensor> out;
    out.push_back(planned(Tensor::wte, 0, Init::normal, 1.0));
    for (const Kind& k : block_kinds)
        for (int i = 0; i < s.n_layers; ++i) out.push_back(planned(k.t, i, k.init, k.std));
    out.push_back(planned(Tensor::ln_f, 0, Init::norm, 0.0));
    out.push_back(planned(Tensor::head, 0, Init::normal, linear(4.0, d)));
    return out;
}

// ---- random streams ------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// xoshiro256++ with Box–Muller: one independent N(0,1) stream per (seed, tensor name).
class NormalStream {
public:
    NormalStream(uint64_t seed, const std::string& name) {
        uint64_t x = seed ^ fnv1a(name);
        for (uint64_t& w : s_) w = splitmix64(x);
    }
    double next() {
        if (have_spare_) {
            have_spare_ = false;
            return spare_;
        }
        // u1 in (0, 1], u2 in [0, 1): log(u1) is finite.
        const double u1 = (static_cast<double>(bits() >> 11) + 1.0) * 0x1.0p-53;
        const double u2 = static_cast<double>(bits() >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
        spare_ = r * std::sin(a);
        have_spare_ = true;
        return r * std::cos(a);
    }

private:
    static uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }
    uint64_t bits() {
        const uint64_t r = rotl(s_[0] + s_[3], 23) + s_[0];
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return r;
    }
    uint64_t s_[4];
    double spare_ = 0.0;
    bool have_spare_ = false;
};

// ---- tokenizer ids -------------------------------------------------------------------------------

struct TokenizerIds {
    int32_t size = 0;  // len(tokenizer): ordinary + added ids
    int32_t mask = -1, eos = -1, pad = -1;
};

// The text of a special-token entry in tokenizer_config.json: a string or {"content": ...}.
std::string token_content(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return "";
}

TokenizerIds read_tokenizer_ids(const std::string& dir) {
    const std::string tok_path = (fs::path(dir) / "tokenizer.json").string();
    if (!fs::exists(tok_path)) fail("{}: no tokenizer.json to copy (--tokenizer-from names the directory holding it)", dir);
    const json tok = read_json_file(tok_path);
    TokenizerIds ids;
    std::map<std::string, int32_t> added;
    if (tok.contains("model") && tok["model"].contains("vocab") && tok["model"]["vocab"].is_object())
        for (const auto& [piece, id] : tok["model"]["vocab"].items()) ids.size = std::max(ids.size, id.get<int32_t>() + 1);
    if (tok.contains("added_tokens") && tok["added_tokens"].is_array())
        for (const auto& a : tok["added_tokens"]) {
            const int32_t id = a.at("id").get<int32_t>();
            added[a.at("content").get<std::string>()] = id;
            ids.size = std::max(ids.size, id + 1);
        }
    auto id_of = [&](const std::string& content) { return added.count(content) ? added[content] : -1; };
    ids.mask = id_of("<|mdm_mask|>");
    if (ids.mask < 0) fail("{}: the tokenizer has no <|mdm_mask|> token, so a diffusion model cannot use it", tok_path);
    ids.eos = id_of("<|endoftext|>");
    const std::string cfg_path = (fs::path(dir) / "tokenizer_config.json").string();
    if (fs::exists(cfg_path)) {
        const json cfg = read_json_file(cfg_path);
        if (cfg.contains("eos_token") && id_of(token_content(cfg["eos_token"])) >= 0) ids.eos = id_of(token_content(cfg["eos_token"]));
        if (cfg.contains("pad_token")) ids.pad = id_of(token_content(cfg["pad_token"]));
    }
    if (ids.pad < 0) ids.pad = ids.eos;
    return ids;
}

// ---- config.json ---------------------------------------------------------------------------------

// The fixture's key set (tests/fixtures/mmada-tiny/checkpoint/config.json) with the sizes replaced.
json make_config(const CheckpointSpec& s, const TokenizerIds& t) {
    const int llm_vocab = t.size > 0 ? t.size : s.vocab_size;
    return json{
        {"activation_type", "silu"},
        {"alibi", false},
        {"alibi_bias_max", 8.0},
        {"architectures", {"MMadaModelLM"}},
        {"attention_dropout", 0.0},
        {"attention_layer_norm", false},
        {"attention_layer_norm_with_affine", true},
        {"bias_for_layer_norm", false},
        {"block_group_size", 1},
        {"block_type", "llama"},
        {"codebook_size", s.vocab_size - llm_vocab},
        {"d_model", s.d_model},
        {"embedding_dropout", 0.0},
        {"embedding_size", s.vocab_size},
        {"eos_token_id", t.eos},
        {"flash_attention", false},
        {"include_bias", false},
        {"include_qkv_bias", false},
        {"init_cutoff_factor", nullptr},
        {"init_device", "meta"},
        {"init_fn", "mitchell"},
        {"init_std", 0.02},
        {"input_emb_norm", false},
        {"layer_norm_type", "rms"},
        {"layer_norm_with_affine", true},
        {"llm_vocab_size", llm_vocab},
        {"mask_token_id", t.mask},
        {"max_sequence_length", s.max_sequence_length},
        {"mlp_hidden_size", s.mlp_hidden},
        {"mlp_ratio", 4},
        {"model_type", "mmada"},
        {"multi_query_attention", nullptr},
        {"n_heads", s.n_heads},
        {"n_kv_heads", s.n_kv_heads},
        {"n_layers", s.n_layers},
        {"new_vocab_size", s.vocab_size},
        {"num_new_special_tokens", 0},
        {"num_vq_tokens", 1024},
        {"pad_token_id", t.pad},
        {"precision", "amp_bf16"},
        {"pretrained_model_path", "GSAI-ML/LLaDA-8B-Instruct"},
        {"residual_dropout", 0.0},
        {"rms_norm_eps", 1e-05},
        {"rope", true},
        {"rope_full_precision", true},
        {"rope_theta", 500000.0},
        {"scale_logits", false},
        {"tie_word_embeddings", false},
        {"transformers_version", "4.46.3"},
        {"use_cache", false},
        {"vocab_size", s.vocab_size},
        {"w_clip_vit", false},
        {"weight_tying", false},
    };
}

// ---- shards + index ------------------------------------------------------------------------------

// Generates one tensor in chunks, converts each chunk to the stored dtype and appends it to `out`.
void stream_tensor(std::ofstream& out, const PlannedTensor& t, const CheckpointSpec& s) {
    constexpr int64_t kChunk = int64_t(1) << 20;
    NormalStream rng(s.seed, t.name);
    std::vector<float> vals;
    std::vector<uint16_t> half;
    const int64_t n = t.numel();
    for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
        const int64_t m = std::min(kChunk, n - i0);
        vals.resize(static_cast<size_t>(m));
        for (float& v : vals) v = static_cast<float>(t.init == Init::norm ? 1.0 + 0.1 * rng.next() : t.std * rng.next());
        if (s.dtype == DType::f32) {
            out.write(reinterpret_cast<const char*>(vals.data()), static_cast<std::streamsize>(m * 4));
            continue;
        }
        half.resize(static_cast<size_t>(m));
        for (int64_t i = 0; i < m; ++i) half[i] = s.dtype == DType::bf16 ? f32_to_bf16(vals[i]) : f32_to_f16(vals[i]);
        out.write(reinterpret_cast<const char*>(half.data()), static_cast<std::streamsize>(m * 2));
    }
}

// Writes one shard: u64 header length, JSON header padded with spaces to a multiple of 8, then the
// tensors in name order (as the Python safetensors writer lays them out). Returns its data bytes.
uint64_t write_shard(const fs::path& path, std::vector<const PlannedTensor*> tensors, const CheckpointSpec& s) {
    std::sort(tensors.begin(), tensors.end(), [](const PlannedTensor* a, const PlannedTensor* b) { return a->name < b->name; });
    const uint64_t esize = dtype_size(s.dtype);
    json header = {{"__metadata__", {{"format", "pt"}}}};
    uint64_t offset = 0;
    for (const PlannedTensor* t : tensors) {
        const uint64_t bytes = static_cast<uint64_t>(t->numel()) * esize;
        header[t->name] = {{"dtype", dtype_name(s.dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const uint64_t n = text.size();

    const fs::path tmp = path.string() + ".partial";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot open for writing", tmp.string());
    out.write(reinterpret_cast<const char*>(&n), 8);  // little-endian on every platform we build for
    out.write(text.data(), static_cast<std::streamsize>(n));
    for (const PlannedTensor* t : tensors) stream_tensor(out, *t, s);
    out.close();
    if (!out) fail("{}: write failed (disk full?)", tmp.string());
    fs::rename(tmp, path);
    return offset;
}

void check_spec(const CheckpointSpec& s, const TokenizerIds& t) {
    if (s.d_model <= 0 || s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.mlp_hidden <= 0 || s.vocab_size <= 0)
        fail("checkpoint sizes must be positive (d_model {}, layers {}, heads {}, kv heads {}, mlp {}, vocab {})", s.d_model,
             s.n_layers, s.n_heads, s.n_kv_heads, s.mlp_hidden, s.vocab_size);
    if (s.d_model % s.n_heads != 0) fail("d_model {} is not divisible by n_heads {}", s.d_model, s.n_heads);
    if ((s.d_model / s.n_heads) % 2 != 0) fail("head dimension {} must be even for RoPE", s.d_model / s.n_heads);
    if (s.n_heads % s.n_kv_heads != 0) fail("n_heads {} is not divisible by n_kv_heads {}", s.n_heads, s.n_kv_heads);
    if (s.shards <= 0) fail("shards must be positive, got {}", s.shards);
    if (t.size > s.vocab_size)
        fail("vocab_size {} is smaller than the tokenizer in {} ({} ids); use --vocab {} or more", s.vocab_size, s.tokenizer_from,
             t.size, t.size);
}

}  // namespace

void write_random_checkpoint(const std::string& dir, const CheckpointSpec& spec) {
    TokenizerIds tok;
    if (!spec.tokenizer_from.empty()) {
        tok = read_tokenizer_ids(spec.tokenizer_from);
    } else {  // no tokenizer: the last two rows play mask and end-of-text
        tok.mask = spec.vocab_size - 1;
        tok.eos = tok.pad = spec.vocab_size - 2;
    }
    check_spec(spec, tok);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail("{}: cannot create the checkpoint directory: {}", dir, ec.message());

    // Cut the kind-ordered tensor list into runs of about total/shards bytes: a tensor goes to the
    // shard its midpoint falls in. A shard left empty (one tensor bigger than a share) is dropped.
    const std::vector<PlannedTensor> plan = plan_tensors(spec);
    int64_t total_elems = 0;
    for (const auto& t : plan) total_elems += t.numel();
    std::vector<std::vector<const PlannedTensor*>> groups(static_cast<size_t>(spec.shards));
    int64_t done = 0;
    for (const PlannedTensor& t : plan) {
        const double mid = static_cast<double>(done) + 0.5 * static_cast<double>(t.numel());
        const int g = std::min(spec.shards - 1, static_cast<int>(mid * spec.shards / static_cast<double>(total_elems)));
        groups[g].push_back(&t);
        done += t.numel();
    }
    std::erase_if(groups, [](const auto& g) { return g.empty(); });
    const int n_shards = static_cast<int>(groups.size());

    json weight_map = json::object();
    uint64_t total_size = 0;
    for (int k = 0; k < n_shards; ++k) {
        const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, n_shards);
        total_size += write_shard(fs::path(dir) / file, groups[k], spec);
        for (const PlannedTensor* t : groups[k]) weight_map[t->name] = file;
    }
    write_json_file((fs::path(dir) / "config.json").string(), make_config(spec, tok));
    if (!spec.tokenizer_from.empty())
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
            const fs::path src = fs::path(spec.tokenizer_from) / f;
            if (!fs::exists(src)) continue;
            fs::copy_file(src, fs::path(dir) / f, fs::copy_options::overwrite_existing, ec);
            if (ec) fail("{}: cannot copy to {}: {}", src.string(), dir, ec.message());
        }
    // The index last: its presence marks a complete checkpoint.
    write_json_file((fs::path(dir) / "model.safetensors.index.json").string(),
                    json{{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}});
}

}  // namespace dlmscope::tools
