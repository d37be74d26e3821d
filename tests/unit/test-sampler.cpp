// Unit tests of the sampler's pieces on their own: the commit rules (select.h), a row's prediction,
// validate_params and the schedule helpers (schedule.h, with the worked transfer schedules of spec
// 5.2), and the K/V cache's bookkeeping with the forward's checks.
#include "engine/checkpoint/config.h"
#include "engine/model/denoiser.h"
#include "engine/model/forward.h"
#include "engine/model/kv-cache.h"
#include "engine/sampler/diffusion.h"
#include "engine/sampler/noise.h"
#include "engine/sampler/schedule.h"
#include "engine/sampler/select.h"
#include "support/checkpoints.h"
#include "support/fixtures.h"
#include "support/runs.h"

#include <gmock/gmock.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

using ::testing::HasSubstr;
using test::error_of;
using test::message_of;

// ---- commit rules ----------------------------------------------------------------------------

TEST(SelectTopK, HighestConfidenceFirstTiesToTheLowestPosition) {
    const std::vector<int> cand = {3, 5, 8, 9, 12};
    const std::vector<double> conf = {0.2, 0.7, 0.7, 0.1, 0.7};
    EXPECT_EQ(select_top_k(cand, conf, 1), (std::vector<int>{5}));
    EXPECT_EQ(select_top_k(cand, conf, 2), (std::vector<int>{5, 8}));
    EXPECT_EQ(select_top_k(cand, conf, 4), (std::vector<int>{3, 5, 8, 12}));  // ascending positions
    EXPECT_EQ(select_top_k(cand, conf, 9), (std::vector<int>{3, 5, 8, 9, 12}));  // never more than there are
    EXPECT_TRUE(select_top_k(cand, conf, 0).empty());
    EXPECT_TRUE(select_top_k({}, {}, 3).empty());
}

TEST(SelectThreshold, TheMostConfidentAlwaysAndEveryOtherAtOrAboveT) {
    const std::vector<int> cand = {10, 11, 12, 13};
    EXPECT_EQ(select_threshold(cand, std::vector<double>{0.1, 0.3, 0.2, 0.05}, 0.9), (std::vector<int>{11}));
    EXPECT_EQ(select_threshold(cand, std::vector<double>{0.95, 0.3, 0.9, 0.91}, 0.9), (std::vector<int>{10, 12, 13}));  // ≥, not >
    // Ties for the top below T: the lowest position.
    EXPECT_EQ(select_threshold(cand, std::vector<double>{0.2, 0.4, 0.4, 0.1}, 0.9), (std::vector<int>{11}));
    EXPECT_EQ(select_threshold(cand, std::vector<double>{1.0, 1.0, 1.0, 1.0}, 0.5), cand);
    EXPECT_TRUE(select_threshold({}, {}, 0.5).empty());
}

// ---- one row's prediction --------------------------------------------------------------------

class FixedNoise final : public NoiseSource {
public:
    void gumbel_uniforms(int, int, std::span<double> u) override {
        for (size_t v = 0; v < u.size(); ++v) u[v] = v == 2 ? 0.999999 : 0.5;  // −ln U ≈ 0 makes id 2 win
    }
    float remask_uniform(int step, int pos) override { return 0.01f * static_cast<float>(step + pos); }
};

TEST(Predict, GreedyArgmaxAndItsSoftmaxProbability) {
    GenerateParams p;
    FixedNoise noise;
    std::vector<float> lg = {1.0f, 3.0f, 3.0f, 0.5f};
    const Prediction pr = predict(lg, p, noise, 0, 0);
    EXPECT_EQ(pr.token, 1);  // the first of two maxima
    const double z = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(0.5);
    EXPECT_NEAR(pr.confidence, std::exp(3.0) / z, 1e-15);  // float64 softmax (MMaDA)
    p.flavor = SamplerFlavor::llada;
    std::vector<float> lg2 = {1.0f, 3.0f, 3.0f, 0.5f};
    EXPECT_NEAR(predict(lg2, p, noise, 0, 0).confidence, std::exp(3.0) / z, 1e-7);  // float32
}

TEST(Predict, TemperatureDrawsTheGumbelMaximumAndRandomRemaskingTheUniform) {
    GenerateParams p;
    p.temperature = 1.0;
    p.remasking = Remasking::random;
    FixedNoise noise;
    std::vector<float> lg = {1.0f, 3.0f, 2.0f, 0.5f};
    const Prediction pr = predict(lg, p, noise, 4, 6);
    EXPECT_EQ(pr.token, 2);
    EXPECT_FLOAT_EQ(static_cast<float>(pr.confidence), 0.1f);  // the uniform of (step 4, position 6)
}

