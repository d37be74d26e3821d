// Cached and threshold decoding against NVlabs/Fast-dLLM on the tiny checkpoint
// (fixtures/fast-dllm-tiny, MANIFEST.md), and every cached mode against the engine's own slow oracle.
//
//   FastDllmParity    each fixture run (prefix, dual, threshold 0.2 with none/prefix/dual), on every
//                     backend: generated ids, the canvas before every forward, each forward's kind,
//                     rows and commits, and — at the captured forwards — logits of every computed row
//                     (2e-5) and attention (5e-6)
//   CacheOracle       the cached sampler against the same sampler whose cached steps run a full forward
//                     with the cached K/V frozen (KvUse::frozen): identical canvases at every step on
//                     settings the fixture does not have (remainder schedule, temperature, random
//                     remasking, LLaDA numerics, refresh), attention of the recomputed rows within 5e-6
#include "engine/model/denoiser.h"
#include "engine/model/forward.h"
#include "engine/sampler/diffusion.h"
#include "support/fixtures.h"
#include "support/runs.h"

#include <fmt/format.h>

#include <map>
#include <tuple>

namespace dlmscope {
namespace {

using test::backend_names;
using test::max_abs_diff;
using test::tiny_model;

constexpr double kLogitTol = 2e-5;
constexpr double kAttnTol = 5e-6;

const std::vector<std::string> kFastRuns = {"prefix", "dual", "none-thr0.2", "prefix-thr0.2", "dual-thr0.2"};

std::string fast_dir(const std::string& name) { return test::fixtures() + "/fast-dllm-tiny/runs/" + name; }

struct FastRun {
    json meta, forwards;
    std::vector<int32_t> prompt, tokens, history;  // history [T+1, L]
    int L = 0;
    GenerateParams params;
};

FastRun load_fast(const std::string& name) {
    FastRun r;
    const std::string dir = fast_dir(name);
    r.meta = read_json_file(dir + "/meta.json");
    r.forwards = read_json_file(dir + "/forwards.json");
    r.prompt = test::to_i32(read_npy(dir + "/prompt.npy").as_i64());
    r.tokens = test::to_i32(read_npy(dir + "/tokens.npy").as_i64());
    r.history = test::to_i32(read_npy(dir + "/history.npy").as_i64());
    r.L = r.meta["seq_len"];
    const json& a = r.meta["args"];
    r.params.gen_length = a["gen_length"];
    r.params.block_length = a["block_length"];
    r.params.steps = a["steps"];
    r.params.temperature = a["temperature"];
    r.params.remasking = parse_remasking(a["remasking"]);
    r.params.mask_id = r.meta["mask_id"];
    r.params.cache = parse_cache_mode(r.meta["mode"]);
    if (!r.meta["threshold"].is_null()) r.params.parallel_threshold = r.meta["threshold"];
    return r;
}

// Keeps every layer's probabilities of every conditional forward, and where its rows were.
class KeepAll : public AttentionTap {
public:
    struct Forward {
        int query_begin = 0, n_queries = 0;
        std::vector<int> key_step;
        std::vector<std::vector<float>> layers;
    };
    void on_forward_begin(const TapContext& ctx) override {
        if (ctx.batch_row != 0) return;
        Forward& f = forwards[ctx.step];
        f = {ctx.query_begin, ctx.n_queries, std::vector<int>(ctx.key_step.begin(), ctx.key_step.end()), {}};
    }
    bool wants(const TapContext& ctx, int) override { return ctx.batch_row == 0; }
    void on_attention(const TapContext& ctx, int, const AttentionProbs& p) override {
        forwards[ctx.step].layers.emplace_back(p.data, p.data + static_cast<int64_t>(p.n_heads) * p.n_queries * p.n_keys);
    }
    std::map<int, Forward> forwards;
};

// Rows [r0, r0 + n) of a [H, Lq, Lk] map.
std::vector<float> rows_of(const std::vector<float>& m, int H, int Lq, int Lk, int r0, int n) {
    std::vector<float> out;
    for (int h = 0; h < H; ++h) {
        const auto b = m.begin() + (static_cast<int64_t>(h) * Lq + r0) * Lk;
        out.insert(out.end(), b, b + static_cast<int64_t>(n) * Lk);
    }
    return out;
}

class FastDllmParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(FastDllmParity, SamplerMatchesReference) {
    const auto& [name, backend] = GetParam();
    DLM_SKIP_UNAVAILABLE(backend);
    const FastRun r = load_fast(name);
    const Model& m = tiny_model(backend);
    SeededNoise noise(0);  // temperature 0, low-confidence: never drawn
    KeepAll tap;
    GenerateHooks hooks;
    hooks.tap = &tap;
    const GenerateResult res = generate(m, r.prompt, r.params, noise, hooks);

