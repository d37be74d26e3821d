// Parity with the official MMaDA/LLaDA Python code on the tiny checkpoint (fixtures/mmada-tiny/runs).
//
// Tolerances (MANIFEST.md section 6): two fp32 implementations differ by about 1e-5 on logits of
// magnitude ~16, 2e-6 on hidden states and attention probabilities; RoPE tables within 1 ulp.
// Token ids, every per-step canvas and the committed positions must match exactly. Every test runs
// on every backend in the registry at f32 precision (one this CPU cannot run is skipped, saying so).
#include "engine/kernels/kernels.h"
#include "engine/model/forward.h"
#include "engine/sampler/diffusion.h"
#include "support/fixtures.h"
#include "support/runs.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace dlmscope {
namespace {

using test::max_abs_diff;
using test::run_dir;
using test::backend_names;
using test::kRuns;
using test::load_run;
using test::run_backend_name;
using test::RunFixture;
using test::tiny_model;

constexpr double kLogitTol = 2e-5;
constexpr double kHiddenTol = 2e-6;
constexpr double kAttnTol = 2e-6;

// ---- forward pass: logits, hidden states, attention, RoPE at step 0 -----------------------------

// Keeps every layer's probabilities of one forward.
class KeepAll : public AttentionTap {
public:
    bool wants(const TapContext&, int) override { return true; }
    void on_attention(const TapContext& ctx, int layer, const AttentionProbs& p) override {
        auto& v = maps[{ctx.step, ctx.batch_row}];
        if (static_cast<int>(v.size()) <= layer) v.resize(layer + 1);
        v[layer].assign(p.data, p.data + static_cast<int64_t>(p.n_heads) * p.n_queries * p.n_keys);
    }
    std::map<std::pair<int, int>, std::vector<std::vector<float>>> maps;
};

class ForwardParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ForwardParity, Step0LogitsHiddenAttention) {
    const auto& [name, backend] = GetParam();
    DLM_SKIP_UNAVAILABLE(backend);
    const RunFixture r = load_run(name);
    const Model& m = tiny_model(backend);
    const int L = r.L, V = m.config().output_width;
    const std::vector<int32_t> x(r.history.begin(), r.history.begin() + L);

    ForwardState st;
    ForwardOptions fo;
    KeepAll tap;
    fo.tap = &tap;
    std::vector<float> hidden, logits;
    fo.hidden_out = &hidden;
    st.run(m, x, fo, logits);

    const NpyArray want_logits = read_npy(run_dir(name) + "/logits_step0.npy");
    std::vector<float> wl = want_logits.as_f32();
    wl.resize(static_cast<size_t>(L) * V);  // row 0 = conditional canvas
    const double dl = max_abs_diff(logits, wl);
    EXPECT_LT(dl, kLogitTol) << name << ": step-0 logits differ by " << dl;

    const double dh = max_abs_diff(hidden, read_npy(run_dir(name) + "/hidden_step0.npy").as_f32());
    EXPECT_LT(dh, kHiddenTol) << name << ": hidden states differ by " << dh;

    // attn_step0.npy: [n_layers, B, H, L, L]; B = 2 under CFG (conditional first).
    const NpyArray want_attn = read_npy(run_dir(name) + "/attn_step0.npy");
    const std::vector<float> wa = want_attn.as_f32();
    const int64_t B = want_attn.shape[1], per = static_cast<int64_t>(m.config().n_heads) * L * L;
    double da = 0.0;
    for (int layer = 0; layer < m.config().n_layers; ++layer) {
        const std::vector<float> want(wa.begin() + layer * B * per, wa.begin() + layer * B * per + per);
        da = test::worse(da, max_abs_diff(tap.maps[{-1, 0}][layer], want));
    }
    EXPECT_LT(da, kAttnTol) << name << ": attention differs by " << da;

    // Under CFG the fixture also holds the unconditional row: every prompt position masked.
    if (B == 2) {
        std::vector<int32_t> un(x);
        for (size_t i = 0; i < r.prompt.size(); ++i) un[i] = r.params.mask_id;
        std::vector<float> ul;
        st.run(m, un, fo, ul);
        std::vector<float> wu(want_logits.as_f32());
        wu.erase(wu.begin(), wu.begin() + static_cast<int64_t>(L) * V);
        EXPECT_LT(max_abs_diff(ul, wu), kLogitTol) << name << ": unconditional logits";
    }
}

INSTANTIATE_TEST_SUITE_P(AllRuns, ForwardParity,
                         ::testing::Combine(::testing::ValuesIn(kRuns), ::testing::ValuesIn(backend_names())), run_backend_name);