TEST(Predict, LladaEosOptionsWriteMinusInfinity) {
    GenerateParams p;
    p.logits_eos_inf = true;
    p.eos_id = 1;
    FixedNoise noise;
    std::vector<float> lg = {1.0f, 9.0f, 2.0f};
    EXPECT_EQ(predict(lg, p, noise, 0, 0).token, 2);
    EXPECT_EQ(lg[1], -std::numeric_limits<float>::infinity());
}

// ---- generation parameters (validate_params, spec 5.2) ---------------------------------------

// The tiny checkpoint's config, parsed.
ModelConfig tiny_model_config() { return parse_model_config(test::tiny_config(), "config.json"); }

GenerateParams t0_params() {
    GenerateParams p;
    p.gen_length = 64;
    p.block_length = 16;
    p.steps = 32;
    p.mask_id = 287;
    return p;
}

std::string params_error(const GenerateParams& p, int prompt_length, const ModelConfig& c) {
    return error_of([&] { validate_params(p, prompt_length, c); });
}

TEST(Params, T0IsValid) { EXPECT_NO_THROW(validate_params(t0_params(), 39, tiny_model_config())); }

TEST(Params, GenLengthNotMultipleOfBlockLength) {
    GenerateParams p = t0_params();
    p.gen_length = 60;
    const std::string msg = params_error(p, 39, tiny_model_config());
    EXPECT_THAT(msg, HasSubstr("gen_length 60"));
    EXPECT_THAT(msg, HasSubstr("block_length 16"));
}

TEST(Params, StepsNotMultipleOfBlocks) {
    GenerateParams p = t0_params();
    p.steps = 30;
    const std::string msg = params_error(p, 39, tiny_model_config());
    EXPECT_THAT(msg, HasSubstr("steps 30"));
    EXPECT_THAT(msg, HasSubstr("number of blocks 4"));
}

TEST(Params, PromptLongerThanModelAllows) {
    ModelConfig c = tiny_model_config();
    c.max_sequence_length = 40;
    const std::string msg = params_error(t0_params(), 39, c);
    EXPECT_THAT(msg, HasSubstr("39 tokens"));
    EXPECT_THAT(msg, HasSubstr("gen_length (64)"));
    EXPECT_THAT(msg, HasSubstr("103"));
    EXPECT_THAT(msg, HasSubstr("max_sequence_length 40"));
    // Exactly at the limit is fine.
    c.max_sequence_length = 103;
    EXPECT_NO_THROW(validate_params(t0_params(), 39, c));
}

TEST(Params, NonPositiveValues) {
    const ModelConfig c = tiny_model_config();
    GenerateParams p = t0_params();
    p.gen_length = 0;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("gen_length must be positive, got 0"));
    p = t0_params();
    p.block_length = -16;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("block_length must be positive, got -16"));
    p = t0_params();
    p.steps = 0;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("steps must be positive, got 0"));
    EXPECT_THAT(params_error(t0_params(), 0, c), HasSubstr("prompt is empty"));
}

TEST(Params, TemperatureAndCfg) {
    const ModelConfig c = tiny_model_config();
    GenerateParams p = t0_params();
    p.temperature = -0.5;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("temperature must be >= 0, got -0.5"));
    p.temperature = std::nan("");
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("temperature"));
    p = t0_params();
    p.cfg_scale = -1.0;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("cfg_scale must be >= 0, got -1"));
}

TEST(Params, MaskIdOutsideVocabulary) {
    const ModelConfig c = tiny_model_config();
    GenerateParams p = t0_params();
    p.mask_id = 320;
    const std::string msg = params_error(p, 39, c);
    EXPECT_THAT(msg, HasSubstr("mask id 320"));
    EXPECT_THAT(msg, HasSubstr("0..319"));
    p.mask_id = -1;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("mask id -1"));
}

TEST(Params, ParseNames) {
    EXPECT_EQ(parse_remasking("random"), Remasking::random);
    EXPECT_EQ(parse_remasking("low_confidence"), Remasking::low_confidence);
    EXPECT_THAT(error_of([] { parse_remasking("entropy"); }), HasSubstr("'entropy'"));
    EXPECT_EQ(parse_sampler_flavor("llada"), SamplerFlavor::llada);
    EXPECT_THAT(error_of([] { parse_sampler_flavor("dream"); }), HasSubstr("'dream'"));
}

// ---- schedule helpers ------------------------------------------------------------------------

// One row of spec 5.2's worked examples.
struct ScheduleCase {
    int gen_length, block_length, steps;
    int blocks, steps_per_block;
    std::vector<int> per_block;  // k_s of every block (all blocks start fully masked)
};

