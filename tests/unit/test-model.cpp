// Unit tests of the model (engine/model): what Model::load refuses — shapes that disagree with the
// config, unreadable model paths and shards, weights that do not fit in memory — and the whole
// forward of every backend against the reference backend.
//
// Sections:
//   [load]     shape mismatches, unreadable model paths, a malformed tokenizer.json, the memory check
//   [forward]  every backend's forward vs the reference backend's on a small random checkpoint written
//              by tools/checkpoint-writer (the same writer as dlmscope-make-checkpoint), plus checks
//              that the writer produced the hub layout
#include "../../tools/checkpoint-writer.h"  // compiled into this test (tests/unit/tests.cmake)
#include "core/json.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/kernels/kernels.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/checkpoints.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

namespace fs = std::filesystem;
namespace k = kernels;
using ::testing::HasSubstr;
using namespace test;

// ============================================================================ [load]

TEST(Model, ShapeMismatch) {
    // Same byte count, wrong shape: only the config can tell.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["shape"] = {32, 128}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("[32, 128]"));
    EXPECT_THAT(msg, HasSubstr("expected [64, 64]"));
}

TEST(Model, ConfigDisagreesWithWeights) {
    // mlp_hidden_size 256 in config.json, 192 in the shards.
    TempDir dir;
    copy_tiny(dir.path());
    edit_config(dir.path(), [](json& c) { c["mlp_hidden_size"] = 256; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("[192, 64]"));
    EXPECT_THAT(msg, HasSubstr("expected [256, 64]"));
}

TEST(Model, MoreLayersThanTheCheckpoint) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_config(dir.path(), [](json& c) { c["n_layers"] = 3; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("missing tensor 'model.transformer.blocks.2."));
}

TEST(Model, ModelPathDoesNotExist) {
    const std::string p = "/nonexistent/dlmscope-model-dir";
    const std::string msg = load_error(p);
    EXPECT_THAT(msg, HasSubstr("model path " + p + " does not exist"));
}

TEST(Model, ModelPathIsAFile) {
    const std::string p = test::tiny_checkpoint() + "/config.json";
    const std::string msg = load_error(p);
    EXPECT_THAT(msg, HasSubstr("model path " + p + " is not a directory"));
}

TEST(Model, ModelPathWithoutConfig) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::remove(dir / "config.json");
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir.path()));
    EXPECT_THAT(msg, HasSubstr("config.json"));
}

TEST(Model, ModelPathUnreadable) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads every directory";
    TempDir dir;
    copy_tiny(dir.path());
    const std::string sub = dir / "locked";
    fs::create_directory(sub);
    fs::copy_file(dir / "config.json", fs::path(sub) / "config.json");
    fs::permissions(sub, fs::perms::none);
    const std::string msg = load_error(sub);
    fs::permissions(sub, fs::perms::owner_all);
    EXPECT_THAT(msg, HasSubstr(sub));
}

TEST(Model, UnreadableShard) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
    TempDir dir;
    copy_tiny(dir.path());
    fs::permissions(dir / kShard1, fs::perms::none);
    const std::string msg = load_error(dir.path());
    fs::permissions(dir / kShard1, fs::perms::owner_all);
    EXPECT_THAT(msg, HasSubstr(kShard1));
}

TEST(Model, ParseWeightPrecision) {
    EXPECT_EQ(parse_weight_precision("auto"), WeightPrecision::automatic);
    EXPECT_EQ(parse_weight_precision("f32"), WeightPrecision::f32);
    EXPECT_EQ(parse_weight_precision("native"), WeightPrecision::native);
    EXPECT_THAT(error_of([] { parse_weight_precision("bf16"); }), HasSubstr("'bf16'"));
}

