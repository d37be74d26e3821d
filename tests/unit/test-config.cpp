// Unit tests of the config parser (engine/checkpoint/config.h): every unsupported config value (spec
// 2.2), through parse_model_config and through Model::load of an edited copy of the tiny checkpoint
// (the message names the file, the key and the value); a malformed config.json; defaults for absent
// keys; the parameter counts of spec 2.3.
#include "core/json.h"
#include "engine/checkpoint/config.h"
#include "engine/model/model.h"
#include "support/checkpoints.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

using ::testing::HasSubstr;
using namespace test;

// One unsupported config edit and what its message must contain.
struct ConfigCase {
    const char* name;
    std::function<void(json&)> edit;
    std::vector<std::string> expect;  // substrings of the message
};

void PrintTo(const ConfigCase& c, std::ostream* os) { *os << c.name; }

class BadConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(BadConfig, ParseNamesKeyAndValue) {
    json c = tiny_config();
    GetParam().edit(c);
    const std::string msg = error_of([&] { parse_model_config(c, "some/config.json"); });
    EXPECT_THAT(msg, HasSubstr("some/config.json"));
    for (const std::string& s : GetParam().expect) EXPECT_THAT(msg, HasSubstr(s));
}

TEST_P(BadConfig, ModelLoadNamesFileKeyAndValue) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_config(dir.path(), GetParam().edit);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir / "config.json"));
    for (const std::string& s : GetParam().expect) EXPECT_THAT(msg, HasSubstr(s));
}

const ConfigCase kBadConfigs[] = {
    {"block_type", [](json& c) { c["block_type"] = "sequential"; }, {"block_type", "\"sequential\"", "\"llama\""}},
    {"block_type_missing", [](json& c) { c.erase("block_type"); }, {"missing key 'block_type'"}},
    {"layer_norm_type", [](json& c) { c["layer_norm_type"] = "default"; }, {"layer_norm_type", "\"default\""}},
    {"activation_type", [](json& c) { c["activation_type"] = "gelu"; }, {"activation_type", "\"gelu\""}},
    {"rope", [](json& c) { c["rope"] = false; }, {"rope = false"}},
    {"alibi", [](json& c) { c["alibi"] = true; }, {"alibi = true"}},
    {"include_bias", [](json& c) { c["include_bias"] = true; }, {"include_bias = true"}},
    {"include_qkv_bias", [](json& c) { c["include_qkv_bias"] = true; }, {"include_qkv_bias = true"}},
    {"bias_for_layer_norm", [](json& c) { c["bias_for_layer_norm"] = true; }, {"bias_for_layer_norm = true"}},
    {"attention_layer_norm", [](json& c) { c["attention_layer_norm"] = true; }, {"attention_layer_norm = true"}},
    {"input_emb_norm", [](json& c) { c["input_emb_norm"] = true; }, {"input_emb_norm = true"}},
    {"scale_logits", [](json& c) { c["scale_logits"] = true; }, {"scale_logits = true"}},
    {"weight_tying", [](json& c) { c["weight_tying"] = true; }, {"weight_tying = true"}},
    {"weight_tying_string", [](json& c) { c["weight_tying"] = "no"; }, {"weight_tying = \"no\""}},
    {"block_group_size", [](json& c) { c["block_group_size"] = 2; }, {"block_group_size = 2"}},
    {"layer_norm_with_affine", [](json& c) { c["layer_norm_with_affine"] = false; }, {"layer_norm_with_affine = false"}},
    {"clip_qkv", [](json& c) { c["clip_qkv"] = 8.0; }, {"clip_qkv = 8.0"}},
    {"d_model_missing", [](json& c) { c.erase("d_model"); }, {"missing key 'd_model'"}},
    {"d_model_string", [](json& c) { c["d_model"] = "64"; }, {"'d_model'", "\"64\""}},
    {"d_model_negative", [](json& c) { c["d_model"] = -64; }, {"'d_model'", "-64"}},
    {"d_model_float", [](json& c) { c["d_model"] = 64.5; }, {"'d_model'", "64.5"}},
    {"n_layers_zero", [](json& c) { c["n_layers"] = 0; }, {"n_layers must be positive, got 0"}},
    {"heads_indivisible", [](json& c) { c["n_heads"] = 5; }, {"d_model = 64", "n_heads = 5"}},
    {"kv_heads_indivisible", [](json& c) { c["n_kv_heads"] = 3; }, {"n_heads = 4", "n_kv_heads = 3"}},
    {"head_dim_odd", [](json& c) { c["d_model"] = 60; }, {"head dimension 15"}},
    {"embedding_size_small", [](json& c) { c["embedding_size"] = 256; }, {"embedding_size = 256", "vocab_size = 320"}},
    {"vocab_size_missing", [](json& c) { c.erase("vocab_size"); }, {"missing key 'vocab_size'"}},
    {"mlp_hidden_zero", [](json& c) { c["mlp_hidden_size"] = 0; }, {"mlp_hidden_size"}},
    {"rope_theta_zero", [](json& c) { c["rope_theta"] = 0.0; }, {"rope_theta"}},
    {"rms_norm_eps_string", [](json& c) { c["rms_norm_eps"] = "1e-5"; }, {"'rms_norm_eps'", "\"1e-5\""}},
    {"mask_token_id_negative", [](json& c) { c["mask_token_id"] = -1; }, {"'mask_token_id'", "-1"}},
    {"max_sequence_length_huge", [](json& c) { c["max_sequence_length"] = 1LL << 40; },
     {"'max_sequence_length'", "1099511627776"}},
};