std::vector<int> repeat(int value, int n) { return std::vector<int>(static_cast<size_t>(n), value); }
std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(Schedule, WorkedExamplesOfSpec52) {
    const std::vector<ScheduleCase> cases = {
        {128, 32, 128, 4, 32, repeat(1, 32)},
        {128, 128, 128, 1, 128, repeat(1, 128)},
        {512, 128, 256, 4, 64, repeat(2, 64)},
        {128, 32, 40, 4, 10, {4, 4, 3, 3, 3, 3, 3, 3, 3, 3}},
        {128, 32, 64, 4, 16, repeat(2, 16)},
        {512, 128, 768, 4, 192, concat(repeat(1, 128), repeat(0, 64))},
        {64, 16, 32, 4, 8, repeat(2, 8)},  // the t0 fixture (meta.json num_transfer_tokens_per_block)
    };
    ModelConfig c = tiny_model_config();
    c.max_sequence_length = 4096;
    for (const ScheduleCase& sc : cases) {
        SCOPED_TRACE(::testing::Message() << "G=" << sc.gen_length << " BL=" << sc.block_length << " steps=" << sc.steps);
        GenerateParams p = t0_params();
        p.gen_length = sc.gen_length;
        p.block_length = sc.block_length;
        p.steps = sc.steps;
        EXPECT_NO_THROW(validate_params(p, 10, c));
        const int blocks = sc.gen_length / sc.block_length;
        ASSERT_EQ(blocks, sc.blocks);
        ASSERT_EQ(sc.steps / blocks, sc.steps_per_block);
        const std::vector<int> k = transfer_schedule(sc.block_length, sc.steps_per_block);
        EXPECT_EQ(k, sc.per_block);
        int sum = 0, forwards = 0;
        for (int b = 0; b < blocks; ++b, forwards += static_cast<int>(k.size()))
            for (int x : k) sum += x;
        EXPECT_EQ(sum, sc.gen_length);   // every position gets unmasked
        EXPECT_EQ(forwards, sc.steps);   // one forward per step, k_s = 0 included
    }
}

TEST(Schedule, PartlyMaskedBlockAndLargerCountsFirst) {
    EXPECT_EQ(transfer_schedule(7, 3), (std::vector<int>{3, 2, 2}));
    EXPECT_EQ(transfer_schedule(0, 4), (std::vector<int>{0, 0, 0, 0}));
    EXPECT_EQ(transfer_schedule(5, 5), (std::vector<int>{1, 1, 1, 1, 1}));
    EXPECT_EQ(transfer_schedule(9, 1), (std::vector<int>{9}));
}

TEST(Schedule, StepsPerBlockFixedOrVarying) {
    GenerateParams p;
    p.gen_length = 64;
    p.block_length = 16;
    p.steps = 32;  // 8 per block
    EXPECT_EQ(fixed_steps_per_block(p), 8);
    EXPECT_EQ(max_steps(p), 32);
    p.cache = CacheMode::dual;
    EXPECT_EQ(fixed_steps_per_block(p), 8);
    p.steps = 4;  // 1 per block: the full forward, then Fast-dLLM's closing no-op cached forward
    EXPECT_EQ(fixed_steps_per_block(p), 2);
    p.steps = 128;  // 32 per block but 16 masks: a cached block ends after 16
    EXPECT_EQ(fixed_steps_per_block(p), 16);
    p.parallel_threshold = 0.5;
    EXPECT_EQ(fixed_steps_per_block(p), 0);
    EXPECT_EQ(max_steps(p), 4 * 17);  // one step per position, plus the no-op, per block
    p.cache = CacheMode::none;
    EXPECT_EQ(max_steps(p), 64);
}

// What the loop does agrees with fixed_steps_per_block for a cache without threshold.
TEST(Schedule, CachedBlocksTakeThePredictedSteps) {
    const test::RunFixture r = test::load_run("t0");
    for (int steps : {4, 32, 128}) {
        GenerateParams p = r.params;
        p.steps = steps;
        p.cache = CacheMode::prefix;
        SeededNoise noise(0);
        const GenerateResult res = generate(test::tiny_model(), r.prompt, p, noise);
        EXPECT_EQ(res.steps_per_block, std::vector<int>(4, fixed_steps_per_block(p))) << "steps " << steps;
        EXPECT_EQ(res.canvas.end() - std::find(res.canvas.begin(), res.canvas.end(), p.mask_id), 0) << "masks left";
    }
}