    // Ids, every canvas, each forward's kind / rows / commits.
    EXPECT_EQ(res.canvas, r.tokens) << name << ": final canvas";
    const int T = static_cast<int>(r.forwards.size());
    ASSERT_EQ(static_cast<int>(res.steps.size()), T) << name << ": forwards";
    ASSERT_EQ(res.history.size(), r.history.size());
    for (int t = 0; t <= T; ++t) {
        const auto b = static_cast<int64_t>(t) * r.L;
        EXPECT_TRUE(std::equal(res.history.begin() + b, res.history.begin() + b + r.L, r.history.begin() + b))
            << name << ": canvas before forward " << t << " differs";
    }
    std::vector<int> per_block;
    for (const json& f : r.meta["forwards_per_block"]) per_block.push_back(f);
    EXPECT_EQ(res.steps_per_block, per_block);
    for (int t = 0; t < T; ++t) {
        const json& f = r.forwards[t];
        const StepRecord& s = res.steps[t];
        EXPECT_EQ(forward_kind_name(s.kind), f["kind"].get<std::string>()) << name << " forward " << t;
        EXPECT_EQ(s.block, f["block"].get<int>()) << name << " forward " << t;
        EXPECT_EQ(s.row_begin, f["row_offset"].get<int>()) << name << " forward " << t;
        EXPECT_EQ(s.row_end - s.row_begin, f["n_rows"].get<int>()) << name << " forward " << t;
        EXPECT_EQ(static_cast<int>(s.positions.size()), f["commits"].get<int>()) << name << " forward " << t;
    }