TEST(Model, MalformedTokenizerJson) {
    // The tokenizer lives next to the weights; a cut-off tokenizer.json names its path.
    TempDir dir;
    copy_tiny(dir.path());
    const std::string text = read_bytes(dir / "tokenizer.json");
    write_bytes(dir / "tokenizer.json", text.substr(0, text.size() / 2));
    EXPECT_NO_THROW(Model::load(dir.path()));
    const std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
    EXPECT_THAT(msg, HasSubstr(dir / "tokenizer.json"));
}

// LLaDA-8B's shapes: 8.02 B parameters, 14.9 GiB as bf16, 29.9 GiB widened to f32.
ModelConfig llada_8b_shape() {
    ModelConfig c;
    c.d_model = 4096;
    c.n_layers = 32;
    c.n_heads = c.n_kv_heads = 32;
    c.head_dim = 128;
    c.mlp_hidden = 12288;
    c.vocab_size = c.output_width = 126464;
    return c;
}

TEST(Model, RefusesWeightsThatDoNotFitUpFront) {
    const ModelConfig c = llada_8b_shape();
    const size_t stored = static_cast<size_t>(c.n_params()) * 2, gib = size_t(1) << 30;
    const kernels::Backend& blas = kernels::select_backend("openblas");
    LoadOptions wide, native, automatic;
    wide.weights = WeightPrecision::f32;
    native.weights = WeightPrecision::native;
    // f32 widening of 8B on a 24 GiB machine: refused, naming the need and the option that fits.
    const std::string msg = test::message_of([&] { check_weight_memory("/models/llada-8b", c, stored, wide, blas, 24 * gib); });
    EXPECT_THAT(msg, HasSubstr("/models/llada-8b"));
    EXPECT_THAT(msg, HasSubstr("29.9 GiB"));
    EXPECT_THAT(msg, HasSubstr("24.0 GiB"));
    EXPECT_THAT(msg, HasSubstr("--weights native"));
    EXPECT_THAT(msg, HasSubstr("14.9 GiB"));
    // The stored bf16 fits; so does `auto`, which widens only what takes at most a third of memory.
    EXPECT_NO_THROW(check_weight_memory("/models/llada-8b", c, stored, native, blas, 24 * gib));
    EXPECT_NO_THROW(check_weight_memory("/models/llada-8b", c, stored, automatic, blas, 24 * gib));
    // Nothing fits on 12 GiB: the message says what the weights alone need.
    const std::string none = test::message_of([&] { check_weight_memory("/models/llada-8b", c, stored, native, blas, 12 * gib); });
    EXPECT_THAT(none, HasSubstr("the weights need 14.9 GiB"));
    EXPECT_THAT(none, HasSubstr("12.0 GiB"));
    // A packing backend keeps the stored bytes once (packed copy, source pages dropped).
    EXPECT_EQ(plan_weight_memory(c, stored, native, kernels::select_backend("reference")).bytes, stored);
}

// ============================================================================ [forward]

// A small model that still exercises every path: grouped kv heads, bf16 weights, three shards, a
// head dimension (16) and widths that are not multiples of 64.
tools::CheckpointSpec small_spec() {
    tools::CheckpointSpec s;
    s.d_model = 96;
    s.n_layers = 2;
    s.n_heads = 6;
    s.n_kv_heads = 3;
    s.mlp_hidden = 200;
    s.vocab_size = 300;
    s.shards = 3;
    s.seed = 11;
    s.dtype = DType::bf16;
    s.tokenizer_from = "";  // no tokenizer: mask = vocab - 1, eos = pad = vocab - 2
    return s;
}

const std::string& small_checkpoint() {
    static const std::string dir = [] {
        // One directory per process: ctest runs the test cases of this file in parallel processes.
        const std::string d = test::temp_dir("model-ckpt").string();
        tools::write_random_checkpoint(d, small_spec());
        return d;
    }();
    return dir;
}

std::vector<int32_t> random_tokens(int L, int V, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> t(static_cast<size_t>(L));
    for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(V));
    return t;
}