TEST(RopeParity, TablesWithinOneUlp) {
    const RunFixture r = load_run("t0");
    const int hd = tiny_model().config().head_dim;
    std::vector<float> cos(static_cast<size_t>(r.L) * hd), sin(cos.size());
    kernels::rope_tables(r.L, hd, tiny_model().config().rope_theta, cos.data(), sin.data());
    const auto wc = read_npy(run_dir("t0") + "/rope_cos.npy").as_f32();
    const auto ws = read_npy(run_dir("t0") + "/rope_sin.npy").as_f32();
    EXPECT_LE(max_abs_diff(cos, wc), 6e-8);
    EXPECT_LE(max_abs_diff(sin, ws), 6e-8);
}

// Every step's logits over the generation area (t0 records them all), teacher-forced.
TEST(ForwardParityAllSteps, T0LogitsEveryStep) {
    const RunFixture r = load_run("t0");
    const Model& m = tiny_model(kernels::select_backend("auto").name());
    const int L = r.L, P = static_cast<int>(r.prompt.size()), G = L - P, V = m.config().output_width;
    const NpyArray all = read_npy(run_dir("t0") + "/logits_gen_all_steps.npy");  // [T, 1, G, V]
    const std::vector<float> want = all.as_f32();
    ForwardState st;
    std::vector<int> rows(G);
    for (int j = 0; j < G; ++j) rows[j] = P + j;
    double worst = 0.0;
    for (int t = 0; t < r.params.steps; ++t) {
        const std::vector<int32_t> x(r.history.begin() + static_cast<int64_t>(t) * L, r.history.begin() + static_cast<int64_t>(t + 1) * L);
        ForwardOptions fo;
        fo.logit_rows = rows;
        std::vector<float> got;
        st.run(m, x, fo, got);
        const std::vector<float> w(want.begin() + static_cast<int64_t>(t) * G * V, want.begin() + static_cast<int64_t>(t + 1) * G * V);
        worst = test::worse(worst, max_abs_diff(got, w));
    }
    EXPECT_LT(worst, kLogitTol);
}

// ---- the sampler: tokens, every canvas, every committed position ------------------------------

class SamplerParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(SamplerParity, CanvasesAndTokensExact) {
    const auto& [name, backend] = GetParam();
    DLM_SKIP_UNAVAILABLE(backend);
    RunFixture r = load_run(name);
    const std::string dir = run_dir(name);
    const bool has_gumbel = r.params.temperature > 0.0;
    const bool has_remask = r.params.remasking == Remasking::random;
    RecordedNoise noise(has_gumbel ? dir + "/noise_rand_like.npy" : "", has_remask ? dir + "/noise_rand.npy" : "");

    KeepAll tap;
    GenerateHooks hooks;
    hooks.tap = &tap;
    const GenerateResult res = generate(tiny_model(backend), r.prompt, r.params, noise, hooks);

    EXPECT_EQ(res.canvas, r.tokens) << name << ": final canvas";
    ASSERT_EQ(res.history.size(), r.history.size());
    for (int t = 0; t <= r.params.steps; ++t) {
        const auto b = static_cast<int64_t>(t) * r.L;
        EXPECT_TRUE(std::equal(res.history.begin() + b, res.history.begin() + b + r.L, r.history.begin() + b))
            << name << ": canvas before step " << t << " differs";
    }
    ASSERT_EQ(res.steps.size(), r.steps.size());
    for (size_t t = 0; t < res.steps.size(); ++t) {
        EXPECT_EQ(res.steps[t].positions, r.steps[t]["positions"][0].get<std::vector<int>>()) << name << " step " << t;
        EXPECT_EQ(res.steps[t].tokens, r.steps[t]["tokens"][0].get<std::vector<int32_t>>()) << name << " step " << t;
        EXPECT_EQ(res.steps[t].block, r.steps[t]["block"].get<int>());
    }
    // Attention the sampler's forwards used, at every step the fixture recorded.
    const int n_layers = tiny_model().config().n_layers;
    for (int s : r.meta["captured_attention_steps"].get<std::vector<int>>()) {
        const NpyArray want = read_npy(dir + "/attn_step" + std::to_string(s) + ".npy");
        const std::vector<float> wa = want.as_f32();
        const int64_t B = want.shape[1], per = want.shape[2] * want.shape[3] * want.shape[4];
        for (int64_t brow = 0; brow < B; ++brow)
            for (int layer = 0; layer < n_layers; ++layer) {
                const int64_t off = (layer * B + brow) * per;
                const std::vector<float> w(wa.begin() + off, wa.begin() + off + per);
                const auto& got = tap.maps[{s, static_cast<int>(brow)}];
                ASSERT_EQ(static_cast<int>(got.size()), n_layers) << name << " step " << s;
                EXPECT_LT(max_abs_diff(got[layer], w), kAttnTol) << name << " step " << s << " layer " << layer << " row " << brow;
            }
    }
}

INSTANTIATE_TEST_SUITE_P(AllRuns, SamplerParity,
                         ::testing::Combine(::testing::ValuesIn(kRuns), ::testing::ValuesIn(backend_names())), run_backend_name);

}  // namespace
}  // namespace dlmscope