INSTANTIATE_TEST_SUITE_P(Config, BadConfig, ::testing::ValuesIn(kBadConfigs),
                         [](const ::testing::TestParamInfo<ConfigCase>& i) { return std::string(i.param.name); });

TEST(Config, NotAnObject) {
    EXPECT_THAT(error_of([] { parse_model_config(json::array(), "x/config.json"); }), HasSubstr("x/config.json"));
}

TEST(Config, MalformedConfigJson) {
    TempDir dir;
    copy_tiny(dir.path());
    std::string text = read_bytes(dir / "config.json");
    write_bytes(dir / "config.json", text.substr(0, text.size() / 2));
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir / "config.json"));
    EXPECT_THAT(msg, HasSubstr("malformed JSON"));
}

TEST(Config, DefaultsForAbsentKeys) {
    // Keys the engine does not need may be absent: LLaDA defaults apply.
    json c = tiny_config();
    for (const char* k : {"alibi", "include_bias", "weight_tying", "n_kv_heads", "embedding_size", "max_sequence_length",
                          "mask_token_id", "rope_theta", "mlp_hidden_size"})
        c.erase(k);
    const ModelConfig m = parse_model_config(c, "config.json");
    EXPECT_EQ(m.n_kv_heads, 4);
    EXPECT_EQ(m.output_width, 320);
    EXPECT_EQ(m.max_sequence_length, 4096);
    EXPECT_EQ(m.mask_token_id, -1);
    EXPECT_EQ(m.mlp_hidden, 4 * 64);  // mlp_ratio * d_model
    EXPECT_DOUBLE_EQ(m.rope_theta, 10000.0);
}

TEST(Config, NullKeysAreAbsent) {
    json c = tiny_config();
    c["multi_query_attention"] = nullptr;
    c["clip_qkv"] = nullptr;
    c["weight_tying"] = nullptr;
    EXPECT_NO_THROW(parse_model_config(c, "config.json"));
}

TEST(Config, MultiQueryAttentionMeansOneKvHead) {
    json c = tiny_config();
    c["multi_query_attention"] = true;
    EXPECT_EQ(parse_model_config(c, "config.json").n_kv_heads, 1);
}

TEST(Config, LLaDA8BSizes) {
    // Spec 2.3: the published LLaDA-8B config has 8 015 581 184 parameters.
    json c = tiny_config();
    c["model_type"] = "llada";
    c["d_model"] = 4096;
    c["n_layers"] = 32;
    c["n_heads"] = 32;
    c["n_kv_heads"] = 32;
    c["mlp_hidden_size"] = 12288;
    c["vocab_size"] = 126464;
    c["embedding_size"] = 126464;
    EXPECT_EQ(parse_model_config(c, "config.json").n_params(), 8015581184LL);
    c["vocab_size"] = 134656;
    c["embedding_size"] = 134656;
    EXPECT_EQ(parse_model_config(c, "config.json").n_params(), 8082690048LL);  // MMaDA
}

}  // namespace
}  // namespace dlmscope
