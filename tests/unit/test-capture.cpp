// Capture: selection parsing, .npz round trips, statistics against a direct computation, the
// embedding API's RAII observer handles, and captured maps against the official attention.
#include "capture/capture.h"
#include "capture/npz.h"
#include "capture/stats.h"
#include "core/error.h"
#include "dlmscope/capture.h"
#include "dlmscope/engine.h"
#include "engine/sampler/diffusion.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include <cmath>
#include <filesystem>
#include <random>

namespace dlmscope {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using test::message_of;
using test::temp_dir;

// ---- selection ------------------------------------------------------------------------------

TEST(Selection, ParsesEveryForm) {
    CaptureSelection s;
    s.parse_steps("every:4");
    EXPECT_TRUE(s.wants_step(8, 0, 8));
    EXPECT_FALSE(s.wants_step(9, 1, 8));
    s.parse_steps("block-ends");
    EXPECT_TRUE(s.wants_step(16, 0, 8));
    EXPECT_TRUE(s.wants_step(23, 7, 8));
    EXPECT_FALSE(s.wants_step(17, 1, 8));
    s.parse_steps("3,1,3");
    EXPECT_EQ(s.step_list, (std::vector<int>{1, 3}));
    s.parse_layers("0,4-6");
    EXPECT_EQ(s.layers(8), (std::vector<int>{0, 4, 5, 6}));
    s.parse_heads("2,0");
    EXPECT_EQ(s.stored_heads(4), 2);
    EXPECT_EQ(s.heads_label(), "0,2");
    s.parse_heads("none");
    EXPECT_EQ(s.stored_heads(4), 0);
    s.parse_rows("generated");
    EXPECT_EQ(s.row_range(10, 30), std::make_pair(10, 30));
    s.parse_rows("5:9");
    EXPECT_EQ(s.row_range(10, 30), std::make_pair(5, 9));
}

TEST(Selection, BadValuesNameTheOption) {
    CaptureSelection s;
    EXPECT_THAT(message_of([&] { s.parse_steps("every:x"); }), HasSubstr("--capture-steps"));
    EXPECT_THAT(message_of([&] { s.parse_layers("3-1"); }), HasSubstr("--capture-layers"));
    EXPECT_THAT(message_of([&] { s.parse_rows("7"); }), HasSubstr("--capture-rows"));
    EXPECT_THAT(message_of([&] { s.parse_dtype("bf16"); }), HasSubstr("'bf16'"));
    s.parse_layers("5");
    EXPECT_THAT(message_of([&] { s.validate(2, 4, 10, 20); }), HasSubstr("layer 5 does not exist"));
    s.parse_layers("all");
    s.parse_heads("9");
    EXPECT_THAT(message_of([&] { s.validate(2, 4, 10, 20); }), HasSubstr("head 9 does not exist"));
}

// ---- npz ------------------------------------------------------------------------------------

TEST(Npz, RoundTripsAndDetectsCorruption) {
    const fs::path dir = temp_dir("npz");
    NpzBuilder b;
    const std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
    const std::vector<int32_t> i = {1, 2, 3};
    b.add("a", "<f4", {2, 3}, f.data(), f.size() * 4);
    b.add("ids", "<i4", {3}, i.data(), i.size() * 4);
    const auto& bytes = b.finish();
    const std::string path = (dir / "x.npz").string();
    {
        std::ofstream o(path, std::ios::binary);
        o.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    auto m = read_npz(path);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m["a"].shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(m["a"].as_f32(), f);
    EXPECT_EQ(m["ids"].as_i64(), (std::vector<int64_t>{1, 2, 3}));
    // Truncated: the directory at the end is gone.
    fs::resize_file(path, bytes.size() / 2);
    EXPECT_THAT(message_of([&] { read_npz(path); }), HasSubstr("x.npz"));
}

// ---- statistics -----------------------------------------------------------------------------

// Direct double-precision computation of one row's statistics, written from the definitions.
std::array<double, kNumStats> row_stats(const float* p, int L, int i, const std::vector<uint8_t>& cls) {
    std::array<double, kNumStats> s{};
    for (int j = 0; j < L; ++j) {
        if (p[j] > 0) s[kStatEntropy] -= p[j] * std::log(double(p[j]));
        s[kStatMax] = std::max(s[kStatMax], double(p[j]));
        s[kStatInvPart] += double(p[j]) * p[j];
        if (std::abs(i - j) <= kLocalWindow) s[kStatLocal] += p[j];
        s[kStatMassPrompt + cls[j]] += p[j];
    }
    s[kStatInvPart] = 1.0 / s[kStatInvPart];
    s[kStatSelf] = p[i];
    s[kStatMassSink] = p[0];
    return s;
}

TEST(Stats, MatchDirectComputationOnRandomRows) {
    const int L = 23, P = 7;
    const int32_t mask = 99;
    std::vector<int32_t> canvas(L);
    std::mt19937 rng(3);
    for (int j = 0; j < L; ++j) canvas[j] = (j >= P && (j % 3 != 0)) ? mask : j;
    const auto cls = key_classes(canvas, P, mask);
    std::vector<float> probs(L * L);
    std::exponential_distribution<float> e(1.0f);
    for (int i = 0; i < L; ++i) {
        float sum = 0;
        for (int j = 0; j < L; ++j) sum += probs[i * L + j] = e(rng);
        for (int j = 0; j < L; ++j) probs[i * L + j] /= sum;
    }
    std::array<float, kNumRowSets * kNumStats> got;
    head_stats(probs.data(), 0, L, L, cls, P, got);
    for (int r = 0; r < kNumRowSets; ++r) {
        std::array<double, kNumStats> mean{};
        int n = 0;
        for (int i = 0; i < L; ++i) {
            const bool in = r == kRowsAll || (r == kRowsGenerated && i >= P) || (r == kRowsMasked && canvas[i] == mask);
            if (!in) continue;
            ++n;
            const auto s = row_stats(probs.data() + i * L, L, i, cls);
            for (int k = 0; k < kNumStats; ++k) mean[k] += s[k];
        }
        for (int k = 0; k < kNumStats; ++k)
            EXPECT_NEAR(got[r * kNumStats + k], mean[k] / n, 1e-5 * std::max(1.0, std::abs(mean[k] / n)))
                << kRowSetNames[r] << " " << kStatNames[k];
    }
}

TEST(Stats, KnownAnswers) {
    const int L = 4;
    const std::vector<uint8_t> cls = {0, 0, 1, 2};
    // Uniform rows: entropy ln 4, inverse participation 4, each key class by count.
    std::vector<float> uniform(L * L, 0.25f);
    std::array<float, kNumRowSets * kNumStats> s;
    head_stats(uniform.data(), 0, L, L, cls, 2, s);
    EXPECT_NEAR(s[kStatEntropy], std::log(4.0), 1e-6);
    EXPECT_NEAR(s[kStatInvPart], 4.0, 1e-5);
    EXPECT_NEAR(s[kStatMassPrompt], 0.5, 1e-6);
    EXPECT_NEAR(s[kStatMassMasked], 0.25, 1e-6);
    // Identity rows: entropy 0, self weight 1, everything on one key.
    std::vector<float> eye(L * L, 0.0f);
    for (int i = 0; i < L; ++i) eye[i * L + i] = 1.0f;
    head_stats(eye.data(), 0, L, L, cls, 2, s);
    EXPECT_NEAR(s[kStatEntropy], 0.0, 1e-7);
    EXPECT_NEAR(s[kStatSelf], 1.0, 1e-7);
    EXPECT_NEAR(s[kStatInvPart], 1.0, 1e-7);
    EXPECT_NEAR(s[kStatMassSink], 0.25, 1e-7);  // only row 0 puts its mass on the sink
    EXPECT_NEAR(s[kRowsMasked * kNumStats + kStatMassMasked], 1.0, 1e-7);
}

// ---- the embedding API -------------------------------------------------------------------------

class Throwing : public AttentionTap {
public:
    bool wants(const TapContext&, int) override { return true; }
    void on_attention(const TapContext& ctx, int, const AttentionProbs&) override {
        if (ctx.step == 2) throw Error("observer failed at step 2");
    }
};

TEST(EngineApi, ObserverDetachedWhenGenerationThrows) {
    auto engine = Engine::load(test::tiny_checkpoint());
    GenerateParams p = engine->default_params();
    p.gen_length = 16;
    p.block_length = 16;
    p.steps = 8;
    const auto prompt = engine->encode_chat("Hi");
    Throwing bad;
    EXPECT_THROW(
        {
            auto handle = engine->attach(bad);
            EXPECT_EQ(engine->observer_count(), 1u);
            engine->generate(prompt, p);
        },
        Error);
    EXPECT_EQ(engine->observer_count(), 0u);
}

TEST(EngineApi, RecorderKeepsMapsPerStepAndLayer) {
    auto engine = Engine::load(test::tiny_checkpoint());
    GenerateParams p = engine->default_params();
    p.gen_length = 16;
    p.block_length = 8;
    p.steps = 4;
    CaptureSelection sel;
    sel.parse_steps("block-ends");
    sel.parse_layers("1");
    AttentionRecorder rec(sel);
    {
        auto h = engine->attach(rec);
        engine->generate(engine->encode_chat("Hi"), p);
    }
    EXPECT_EQ(engine->observer_count(), 0u);
    // 2 blocks x 2 steps, each a block end; layer 1 only.
    ASSERT_EQ(rec.maps().size(), 4u);
    for (const auto& [key, m] : rec.maps()) {
        EXPECT_EQ(key.second, 1);
        EXPECT_EQ(m.heads, 1);
        for (int i = 0; i < m.queries; ++i) {
            double sum = 0;
            for (int j = 0; j < m.keys; ++j) sum += m.data[static_cast<size_t>(i) * m.keys + j];
            EXPECT_NEAR(sum, 1.0, 1e-5);
        }
    }
    // A forward outside generate() reports the context it was given.
    rec.clear();
    {
        auto h = engine->attach(rec);
        engine->set_context(7, 1);
        engine->forward(engine->encode_chat("Hi"));
    }
    ASSERT_EQ(rec.maps().size(), 1u);
    EXPECT_EQ(rec.maps().begin()->first.first, 7);
}

// The embedding API runs the cached modes; the recorder keeps only the rows a step recomputed.
TEST(EngineApi, RecorderUnderADualCacheKeepsTheRecomputedRows) {
    auto engine = Engine::load(test::tiny_checkpoint());
    GenerateParams p = engine->default_params();
    p.gen_length = 16;
    p.block_length = 8;
    p.steps = 8;
    p.cache = CacheMode::dual;
    const auto prompt = engine->encode_chat("Hi");
    const int P = static_cast<int>(prompt.size());
    CaptureSelection sel;
    sel.parse_layers("0");
    sel.parse_rows("generated");
    AttentionRecorder rec(sel);
    GenerateResult res;
    {
        auto h = engine->attach(rec);
        res = engine->generate(prompt, p);
    }
    ASSERT_EQ(rec.maps().size(), res.steps.size());
    for (const StepRecord& s : res.steps) {
        const AttentionRecorder::Map& m = rec.maps().at({s.step, 0});
        if (s.kind == ForwardKind::full) {
            EXPECT_EQ(m.row_begin, P);  // the selection's generated rows, all recomputed
            EXPECT_EQ(m.queries, p.gen_length);
        } else {
            EXPECT_EQ(s.kind, ForwardKind::dual);
            EXPECT_EQ(m.row_begin, s.row_begin);  // the block only
            EXPECT_EQ(m.queries, p.block_length);
        }
        ASSERT_EQ(static_cast<int>(m.key_step.size()), m.keys);
        for (int j = 0; j < m.keys; ++j) {
            const bool fresh = j >= s.row_begin && j < s.row_end;
            if (fresh) EXPECT_EQ(m.key_step[j], s.step);
            else EXPECT_LT(m.key_step[j], s.step);
        }
    }
}

// ---- captured run vs the official attention (t0: steps 0, 15, 31) ------------------------------

struct CapturedRun {
    json manifest;
    fs::path dir;
};

CapturedRun capture_t0(const std::string& heads, const std::string& dtype, const std::string& tag) {
    const fs::path dir = temp_dir("cap-" + tag);
    const json meta = read_json_file(test::run_dir("t0") + "/meta.json");
    const auto prompt = test::to_i32(read_npy(test::run_dir("t0") + "/prompt.npy").as_i64());
    auto model = Model::load(test::tiny_checkpoint());
    GenerateParams p;
    p.gen_length = 64;
    p.block_length = 16;
    p.steps = 32;
    p.mask_id = meta["mask_id"];
    CaptureSelection sel;
    sel.parse_heads(heads);
    sel.parse_dtype(dtype);
    const int L = static_cast<int>(prompt.size()) + p.gen_length;
    CaptureLayout layout{model->config().n_layers, model->config().n_heads, p.steps, 8, static_cast<int>(prompt.size()), L, p.mask_id};
    RunWriter run(dir.string(), "run.json", json{{"prompt_length", prompt.size()}});
    CaptureTap tap(sel, layout, run, 2);
    GenerateHooks hooks;
    hooks.tap = &tap;
    SeededNoise noise(0);
    generate(*model, prompt, p, noise, hooks);
    tap.finish();
    run.finish({{"capture", tap.summary()}});
    return {read_json_file((dir / "run.json").string()), dir};
}

// The attention array of one step, by following the manifest's index.
NpyArray step_array(const CapturedRun& r, int step, const std::string& name) {
    for (const json& a : r.manifest["arrays"])
        if (a["step"] == step && a["name"] == name) return read_npz((r.dir / a["file"].get<std::string>()).string()).at(name);
    ADD_FAILURE() << "no " << name << " for step " << step;
    return {};
}

TEST(CaptureParity, AllHeadsF32MatchOfficial) {
    const CapturedRun r = capture_t0("all", "f32", "all");
    EXPECT_TRUE(r.manifest["complete"].get<bool>());
    EXPECT_EQ(r.manifest["capture"]["steps_written"], 32);
    for (int s : {0, 15, 31}) {
        const auto want = read_npy(test::run_dir("t0") + "/attn_step" + std::to_string(s) + ".npy").as_f32();  // [2,1,4,L,L]
        const NpyArray got = step_array(r, s, "attn");  // [2, 4, L, L]
        ASSERT_EQ(got.shape.size(), 4u);
        EXPECT_LT(test::max_abs_diff(got.as_f32(), want), 2e-6) << "step " << s;
    }
}

TEST(CaptureParity, HeadMeanF16MatchesMeanOfOfficial) {
    const CapturedRun r = capture_t0("mean", "f16", "mean");
    for (int s : {0, 15, 31}) {
        const NpyArray w = read_npy(test::run_dir("t0") + "/attn_step" + std::to_string(s) + ".npy");
        const auto want = w.as_f32();
        const int64_t nl = w.shape[0], H = w.shape[2], L = w.shape[3];
        std::vector<float> mean(static_cast<size_t>(nl * L * L), 0.0f);
        for (int64_t l = 0; l < nl; ++l)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t k = 0; k < L * L; ++k) mean[l * L * L + k] += want[(l * H + h) * L * L + k] / H;
        const NpyArray got = step_array(r, s, "attn");
        EXPECT_EQ(got.descr, "<f2");
        // f16 keeps 11 significant bits: probabilities <= 1 round by at most 2^-12.
        EXPECT_LT(test::max_abs_diff(got.as_f32(), mean), 2.5e-4) << "step " << s;
    }
}

TEST(CaptureParity, StatisticsOnlyStoresNoMaps) {
    const CapturedRun r = capture_t0("none", "f16", "none");
    for (const json& a : r.manifest["arrays"]) EXPECT_NE(a["kind"], "attention");
    const NpyArray st = step_array(r, 0, "stats");
    EXPECT_EQ(st.shape, (std::vector<int64_t>{2, 4, kNumRowSets, kNumStats}));
    // At step 0 every generated row is masked: the two row sets agree.
    const auto v = st.as_f32();
    for (int k = 0; k < kNumStats; ++k) EXPECT_FLOAT_EQ(v[kRowsGenerated * kNumStats + k], v[kRowsMasked * kNumStats + k]);
}

}  // namespace
}  // namespace dlmscope