// A mask token inside the prompt is a candidate where the step computes its row (full forwards),
// as in Fast-dLLM, never asked of a cached step that does not compute it.
TEST(Schedule, AMaskInThePromptUnderACache) {
    const test::RunFixture r = test::load_run("t0");
    std::vector<int32_t> prompt = r.prompt;
    prompt[5] = r.params.mask_id;
    for (CacheMode mode : {CacheMode::prefix, CacheMode::dual}) {
        GenerateParams p = r.params;
        p.cache = mode;
        SeededNoise n1(0), n2(0);
        const GenerateResult fast = generate(test::tiny_model(), prompt, p, n1);
        p.cache_oracle = true;
        const GenerateResult slow = generate(test::tiny_model(), prompt, p, n2);
        EXPECT_EQ(fast.history, slow.history) << cache_mode_name(mode);
        for (const StepRecord& s : fast.steps)
            for (int pos : s.positions) {
                if (pos < static_cast<int>(prompt.size())) {
                    EXPECT_EQ(s.kind, ForwardKind::full) << "step " << s.step;
                }
            }
        EXPECT_EQ(fast.steps_per_block, std::vector<int>(4, 8)) << "the schedule bounds every block";
    }
}

TEST(Schedule, CacheModeNames) {
    for (CacheMode m : {CacheMode::none, CacheMode::prefix, CacheMode::dual}) EXPECT_EQ(parse_cache_mode(cache_mode_name(m)), m);
    EXPECT_STREQ(forward_kind_name(ForwardKind::dual), "dual");
}

// ---- the K/V cache and the forward's checks ---------------------------------------------------

TEST(KvCache, StampsAndCoverage) {
    const ModelConfig& c = test::tiny_model().config();
    KvCache cache;
    cache.reset(c, 10);
    EXPECT_EQ(cache.length(), 10);
    EXPECT_EQ(cache.row_width(), c.n_kv_heads * c.head_dim);
    for (int s : cache.step_of()) EXPECT_EQ(s, -1);
    EXPECT_FALSE(cache.covers_outside(2, 5));
    cache.stamp(0, 10, 0);
    EXPECT_TRUE(cache.covers_outside(2, 5));
    cache.stamp(2, 5, 3);
    EXPECT_EQ(std::vector<int>(cache.step_of().begin(), cache.step_of().end()), (std::vector<int>{0, 0, 3, 3, 3, 0, 0, 0, 0, 0}));
    // A forward outside generation (step −1) still fills it.
    cache.reset(c, 10);
    cache.stamp(0, 10, -1);
    EXPECT_TRUE(cache.covers_outside(0, 1));
}

TEST(KvCache, ForwardRefusesAnEmptyCacheAndBadRows) {
    const Model& m = test::tiny_model();
    const test::RunFixture r = test::load_run("t0");
    const std::vector<int32_t> x(r.history.begin(), r.history.begin() + r.L);
    KvCache cache;
    cache.reset(m.config(), r.L);
    ForwardState st;
    std::vector<float> logits;
    ForwardOptions fo;
    fo.kv = KvUse::reuse;
    fo.cache = &cache;
    fo.row_begin = 39;
    fo.row_end = 55;
    EXPECT_THAT(message_of([&] { st.run(m, x, fo, logits); }), ::testing::HasSubstr("holds no entry for some position outside rows [39, 55)"));
    fo.row_end = r.L + 1;
    EXPECT_THAT(message_of([&] { st.run(m, x, fo, logits); }), ::testing::HasSubstr("are not inside the canvas"));
    KvCache other;
    other.reset(m.config(), r.L - 1);
    fo.cache = &other;
    fo.row_end = 55;
    EXPECT_THAT(message_of([&] { st.run(m, x, fo, logits); }), ::testing::HasSubstr("sized for another canvas"));
    // Filled by a full forward, the reused rows' logits equal the frozen oracle's; asking logits of a
    // row the forward does not compute is an error.
    ForwardOptions fill;
    fill.kv = KvUse::fill;
    fill.cache = &cache;
    st.run(m, x, fill, logits);
    const std::vector<int> rows = {40, 41, 54};
    fo.cache = &cache;
    fo.logit_rows = rows;
    std::vector<float> reused, frozen;
    st.run(m, x, fo, reused);
    fo.kv = KvUse::frozen;
    st.run(m, x, fo, frozen);
    EXPECT_LT(test::max_abs_diff(reused, frozen), 1e-5);
    // Same canvas as the fill: the cached keys are the exact ones, so this is the full forward's too.
    ForwardOptions plain;
    plain.logit_rows = rows;
    std::vector<float> full;
    st.run(m, x, plain, full);
    EXPECT_LT(test::max_abs_diff(reused, full), 1e-5);
    fo.kv = KvUse::reuse;
    const std::vector<int> outside = {38};
    fo.logit_rows = outside;
    EXPECT_THAT(message_of([&] { st.run(m, x, fo, logits); }), ::testing::HasSubstr("position 38, which this forward does not compute"));
}

}  // namespace
}  // namespace dlmscope