// Logits are O(10) by construction (head gain 4). A backend and the reference differ only by float
// vs double summation through 2 blocks (at bf16 precision both round the same operands): measured
// max difference 6.7e-6 on logits of max 16 (4e-7 relative), 1.4e-6 on hidden states. 1e-5 of the
// largest value leaves a margin of about 20, while a wrong row, head or kv-group mapping would be
// off by O(1).
// At bf16 precision every matmul input is rounded to bf16, and rounding is discontinuous: a float
// difference of one ulp before it can flip a rounding, a 2⁻⁸ relative step, which later layers carry
// on. So backends and the reference agree only to bf16 resolution there: measured 1.1e-3 of the
// largest logit (0.018 of 16; the same for every backend), 2.6e-4 on hidden states. 5e-3 bounds it
// and is still far below the O(1) of a wrong mapping.
constexpr double kForwardRelTol = 1e-5;
constexpr double kForwardBf16RelTol = 5e-3;

struct ForwardCase {
    std::string backend;
    k::Precision precision;
    WeightPrecision weights;
};

// "amx f32 widened": what gtest prints next to each test's name (raw bytes without PrintTo), and,
// with '_' for ' ' and '-', the test's name.
std::string describe(const ForwardCase& c) {
    return c.backend + ' ' + k::precision_name(c.precision) + (c.weights == WeightPrecision::f32 ? " widened" : " stored");
}
void PrintTo(const ForwardCase& c, std::ostream* os) { *os << describe(c); }

class ForwardVsRef : public ::testing::TestWithParam<ForwardCase> {};

TEST_P(ForwardVsRef, LogitsAndHiddenAgree) {
    const ForwardCase& fc = GetParam();
    const k::Backend& be = **std::find_if(k::backends().begin(), k::backends().end(), [&](auto* b) { return fc.backend == b->name(); });
    if (!be.available()) GTEST_SKIP() << "backend " << fc.backend << " needs " << be.isa() << ": not on this CPU";
    LoadOptions lo, lr_opts;
    lo.backend = fc.backend;
    lo.precision = fc.precision;
    lo.weights = fc.weights;
    lr_opts.backend = "reference";
    lr_opts.precision = fc.precision;
    const auto model = Model::load(small_checkpoint(), lo);
    const auto ref_model = Model::load(small_checkpoint(), lr_opts);
    const ModelConfig& c = model->config();
    const double tol = fc.precision == k::Precision::bf16 ? kForwardBf16RelTol : kForwardRelTol;
    const int L = 45, V = c.output_width;
    std::vector<int32_t> x = random_tokens(L, V, 3);
    for (int i = 20; i < L; ++i) x[i] = c.mask_token_id;  // a canvas as the sampler builds it

    std::vector<float> lf, lr, hf, hr;
    ForwardOptions fo;
    ForwardState sf, sr;
    fo.hidden_out = &hf;
    sf.run(*model, x, fo, lf);
    fo.hidden_out = &hr;
    sr.run(*ref_model, x, fo, lr);

    ASSERT_EQ(lf.size(), static_cast<size_t>(L) * V);
    double scale = 0.0;
    for (float v : lr) scale = std::max(scale, static_cast<double>(std::abs(v)));
    EXPECT_GT(scale, 1.0) << "logits of the random model should be O(10)";
    EXPECT_LT(scale, 100.0);
    EXPECT_LT(max_abs_diff(lf, lr), tol * scale);
    ASSERT_EQ(hf.size(), hr.size());
    double hscale = 0.0;
    for (float v : hr) hscale = std::max(hscale, static_cast<double>(std::abs(v)));
    EXPECT_LT(max_abs_diff(hf, hr), tol * hscale);

    // Selected rows (what the sampler asks for) are the same rows of the full logits, up to float
    // rounding: a kernel may sum a 3-row product in another order than a 45-row one.
    const std::vector<int> rows = {0, 21, 44};
    fo.hidden_out = nullptr;
    fo.logit_rows = rows;
    std::vector<float> sel;
    sf.run(*model, x, fo, sel);
    ASSERT_EQ(sel.size(), rows.size() * V);
    for (size_t r = 0; r < rows.size(); ++r) {
        const std::vector<float> want(lf.begin() + static_cast<int64_t>(rows[r]) * V, lf.begin() + static_cast<int64_t>(rows[r] + 1) * V);
        const std::vector<float> got(sel.begin() + static_cast<int64_t>(r) * V, sel.begin() + static_cast<int64_t>(r + 1) * V);
        EXPECT_LT(max_abs_diff(got, want), tol * scale) << "row " << rows[r];
    }
}