    // Attention at the captured forwards: [n_layers, 1, H, n_rows, L].
    const int H = m.config().n_heads;
    for (int k : r.meta["captured_forwards"].get<std::vector<int>>()) {
        const std::vector<float> want = read_npy(fast_dir(name) + fmt::format("/attn_step{}.npy", k)).as_f32();
        const KeepAll::Forward& got = tap.forwards.at(k);
        ASSERT_EQ(static_cast<int>(got.layers.size()), m.config().n_layers);
        const int64_t per = static_cast<int64_t>(H) * got.n_queries * r.L;
        ASSERT_EQ(static_cast<int64_t>(want.size()), per * m.config().n_layers) << name << " forward " << k << ": attention shape";
        double worst = 0.0;
        for (int l = 0; l < m.config().n_layers; ++l)
            worst = test::worse(worst, max_abs_diff(got.layers[l], std::vector<float>(want.begin() + l * per, want.begin() + (l + 1) * per)));
        EXPECT_LT(worst, kAttnTol) << name << " forward " << k << ": attention";
        // Provenance: the recomputed rows are the forward's, cached keys are older than the step.
        EXPECT_EQ(got.query_begin, r.forwards[k]["row_offset"].get<int>());
        for (int j = 0; j < r.L; ++j) {
            const bool fresh = j >= got.query_begin && j < got.query_begin + got.n_queries;
            if (fresh) EXPECT_EQ(got.key_step[j], k) << "key " << j;
            else EXPECT_LT(got.key_step[j], k) << "key " << j;
        }
    }
}

// Logits of every computed row at the captured forwards, replaying the reference's canvases through
// the forward with the cache as the reference filled it.
TEST_P(FastDllmParity, ForwardLogitsOfEveryComputedRow) {
    const auto& [name, backend] = GetParam();
    DLM_SKIP_UNAVAILABLE(backend);
    const FastRun r = load_fast(name);
    const Model& m = tiny_model(backend);
    const int V = m.config().output_width;
    std::vector<int> captured = r.meta["captured_forwards"].get<std::vector<int>>();
    KvCache cache;
    cache.reset(m.config(), r.L);
    ForwardState st;
    for (int t = 0; t <= captured.back(); ++t) {
        const json& f = r.forwards[t];
        const std::vector<int32_t> x(r.history.begin() + static_cast<int64_t>(t) * r.L, r.history.begin() + static_cast<int64_t>(t + 1) * r.L);
        ForwardOptions fo;
        fo.ctx.step = t;
        const std::string kind = f["kind"];
        if (kind == "full") {
            fo.kv = r.params.cache == CacheMode::none ? KvUse::none : KvUse::fill;
            fo.cache = &cache;
        } else {
            fo.kv = KvUse::reuse;
            fo.cache = &cache;
            fo.row_begin = f["row_offset"];
            fo.row_end = fo.row_begin + f["n_rows"].get<int>();
        }
        std::vector<float> logits;
        st.run(m, x, fo, logits);
        ASSERT_EQ(static_cast<int64_t>(logits.size()), static_cast<int64_t>(f["n_rows"].get<int>()) * V);
        if (std::find(captured.begin(), captured.end(), t) == captured.end()) continue;
        const std::vector<float> want = read_npy(fast_dir(name) + fmt::format("/logits_step{}.npy", t)).as_f32();
        EXPECT_LT(max_abs_diff(logits, want), kLogitTol) << name << " forward " << t << " (" << kind << ")";
    }
}

INSTANTIATE_TEST_SUITE_P(AllRuns, FastDllmParity, ::testing::Combine(::testing::ValuesIn(kFastRuns), ::testing::ValuesIn(backend_names())),
                         test::run_backend_name);

// ---- every cached mode against the slow oracle, on settings the fixture does not have ----------

struct OracleCase {
    const char* name;
    const char* base;  // a mmada-tiny run for prompt and sampler settings
    CacheMode cache;
    double threshold = 0.0;
    int refresh = 0;
    double temperature = -1.0;  // < 0: the base run's
    Remasking remasking = Remasking::low_confidence;
};

const OracleCase kOracleCases[] = {
    {"prefix_t0", "t0", CacheMode::prefix},
    {"dual_t0", "t0", CacheMode::dual},
    {"dual_remainder", "remainder", CacheMode::dual},
    {"prefix_remainder_thr", "remainder", CacheMode::prefix, 0.3},
    {"dual_llada_thr", "llada-t0", CacheMode::dual, 0.5},
    {"dual_temperature", "t0", CacheMode::dual, 0.0, 0, 0.7},
    {"prefix_random_remask", "t0", CacheMode::prefix, 0.0, 0, 0.0, Remasking::random},
    {"dual_refresh2", "t0", CacheMode::dual, 0.0, 2},
    {"prefix_refresh3_thr", "remainder", CacheMode::prefix, 0.25, 3},
};

// gtest prints a parameter next to each test's name; without this, as raw bytes.
void PrintTo(const OracleCase& c, std::ostream* os) { *os << c.name; }

class CacheOracle : public ::testing::TestWithParam<OracleCase> {};

TEST_P(CacheOracle, SameCanvasesAsTheFrozenFullForward) {
    const OracleCase& oc = GetParam();
    const test::RunFixture base = test::load_run(oc.base);
    GenerateParams p = base.params;
    p.cfg_scale = 0.0;
    p.cache = oc.cache;
    p.parallel_threshold = oc.threshold;
    p.cache_refresh = oc.refresh;
    if (oc.temperature >= 0.0) p.temperature = oc.temperature;
    p.remasking = oc.remasking;
    const Model& m = tiny_model(kernels::select_backend("auto").name());

    SeededNoise n1(7), n2(7);
    KeepAll fast_tap, slow_tap;
    GenerateHooks h1, h2;
    h1.tap = &fast_tap;
    h2.tap = &slow_tap;
    const GenerateResult fast = generate(m, base.prompt, p, n1, h1);
    p.cache_oracle = true;
    const GenerateResult slow = generate(m, base.prompt, p, n2, h2);

    ASSERT_EQ(fast.steps.size(), slow.steps.size());
    EXPECT_EQ(fast.history, slow.history) << "a canvas differs";
    EXPECT_EQ(fast.steps_per_block, slow.steps_per_block);
    const int H = m.config().n_heads, L = fast.canvas_length;
    double worst = 0.0;
    int cached_steps = 0;
    for (const StepRecord& s : fast.steps) {
        const KeepAll::Forward& a = fast_tap.forwards.at(s.step);
        const KeepAll::Forward& b = slow_tap.forwards.at(s.step);
        EXPECT_EQ(a.key_step, b.key_step) << "step " << s.step;
        if (s.kind == ForwardKind::full) continue;
        ++cached_steps;
        EXPECT_EQ(a.query_begin, s.row_begin);
        EXPECT_EQ(a.n_queries, s.row_end - s.row_begin);
        EXPECT_EQ(b.n_queries, L);  // the oracle computes every row
        for (size_t l = 0; l < a.layers.size(); ++l)
            worst = test::worse(worst, max_abs_diff(a.layers[l], rows_of(b.layers[l], H, L, L, s.row_begin, a.n_queries)));
    }
    EXPECT_GT(cached_steps, 0) << "no cached step ran";
    EXPECT_LT(worst, kAttnTol);
}

INSTANTIATE_TEST_SUITE_P(Settings, CacheOracle, ::testing::ValuesIn(kOracleCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// A refresh makes every N-th step of a block a full forward.
TEST(CacheRefresh, EveryNthStepOfABlockIsFull) {
    const test::RunFixture base = test::load_run("t0");
    GenerateParams p = base.params;
    p.cache = CacheMode::dual;
    p.cache_refresh = 3;
    SeededNoise noise(0);
    const GenerateResult res = generate(tiny_model(), base.prompt, p, noise);
    ASSERT_FALSE(res.steps.empty());
    for (const StepRecord& s : res.steps)
        EXPECT_EQ(s.kind == ForwardKind::full, s.step_in_block % 3 == 0) << "step " << s.step << " (in block " << s.step_in_block << ")";
}

// The audit's exact forward: zero drift at full steps (not audited), small but non-zero at cached ones.
TEST(CacheAudit, RecordsDriftAtCachedSteps) {
    const test::RunFixture base = test::load_run("t0");
    GenerateParams p = base.params;
    p.cache = CacheMode::dual;
    p.cache_audit = true;
    SeededNoise n1(0), n2(0);
    const Model& m = tiny_model();
    const GenerateResult audited = generate(m, base.prompt, p, n1);
    p.cache_audit = false;
    const GenerateResult plain = generate(m, base.prompt, p, n2);
    EXPECT_EQ(audited.history, plain.history) << "auditing changed the run";
    const size_t per = static_cast<size_t>(m.config().n_layers) * m.config().n_heads * kNumDriftStats;
    int audited_steps = 0;
    double max_l1 = 0.0;
    for (const StepRecord& s : audited.steps) {
        EXPECT_EQ(s.audit.present, s.kind != ForwardKind::full) << "step " << s.step;
        if (!s.audit.present) continue;
        ++audited_steps;
        ASSERT_EQ(s.audit.attn.size(), per);
        for (size_t i = 0; i < per; i += kNumDriftStats) {
            EXPECT_GE(s.audit.attn[i], 0.0f);
            EXPECT_LE(s.audit.attn[i], s.audit.attn[i + 1] + 1e-6f);  // mean ≤ max
            EXPECT_LE(s.audit.attn[i + 1], 2.0f + 1e-5f);
            EXPECT_GE(s.audit.attn[i + 2], 0.0f);
            EXPECT_LE(s.audit.attn[i + 2], 1.0f + 1e-6f);
            max_l1 = std::max(max_l1, static_cast<double>(s.audit.attn[i + 1]));
        }
        EXPECT_GT(s.audit.argmax_rows, 0);
        EXPECT_LE(s.audit.argmax_agree, s.audit.argmax_rows);
    }
    EXPECT_GT(audited_steps, 0);
    // The suffix of a dual cache holds masks that later steps filled in the canvas: the cached
    // attention really differs from the exact one somewhere.
    EXPECT_GT(max_l1, 1e-4);
}

TEST(CacheParams, Refusals) {
    const test::RunFixture base = test::load_run("t0");
    const ModelConfig& c = tiny_model().config();
    const int P = static_cast<int>(base.prompt.size());
    const auto err = [&](GenerateParams p) { return test::message_of([&] { validate_params(p, P, c); }); };
    GenerateParams p = base.params;
    p.cache = CacheMode::dual;
    p.cfg_scale = 1.0;
    EXPECT_NE(err(p).find("cfg_scale 1 is not supported with cache dual"), std::string::npos) << err(p);
    p = base.params;
    p.parallel_threshold = 1.0;
    EXPECT_NE(err(p).find("parallel_threshold must lie strictly between 0 and 1"), std::string::npos) << err(p);
    p.parallel_threshold = -0.5;
    EXPECT_NE(err(p).find("parallel_threshold"), std::string::npos);
    p = base.params;
    p.cache_refresh = 2;
    EXPECT_NE(err(p).find("cache_refresh 2 needs a cache"), std::string::npos) << err(p);
    p = base.params;
    p.cache_audit = true;
    EXPECT_NE(err(p).find("cache_audit needs a cache"), std::string::npos) << err(p);
    p = base.params;
    p.cache = CacheMode::prefix;
    p.cache_refresh = -1;
    EXPECT_NE(err(p).find("cache_refresh must be >= 0"), std::string::npos) << err(p);
    EXPECT_EQ(test::message_of([] { parse_cache_mode("both"); }), "unknown cache mode 'both' (expected none, prefix or dual)");
}

}  // namespace
}  // namespace dlmscope