std::vector<ForwardCase> forward_cases() {
    std::vector<ForwardCase> cases;
    for (const k::Backend* b : k::backends()) {
        if (std::string(b->name()) == "reference") continue;
        for (k::Precision p : {k::Precision::f32, k::Precision::bf16})
            for (WeightPrecision w : {WeightPrecision::f32, WeightPrecision::native}) cases.push_back({b->name(), p, w});
    }
    return cases;
}

std::string forward_case_name(const ::testing::TestParamInfo<ForwardCase>& info) {
    std::string n = describe(info.param);
    std::replace_if(n.begin(), n.end(), [](char ch) { return ch == ' ' || ch == '-'; }, '_');
    return n;
}

INSTANTIATE_TEST_SUITE_P(Forward, ForwardVsRef, ::testing::ValuesIn(forward_cases()), forward_case_name);

// The checkpoint the forward test runs on is a hub snapshot: shards grouped by kind, an index whose
// total_size is the sum of the tensors, headers padded to 8 bytes, the same bytes for the same seed.
TEST(RandomCheckpoint, HubLayout) {
    namespace fs = std::filesystem;
    const std::string dir = small_checkpoint();
    const json idx = read_json_file(dir + "/model.safetensors.index.json");
    const SafetensorsCheckpoint ck(dir);
    EXPECT_EQ(idx["metadata"]["total_size"].get<size_t>(), ck.total_bytes());
    EXPECT_EQ(ck.files().size(), 3u);
    EXPECT_EQ(static_cast<int64_t>(ck.all().size()), 3 + 9 * small_spec().n_layers);
    EXPECT_EQ(Model::load(dir)->config().n_params(), tools::checkpoint_params(small_spec()));

    // Grouped by kind: a kind (q_proj, ff_norm, ...) spans at most two neighbouring shards.
    std::map<std::string, std::set<std::string>> shards_of_kind;
    for (const auto& [name, file] : idx["weight_map"].items()) {
        const auto dot = name.rfind('.', name.size() - std::string(".weight").size() - 1);
        shards_of_kind[name.substr(dot + 1)].insert(file.get<std::string>());
    }
    for (const auto& [kind, files] : shards_of_kind) EXPECT_LE(files.size(), 2u) << kind;

    for (const auto& f : ck.files()) {
        std::ifstream in(f, std::ios::binary);
        uint64_t n = 0;
        in.read(reinterpret_cast<char*>(&n), 8);
        EXPECT_EQ(n % 8, 0u) << f;
        std::string header(static_cast<size_t>(n), '\0');
        in.read(header.data(), static_cast<std::streamsize>(n));
        EXPECT_EQ(json::parse(header)["__metadata__"], json({{"format", "pt"}})) << f;
    }

    // Deterministic in the seed.
    const std::string again = test::temp_dir("model-ckpt-again").string();
    tools::write_random_checkpoint(again, small_spec());
    for (const auto& f : ck.files()) {
        const std::string name = fs::path(f).filename().string();
        EXPECT_TRUE(read_bytes(f) == read_bytes(again + "/" + name)) << name << " differs between two writes with the same seed";
    }
    fs::remove_all(again);
}

}  // namespace
}  // namespace dlmscope
