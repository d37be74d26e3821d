// Analysis: every metric on hand-made matrices with known answers, the run reader on synthetic runs
// written in the real format (tools/synthetic-run.h), and bad inputs with their messages.
//
//   1. metrics    uniform, one-hot and identity rows; JS divergence; rollout; aggregation
//   2. analysis   analyze_run on synthetic runs with chosen maps: report.json, metrics.csv, rollout.npy
//   3. bad input  missing arrays file, truncated npz, unknown version, not a manifest, …
#include "analysis/analyze.h"
#include "analysis/metrics.h"
#include "analysis/run-reader.h"
#include "capture/npz.h"
#include "capture/stats.h"
#include "core/error.h"
#include "core/npy.h"
#include "support/fixtures.h"
#include "tools/synthetic-run.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace dlmscope::analysis {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using test::message_of;

fs::path temp_dir(const std::string& name) { return test::temp_dir("analysis-" + name); }

// K×K matrices with known answers.
std::vector<float> uniform(int K) { return std::vector<float>(static_cast<size_t>(K) * K, 1.0f / K); }
std::vector<float> identity(int K) {
    std::vector<float> m(static_cast<size_t>(K) * K, 0.0f);
    for (int i = 0; i < K; ++i) m[static_cast<size_t>(i) * K + i] = 1.0f;
    return m;
}
// Row i puts all its mass on key (i + shift) mod K.
std::vector<float> one_hot(int K, int shift) {
    std::vector<float> m(static_cast<size_t>(K) * K, 0.0f);
    for (int i = 0; i < K; ++i) m[static_cast<size_t>(i) * K + (i + shift) % K] = 1.0f;
    return m;
}

// ---- 1. metrics on hand-made matrices --------------------------------------------------------

constexpr int K = 8;
const std::vector<uint8_t> kClasses = {0, 0, 0, 1, 1, 2, 2, 2};  // 3 prompt, 2 generated, 3 masked keys

TEST(Metrics, UniformRows) {
    const auto m = uniform(K);
    const MetricValues v = map_metrics({m.data(), K, K, 0}, kClasses, all_rows(K));
    EXPECT_NEAR(v[kEntropy], std::log(8.0), 1e-6);
    EXPECT_NEAR(v[kEntropyNorm], 1.0, 1e-6);
    EXPECT_NEAR(v[kDensity], 1.0, 1e-6);
    EXPECT_NEAR(v[kFocusSelf], 1.0 / 8, 1e-7);
    // Local window ±2: rows 0 and 7 see 3 keys, rows 1 and 6 see 4, rows 2–5 see 5 → 34 / 64.
    EXPECT_NEAR(v[kFocusLocal], 34.0 / 64, 1e-7);
    EXPECT_NEAR(v[kMassPrompt], 3.0 / 8, 1e-7);
    EXPECT_NEAR(v[kMassGenerated], 2.0 / 8, 1e-7);
    EXPECT_NEAR(v[kMassMasked], 3.0 / 8, 1e-7);
    EXPECT_NEAR(v[kMassSink], 1.0 / 8, 1e-7);
    EXPECT_TRUE(std::isnan(v[kStepChange]));
}

TEST(Metrics, OneHotRows) {
    const auto m = one_hot(K, 3);
    const MetricValues v = map_metrics({m.data(), K, K, 0}, kClasses, all_rows(K));
    EXPECT_NEAR(v[kEntropy], 0.0, 1e-12);
    EXPECT_NEAR(v[kEntropyNorm], 0.0, 1e-12);
    EXPECT_NEAR(v[kDensity], 1.0 / K, 1e-12);
    EXPECT_NEAR(v[kFocusSelf], 0.0, 1e-12);
    EXPECT_NEAR(v[kFocusLocal], 0.0, 1e-12);  // every target is 3 (or 5) away, outside ±2
    EXPECT_NEAR(v[kMassSink], 1.0 / K, 1e-12);  // only row 5 attends key 0
    EXPECT_NEAR(v[kMassPrompt] + v[kMassGenerated] + v[kMassMasked], 1.0, 1e-12);
}

TEST(Metrics, IdentityRows) {
    const auto m = identity(K);
    const MetricValues v = map_metrics({m.data(), K, K, 0}, kClasses, all_rows(K));
    EXPECT_NEAR(v[kFocusSelf], 1.0, 1e-12);
    EXPECT_NEAR(v[kFocusLocal], 1.0, 1e-12);
    EXPECT_NEAR(v[kEntropy], 0.0, 1e-12);
    EXPECT_NEAR(v[kDensity], 1.0 / K, 1e-12);
    // Rows 3–4 only (a "generated" row set): their self keys are generated keys.
    const std::vector<int> gen = {3, 4};
    const MetricValues g = map_metrics({m.data(), K, K, 0}, kClasses, gen);
    EXPECT_NEAR(g[kMassGenerated], 1.0, 1e-12);
    EXPECT_NEAR(g[kMassPrompt], 0.0, 1e-12);
    // A view of rows 2…4 of the canvas (first_row = 2): self is still the diagonal of the canvas.
    const MetricValues part = map_metrics({m.data() + 2 * K, 3, K, 2}, kClasses, all_rows(3));
    EXPECT_NEAR(part[kFocusSelf], 1.0, 1e-12);
}

TEST(Metrics, EmptyRowSetIsNaN) {
    const auto m = uniform(K);
    const MetricValues v = map_metrics({m.data(), K, K, 0}, kClasses, {});
    for (double x : v) EXPECT_TRUE(std::isnan(x));
    EXPECT_TRUE(std::isnan(mean_block_mass({m.data(), K, K, 0}, {}, 0, 3)));
}

TEST(Metrics, FromCaptureStatisticsAgreeWithMaps) {
    // The capture's head_stats on a mixed matrix, turned into metrics, equals map_metrics.
    std::vector<float> m(static_cast<size_t>(K) * K);
    for (int i = 0; i < K; ++i) {
        float s = 0.0f;
        for (int j = 0; j < K; ++j) s += m[i * K + j] = 1.0f + static_cast<float>((i * 7 + j * 3) % 5) + (i == j ? 4.0f : 0.0f);
        for (int j = 0; j < K; ++j) m[i * K + j] /= s;
    }
    const std::vector<int32_t> canvas = {5, 6, 7, 8, 9, 99, 99, 99};  // P = 3; mask id 99
    const std::vector<uint8_t> cls = key_classes(canvas, 3, 99);
    EXPECT_EQ(cls, kClasses);
    std::array<float, kNumRowSets * kNumStats> st;
    head_stats(m.data(), 0, K, K, cls, 3, st);
    const std::vector<int> rows_of[kNumRowSets] = {all_rows(K), {3, 4, 5, 6, 7}, {5, 6, 7}};
    for (int rs = 0; rs < kNumRowSets; ++rs) {
        const MetricValues a = metrics_from_stats({st.data() + rs * kNumStats, kNumStats}, K);
        const MetricValues b = map_metrics({m.data(), K, K, 0}, cls, rows_of[rs]);
        for (int mi = 0; mi < kStepChange; ++mi) EXPECT_NEAR(a[mi], b[mi], 1e-6) << kMetricNames[mi] << " rows " << rs;
    }
}

TEST(Metrics, JensenShannon) {
    const std::vector<float> p = {0.25f, 0.25f, 0.5f, 0.0f}, a = {1, 0, 0, 0}, b = {0, 1, 0, 0}, h = {0.5f, 0.5f, 0, 0};
    EXPECT_NEAR(js_divergence(p, p), 0.0, 1e-15);
    EXPECT_NEAR(js_divergence(a, b), std::log(2.0), 1e-12);  // disjoint supports
    EXPECT_NEAR(js_divergence(a, h), js_divergence(h, a), 1e-15);  // symmetric
    // JS((1,0), (½,½)) = ½ ln(4/3) + ¼ ln(2/3) + ¼ ln 2 = 0.2157615543…
    EXPECT_NEAR(js_divergence(a, h), 0.5 * std::log(4.0 / 3) + 0.25 * std::log(2.0 / 3) + 0.25 * std::log(2.0), 1e-12);
    // The entropy form used by the streaming analysis agrees row by row.
    const auto u = uniform(K), o = one_hot(K, 1), e = identity(K);
    for (const auto* pair : {&o, &e, &u}) {
        const ProbView A{u.data(), K, K, 0}, B{pair->data(), K, K, 0};
        const std::vector<double> d = row_js_divergences(A, B, row_entropies(A), row_entropies(B));
        for (int r = 0; r < K; ++r)
            EXPECT_NEAR(d[r], js_divergence({u.data() + r * K, K}, {pair->data() + r * K, K}), 1e-12);
    }
    const ProbView O{o.data(), K, K, 0}, E{e.data(), K, K, 0};
    EXPECT_NEAR(mean_js_divergence(O, E, all_rows(K)), std::log(2.0), 1e-12);
    EXPECT_NEAR(mean_js_divergence(O, O, all_rows(K)), 0.0, 1e-15);
}

TEST(Metrics, TokenInfluenceAndCrossAttention) {
    const auto u = uniform(K), o = one_hot(K, 0);
    const std::vector<double> iu = token_influence({u.data(), K, K, 0}, all_rows(K));
    for (double x : iu) EXPECT_NEAR(x, 1.0 / K, 1e-7);
    // Identity: each key receives only its own row's attention; over rows {0, 1}, keys 0 and 1 get ½.
    const std::vector<int> two = {0, 1};
    const std::vector<double> io = token_influence({o.data(), K, K, 0}, two);
    EXPECT_NEAR(io[0], 0.5, 1e-12);
    EXPECT_NEAR(io[1], 0.5, 1e-12);
    EXPECT_NEAR(io[2], 0.0, 1e-12);
    // Influence over all rows sums to 1 (each row gives away 1) — never "always 1" per key.
    double sum = 0.0;
    for (double x : token_influence({o.data(), K, K, 0}, all_rows(K))) sum += x;
    EXPECT_NEAR(sum, 1.0, 1e-12);
    // Generated (rows 3…7) → prompt (keys 0…2) under the uniform map: 3/8.
    const std::vector<int> gen = {3, 4, 5, 6, 7};
    EXPECT_NEAR(mean_block_mass({u.data(), K, K, 0}, gen, 0, 3), 3.0 / 8, 1e-7);
    EXPECT_NEAR(mean_block_mass({o.data(), K, K, 0}, gen, 0, 3), 0.0, 1e-12);
}

TEST(Metrics, RolloutOfIdentityLayersIsIdentity) {
    std::vector<double> I(static_cast<size_t>(K) * K, 0.0);
    for (int i = 0; i < K; ++i) I[i * K + i] = 1.0;
    const std::vector<double> R = attention_rollout({I, I, I}, K);
    for (size_t x = 0; x < R.size(); ++x) EXPECT_NEAR(R[x], I[x], 1e-12);
    EXPECT_EQ(attention_rollout({}, K), I);  // no layers: identity
}

TEST(Metrics, RolloutMultipliesTopLayerLast) {
    // 2×2 by hand: Â1 = ½A1 + ½I = [[1, 0], [½, ½]] (A1 = [[1,0],[1,0]]),
    //              Â2 = ½A2 + ½I = [[½, ½], [0, 1]] (A2 = [[0,1],[0,1]]); rollout = Â2·Â1 = [[¾, ¼], [½, ½]].
    const std::vector<double> A1 = {1, 0, 1, 0}, A2 = {0, 1, 0, 1};
    const std::vector<double> R = attention_rollout({A1, A2}, 2);
    const std::vector<double> want = {0.75, 0.25, 0.5, 0.5};
    for (size_t x = 0; x < 4; ++x) EXPECT_NEAR(R[x], want[x], 1e-12);
    // Uniform layers stay uniform rows; rows always sum to 1.
    std::vector<double> U(static_cast<size_t>(K) * K, 1.0 / K);
    const std::vector<double> RU = attention_rollout({U, U}, K);
    for (int i = 0; i < K; ++i) {
        double s = 0.0;
        for (int j = 0; j < K; ++j) s += RU[i * K + j];
        EXPECT_NEAR(s, 1.0, 1e-12);
    }
}

TEST(Metrics, AggregateOverHeadsSkipsNaN) {
    const std::vector<double> v = {2.0, kNaN, 1.0, 3.0};
    const Aggregate a = aggregate(v);
    EXPECT_EQ(a.n, 3);
    EXPECT_DOUBLE_EQ(a.mean, 2.0);
    EXPECT_DOUBLE_EQ(a.min, 1.0);
    EXPECT_DOUBLE_EQ(a.max, 3.0);
    EXPECT_NEAR(a.std, std::sqrt(2.0 / 3), 1e-15);  // population standard deviation
    EXPECT_EQ(a.argmin, 2);
    EXPECT_EQ(a.argmax, 3);
    const std::vector<double> none = {kNaN, kNaN};
    EXPECT_EQ(aggregate(none).n, 0);
    EXPECT_TRUE(std::isnan(aggregate(none).mean));
}

TEST(Metrics, PickLayersEvenlySpaced) {
    EXPECT_EQ(pick_layers(32, 4), (std::vector<int>{0, 10, 21, 31}));
    EXPECT_EQ(pick_layers(5, 0), (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(pick_layers(3, 7), (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(pick_layers(5, 1), (std::vector<int>{0}));
    EXPECT_EQ(pick_layers(5, 2), (std::vector<int>{0, 4}));
}

// ---- 2. analysis of synthetic runs ----------------------------------------------------------

// A small run: 2 layers × 2 heads, prompt 4 + 8 generated (L = 12), 2 blocks of 2 steps.
// Layer 0 is uniform, layer 1 the identity; head 1 of layer 0 is a one-hot on the sink from step 2 on.
tools::SyntheticRunSpec small_spec(const std::string& heads) {
    tools::SyntheticRunSpec s;
    s.n_layers = 2;
    s.n_heads = 2;
    s.prompt_length = 4;
    s.gen_length = 8;
    s.block_length = 4;
    s.steps = 4;
    s.heads = heads;
    s.f16 = false;
    s.mask_id = 99;
    s.attention = [](int step, int layer, int head, float* P, int L) {
        for (int i = 0; i < L; ++i)
            for (int j = 0; j < L; ++j) {
                float v = layer == 0 ? 1.0f / L : (i == j ? 1.0f : 0.0f);
                if (layer == 0 && head == 1 && step >= 2) v = j == 0 ? 1.0f : 0.0f;
                P[i * L + j] = v;
            }
    };
    return s;
}

struct Csv {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    // The metric column `name` of the row (step, layer, head, rows).
    std::string at(int step, int layer, const std::string& head, const std::string& set, const std::string& name) const {
        const size_t c = std::find(header.begin(), header.end(), name) - header.begin();
        for (const auto& r : rows)
            if (r[0] == std::to_string(step) && r[1] == std::to_string(layer) && r[2] == head && r[3] == set) return r.at(c);
        return "(no row)";
    }
};

Csv read_csv(const std::string& path) {
    std::ifstream in(path);
    Csv c;
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::stringstream ss(line);
        std::string x;
        while (std::getline(ss, x, ',')) f.push_back(x);
        if (!line.empty() && line.back() == ',') f.push_back("");
        (first ? c.header : c.rows.emplace_back()) = f;
        first = false;
    }
    return c;
}

double num(const std::string& s) { return s.empty() ? kNaN : std::stod(s); }

TEST(Analyze, KnownMapsGiveKnownMetrics) {
    const fs::path dir = temp_dir("known");
    tools::write_synthetic_run((dir / "run").string(), small_spec("all"));
    AnalyzeOptions opt;
    opt.input = (dir / "run").string();
    opt.output = (dir / "out").string();
    const AnalyzeResult r = analyze_run(opt);
    EXPECT_EQ(r.steps, 4);
    EXPECT_EQ(r.layers, (std::vector<int>{0, 1}));
    EXPECT_TRUE(r.warnings.empty());

    const Csv csv = read_csv(r.csv_path);
    EXPECT_EQ(csv.header, (std::vector<std::string>{"step", "layer", "head", "rows", "entropy", "entropy_norm", "density",
                                                    "focus_self", "focus_local", "mass_prompt", "mass_generated", "mass_masked",
                                                    "mass_sink", "step_change"}));
    EXPECT_EQ(csv.rows.size(), 4u * 2 * 3 * 3);  // steps × layers × (2 heads + mean) × row sets
    // Uniform layer 0, head 0: entropy ln 12, normalised 1, density 1.
    EXPECT_NEAR(num(csv.at(1, 0, "0", "all", "entropy")), std::log(12.0), 1e-6);
    EXPECT_NEAR(num(csv.at(1, 0, "0", "all", "entropy_norm")), 1.0, 1e-6);
    EXPECT_NEAR(num(csv.at(1, 0, "0", "all", "density")), 1.0, 1e-6);
    // Identity layer 1: focus_self 1, entropy 0, density 1/12, no step change.
    EXPECT_NEAR(num(csv.at(2, 1, "1", "generated", "focus_self")), 1.0, 1e-6);
    EXPECT_NEAR(num(csv.at(2, 1, "mean", "all", "entropy")), 0.0, 1e-6);
    EXPECT_NEAR(num(csv.at(2, 1, "0", "all", "density")), 1.0 / 12, 1e-6);
    EXPECT_NEAR(num(csv.at(2, 1, "0", "all", "step_change")), 0.0, 1e-9);
    // The first captured step has no step change (an empty field).
    EXPECT_EQ(csv.at(0, 0, "0", "all", "step_change"), "");
    // Head 1 of layer 0 switches from uniform to a one-hot at step 2: JS(uniform, one-hot on key 0)
    // = ½·(1/12·ln 2 + … ) computed directly; the head-mean row is the mean of the two heads.
    std::vector<float> u(12, 1.0f / 12), o(12, 0.0f);
    o[0] = 1.0f;
    const double jump = js_divergence(u, o);
    EXPECT_NEAR(num(csv.at(2, 0, "1", "all", "step_change")), jump, 1e-6);
    EXPECT_NEAR(num(csv.at(2, 0, "0", "all", "step_change")), 0.0, 1e-9);
    EXPECT_NEAR(num(csv.at(2, 0, "mean", "all", "step_change")), jump / 2, 1e-6);
    EXPECT_NEAR(num(csv.at(2, 0, "1", "all", "mass_sink")), 1.0, 1e-6);

    // report.json: schema, summaries with per-head values, rollout at the block ends (steps 1, 3).
    const json rep = read_json_file(r.report_path);
    EXPECT_EQ(rep["schema"], "dlmscope-report");
    EXPECT_EQ(rep["schema_version"], 1);
    const json& l0 = rep["metrics"]["layers"][0]["rows"]["all"]["mass_sink"];
    EXPECT_EQ(l0["argmax_head"], 1);
    EXPECT_NEAR(l0["per_head"][0].get<double>(), 1.0 / 12, 1e-6);
    EXPECT_NEAR(l0["per_head"][1].get<double>(), (2 * (1.0 / 12) + 2 * 1.0) / 4, 1e-6);
    EXPECT_EQ(rep["rollout"]["available"], true);
    ASSERT_EQ(rep["rollout"]["steps"].size(), 2u);
    EXPECT_EQ(rep["rollout"]["steps"][0]["step"], 1);
    EXPECT_EQ(rep["rollout"]["steps"][1]["step"], 3);
    const NpyArray roll = read_npy((dir / "out" / "rollout.npy").string());
    EXPECT_EQ(roll.shape, (std::vector<int64_t>{2, 12, 12}));
    // Step 1: layer 0 uniform (both heads), layer 1 identity → Â1 = I, rollout = Â0 = ½U + ½I.
    const std::vector<float> rv = roll.as_f32();
    EXPECT_NEAR(rv[0], 0.5 / 12 + 0.5, 1e-6);
    EXPECT_NEAR(rv[1], 0.5 / 12, 1e-6);
    // Statistics: full coverage; the decode order has every generated position once.
    EXPECT_EQ(rep["statistics"]["coverage"]["statistics_fraction"], 1.0);
    EXPECT_EQ(rep["diffusion"]["decode_order"].size(), 8u);
    EXPECT_EQ(rep["diffusion"]["commit_attention"]["rows"].size(), 8u);
    EXPECT_EQ(rep["options"]["visualizations"], "enabled");
    fs::remove_all(dir);
}

TEST(Analyze, HeadMeanMapsAndMaxLayers) {
    const fs::path dir = temp_dir("mean");
    tools::write_synthetic_run((dir / "run").string(), small_spec("mean"));
    AnalyzeOptions opt;
    opt.input = (dir / "run").string();
    opt.output = (dir / "out").string();
    opt.max_layers = 1;
    opt.visualizations = false;
    const AnalyzeResult r = analyze_run(opt);
    EXPECT_EQ(r.layers, (std::vector<int>{0}));
    EXPECT_TRUE(r.rollout_path.empty());
    const Csv csv = read_csv(r.csv_path);
    // Only the head-mean maps are stored: per-head step change is empty, the mean row is the JS of
    // the head-mean maps (uniform → ½(uniform + one-hot)), not the mean of per-head values.
    EXPECT_EQ(csv.at(2, 0, "1", "all", "step_change"), "");
    std::vector<float> u(12, 1.0f / 12), half(12, 0.5f / 12);
    half[0] += 0.5f;
    EXPECT_NEAR(num(csv.at(2, 0, "mean", "all", "step_change")), js_divergence(u, half), 1e-6);
    const json rep = read_json_file(r.report_path);
    EXPECT_EQ(rep["metrics"]["step_change"]["source"], "head_mean_maps");
    EXPECT_EQ(rep["rollout"]["available"], false);
    EXPECT_THAT(rep["rollout"]["reason"].get<std::string>(), HasSubstr("--max-layers 1"));
    EXPECT_EQ(rep["options"]["visualizations"], "disabled");
    fs::remove_all(dir);
}

TEST(Analyze, IncompleteRunIsAnalysedWithAWarning) {
    const fs::path dir = temp_dir("incomplete");
    tools::SyntheticRunSpec s = small_spec("mean");
    s.complete = false;
    s.steps_written = 3;
    tools::write_synthetic_run((dir / "run").string(), s);
    std::vector<std::string> warnings;
    AnalyzeOptions opt;
    opt.input = (dir / "run" / "generation_with_attention.json").string();
    opt.output = (dir / "out").string();
    AnalyzeLog log;
    log.warn = [&](const std::string& m) { warnings.push_back(m); };
    const AnalyzeResult r = analyze_run(opt, log);
    EXPECT_EQ(r.steps, 3);
    ASSERT_FALSE(warnings.empty());
    EXPECT_THAT(warnings[0], HasSubstr("incomplete"));
    EXPECT_THAT(warnings[0], HasSubstr("3 captured steps"));
    const json rep = read_json_file(r.report_path);
    EXPECT_EQ(rep["input"]["complete"], false);
    EXPECT_EQ(rep["diffusion"]["commit_source"], "canvases");
    EXPECT_EQ(rep["diffusion"]["decode_order"].size(), 4u);  // steps 0 and 1 commit 2 each; step 2 has no successor
    fs::remove_all(dir);
}

TEST(Analyze, PromptLengthOverrideRecomputesFromMaps) {
    const fs::path dir = temp_dir("prompt");
    tools::write_synthetic_run((dir / "run").string(), small_spec("all"));
    AnalyzeOptions opt;
    opt.input = (dir / "run").string();
    opt.output = (dir / "out").string();
    opt.prompt_length = 6;
    const AnalyzeResult r = analyze_run(opt);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_THAT(r.warnings[0], HasSubstr("--prompt-length 6 differs from the run's 4"));
    const Csv csv = read_csv(r.csv_path);
    // Uniform layer 0 at step 2 (block 0, positions 4…7, is decoded): 6 prompt keys of 12. At step 0
    // positions 4 and 5 are still masked, so they count as masked keys: 4 prompt keys.
    EXPECT_NEAR(num(csv.at(2, 0, "0", "all", "mass_prompt")), 0.5, 1e-6);
    EXPECT_NEAR(num(csv.at(0, 0, "0", "all", "mass_prompt")), 4.0 / 12, 1e-6);
    const json rep = read_json_file(r.report_path);
    EXPECT_EQ(rep["metadata"]["prompt_length"], 6);
    EXPECT_EQ(rep["metrics"]["source"], "maps");
    fs::remove_all(dir);
}

// ---- 3. bad input -----------------------------------------------------------------------------

struct BadRun : ::testing::Test {
    fs::path dir, run, manifest;
    void SetUp() override {
        dir = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
        run = dir / "run";
        manifest = fs::path(tools::write_synthetic_run(run.string(), small_spec("all")));
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string analyse() {
        AnalyzeOptions opt;
        opt.input = run.string();
        opt.output = (dir / "out").string();
        return message_of([&] { analyze_run(opt); });
    }
    void edit_manifest(const std::function<void(json&)>& f) {
        json m = read_json_file(manifest.string());
        f(m);
        write_json_file(manifest.string(), m);
    }
    fs::path step_file(int step) const { return run / "generation_with_attention" / fmt::format("step_{:05d}.npz", step); }
};

TEST_F(BadRun, MissingArraysFile) {
    fs::remove(step_file(2));
    const std::string msg = analyse();
    EXPECT_THAT(msg, HasSubstr("step 2's arrays file"));
    EXPECT_THAT(msg, HasSubstr("step_00002.npz is missing"));
    EXPECT_FALSE(fs::exists(dir / "out" / "report.json"));
}

// Paths in a manifest are data, not permission: an array file outside the run is refused, even one
// that exists; a file inside reached through a symlink stays allowed.
TEST_F(BadRun, ArrayFileOutsideTheRun) {
    const fs::path outside = dir / "outside.npz";
    fs::copy_file(step_file(1), outside);
    edit_manifest([](json& m) {
        for (json& a : m["arrays"])
            if (a.value("step", -1) == 1) a["file"] = "../outside.npz";
    });
    std::string msg = analyse();
    EXPECT_THAT(msg, HasSubstr("'../outside.npz' leaves"));
    EXPECT_THAT(msg, HasSubstr(manifest.filename().string()));
    edit_manifest([&](json& m) {
        for (json& a : m["arrays"])
            if (a.value("step", -1) == 1) a["file"] = outside.string();
    });
    msg = analyse();
    EXPECT_THAT(msg, HasSubstr("is the absolute path"));
    EXPECT_FALSE(fs::exists(dir / "out" / "report.json"));
    // The step's archive itself a symlink to a file elsewhere: read as before.
    edit_manifest([](json& m) {
        for (json& a : m["arrays"])
            if (a.value("step", -1) == 1) a["file"] = "generation_with_attention/step_00001.npz";
    });
    fs::remove(step_file(1));
    fs::create_symlink(outside, step_file(1));
    EXPECT_EQ(analyse(), "(no error)");
}

TEST_F(BadRun, TruncatedNpz) {
    fs::resize_file(step_file(1), fs::file_size(step_file(1)) / 2);
    const std::string msg = analyse();
    EXPECT_THAT(msg, HasSubstr("step 1"));
    EXPECT_THAT(msg, HasSubstr("step_00001.npz"));
    EXPECT_THAT(msg, HasSubstr("truncated"));
    EXPECT_FALSE(fs::exists(dir / "out" / "metrics.csv"));  // no half table under the final name
}

TEST_F(BadRun, UnknownManifestVersion) {
    edit_manifest([](json& m) { m["version"] = 2; });
    const std::string msg = analyse();
    EXPECT_THAT(msg, HasSubstr("generation_with_attention.json"));
    EXPECT_THAT(msg, HasSubstr("version 2 is not supported"));
}

TEST_F(BadRun, NotADlmscopeManifest) {
    edit_manifest([](json& m) { m["format"] = "something-else"; });
    EXPECT_THAT(analyse(), HasSubstr("is not a dlmscope run manifest (\"format\" is \"something-else\""));
    edit_manifest([](json& m) { m.erase("format"); });
    EXPECT_THAT(analyse(), HasSubstr("\"format\" is missing"));
}

TEST_F(BadRun, MissingManifestField) {
    edit_manifest([](json& m) { m.erase("canvas_length"); });
    EXPECT_THAT(analyse(), HasSubstr("lacks \"canvas_length\""));
    edit_manifest([](json& m) {
        m["canvas_length"] = 12;
        m["params"].erase("mask_id");
    });
    EXPECT_THAT(analyse(), HasSubstr("lacks \"params.mask_id\""));
}

TEST_F(BadRun, MemberMissingOrMisshaped) {
    NpzBuilder npz;
    const std::vector<int32_t> canvas(12, 99);
    npz.add("canvas", "<i4", {12}, canvas.data(), canvas.size() * 4);
    const auto& bytes = npz.finish();
    std::ofstream(step_file(0), std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    EXPECT_THAT(analyse(), HasSubstr("member 'stats' is missing"));

    NpzBuilder bad;
    const std::vector<float> stats(2 * 3 * 3 * 9, 0.0f);
    bad.add("canvas", "<i4", {12}, canvas.data(), canvas.size() * 4);
    bad.add("stats", "<f4", {2, 3, 3, 9}, stats.data(), stats.size() * 4);
    const auto& b2 = bad.finish();
    std::ofstream(step_file(0), std::ios::binary).write(reinterpret_cast<const char*>(b2.data()), b2.size());
    EXPECT_THAT(analyse(), HasSubstr("member 'stats' has shape [2, 3, 3, 9], expected [2, 2, 3, 9]"));
}

TEST_F(BadRun, NoCapturedSteps) {
    edit_manifest([](json& m) {
        json kept = json::array();
        for (const json& a : m["arrays"])
            if (a["kind"] == "history") kept.push_back(a);
        m["arrays"] = kept;
    });
    EXPECT_THAT(analyse(), HasSubstr("no captured step is indexed"));
}

TEST_F(BadRun, DirectoryWithoutOrWithSeveralManifests) {
    fs::rename(manifest, run / "a.json");
    EXPECT_EQ(analyse(), "(no error)");  // the only *.json with "format": "dlmscope-run" is the manifest
    fs::copy_file(run / "a.json", run / "b.json");
    EXPECT_THAT(analyse(), HasSubstr("several run manifests (a.json, b.json)"));
    fs::remove(run / "a.json");
    fs::remove(run / "b.json");
    EXPECT_THAT(analyse(), HasSubstr("holds no dlmscope run manifest"));
    run = dir / "nowhere";
    EXPECT_THAT(analyse(), HasSubstr("does not exist"));
}

TEST_F(BadRun, BadOptions) {
    AnalyzeOptions opt;
    opt.input = run.string();
    opt.output = (dir / "out").string();
    opt.prompt_length = 12;
    EXPECT_THAT(message_of([&] { analyze_run(opt); }), HasSubstr("--prompt-length 12 is not inside the canvas of 12 positions"));
}

// ============================================================================================
// Cached decoding: provenance through the run format (captured by the real binary)
// ============================================================================================

// The t0 prompt through `dlmscope generate` with the given decoding and capture options.
RunReader cached_run(const std::string& name, const std::string& options) {
    const fs::path out = test::temp_dir("cached-" + name);
    const json meta = read_json_file(test::run_dir("t0") + "/meta.json");
    std::string ids;
    for (const json& v : meta["fixture"]["prompt_ids"]) {
        if (!ids.empty()) ids += ',';
        ids += std::to_string(v.get<int>());
    }
    const std::string cmd = fmt::format("'{}/dlmscope' generate --prompt-ids {} --model '{}' --gen-length 64 --block-length 16 "
                                        "--steps 32 {} --out '{}' -q > /dev/null",
                                        DLMSCOPE_BINARY_DIR, ids, test::tiny_checkpoint(), options, out.string());
    if (std::system(cmd.c_str()) != 0) throw Error("could not generate a run: " + cmd);
    return RunReader::open(out.string());
}

const StepRecordInfo& record_of(const RunReader& r, int step) {
    for (const StepRecordInfo& s : r.schedule())
        if (s.step == step) return s;
    throw Error(fmt::format("step {} has no record", step));
}

TEST(CachedRun, ReaderMarksRecomputedRowsAndKeySteps) {
    const RunReader r = cached_run("dual", "--cache dual --parallel-threshold 0.2 --visualize-attention --capture-heads all --capture-dtype f32");
    EXPECT_EQ(r.cache_mode(), "dual");
    EXPECT_EQ(r.steps_per_block(), 0);  // varies under a threshold
    ASSERT_EQ(r.steps().size(), r.schedule().size());
    const int L = r.canvas_length();
    int cached_steps = 0, first_of_block = 0;
    for (size_t k = 0; k < r.steps().size(); ++k) {
        const StepCapture s = r.load_step(k);
        const StepRecordInfo& rec = record_of(r, s.step);
        if (rec.step_in_block == 0) first_of_block = s.step;
        EXPECT_EQ(s.query_begin, rec.row_begin);
        EXPECT_EQ(s.query_end, rec.row_end);
        cached_steps += rec.kind != "full";
        for (int i = 0; i < L; ++i) {
            const bool fresh = i >= rec.row_begin && i < rec.row_end;
            ASSERT_EQ(s.recomputed[i], fresh ? 1 : 0) << "step " << s.step << " row " << i;
            // dual: recomputed keys are this step's, the others were cached by the block's full forward.
            EXPECT_EQ(s.key_step[i], fresh ? s.step : first_of_block) << "step " << s.step << " key " << i;
            for (int h = 0; h < s.stored_heads; ++h) {
                const float* row = s.map(0, h) + static_cast<size_t>(i - s.row_begin) * L;
                double sum = 0.0;
                bool any_nan = false;
                for (int j = 0; j < L; ++j) sum += row[j], any_nan |= std::isnan(row[j]);
                if (fresh) EXPECT_NEAR(sum, 1.0, 1e-5) << "step " << s.step << " row " << i;
                else EXPECT_TRUE(any_nan) << "step " << s.step << ": row " << i << " was not recomputed but holds attention";
            }
        }
    }
    EXPECT_GT(cached_steps, 0);
}

// The statistics of a cached step cover the recomputed rows only: their "all rows" entropy is the
// mean of those rows' entropies in the stored maps.
TEST(CachedRun, StatisticsCoverRecomputedRowsOnly) {
    const RunReader r = cached_run("prefix", "--cache prefix --visualize-attention --capture-heads all --capture-dtype f32");
    const int L = r.canvas_length();
    int checked = 0;
    for (size_t k = 0; k < r.steps().size(); ++k) {
        const StepCapture s = r.load_step(k);
        if (s.query_begin == 0 && s.query_end == L) continue;
        for (int h = 0; h < r.n_heads(); ++h) {
            double mean = 0.0;
            for (int i = s.query_begin; i < s.query_end; ++i)
                mean += row_entropy({s.map(1, h) + static_cast<size_t>(i - s.row_begin) * L, static_cast<size_t>(L)});
            mean /= s.query_end - s.query_begin;
            EXPECT_NEAR(s.stats_of(1, h, kRowsAll)[kStatEntropy], mean, 1e-4) << "step " << s.step << " head " << h;
        }
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

TEST(CachedRun, BlockEndsCaptureFollowsTheVariableSchedule) {
    const RunReader r = cached_run("ends", "--cache dual --parallel-threshold 0.2 --capture-steps block-ends --capture-rows generated");
    std::vector<int> want, got;
    for (const StepRecordInfo& s : r.schedule())
        if (s.step_in_block == 0 || r.is_block_last(s.step)) want.push_back(s.step);
    for (const StepIndex& s : r.steps()) got.push_back(s.step);
    EXPECT_EQ(got, want);
    EXPECT_EQ(r.manifest()["block_steps"], json({3, 2, 3, 2}));  // the Fast-dLLM fixture's dual-thr0.2 run
}

TEST(CachedRun, AnalyzeReportsProvenanceAndDrift) {
    const RunReader r = cached_run("audit", "--cache dual --cache-audit --visualize-attention");
    const fs::path out = test::temp_dir("cached-audit-analysis");
    AnalyzeOptions opt;
    opt.input = r.manifest_path();
    opt.output = out.string();
    analyze_run(opt, {});
    const json report = read_json_file((out / "report.json").string());
    const json& cache = report["cache"];
    EXPECT_EQ(cache["mode"], "dual");
    ASSERT_EQ(cache["captured_steps"].size(), r.steps().size());
    for (const json& s : cache["captured_steps"]) {
        const bool full = s["kind"] == "full";
        EXPECT_EQ(s["cached_keys"].get<int>() == 0, full) << s.dump();
        if (!full) {
            EXPECT_GE(s["cache_age_max"].get<int>(), 1) << s.dump();
        }
    }
    const json& drift = cache["drift"];
    ASSERT_TRUE(drift["available"].get<bool>());
    const CacheDrift d = r.load_cache_drift();
    EXPECT_EQ(drift["audited_steps"].get<size_t>(), d.steps.size());
    EXPECT_EQ(d.steps.size(), 28u);  // 4 blocks × 7 cached steps
    std::ifstream csv(out / "cache_drift.csv");
    int lines = 0;
    for (std::string line; std::getline(csv, line);) ++lines;
    EXPECT_EQ(lines, 1 + static_cast<int>(d.steps.size()) * r.n_layers());
    // Layer 0's keys depend on the tokens alone, which a dual cache never holds stale: no drift there.
    for (size_t k = 0; k < d.steps.size(); ++k)
        for (int h = 0; h < d.n_heads; ++h) EXPECT_EQ(d.at(k, 0, h, 0), 0.0f) << "step " << d.steps[k];
    // Rollout needs every row: only full forwards qualify.
    for (const json& e : report["rollout"].value("steps", json::array())) EXPECT_EQ(record_of(r, e["step"]).kind, "full");

    const RunReader plain = cached_run("no-audit", "--cache dual --visualize-attention --capture-layers 0");
    EXPECT_FALSE(plain.has_cache_drift());
    EXPECT_THAT(test::message_of([&] { plain.load_cache_drift(); }), ::testing::HasSubstr("--cache-audit"));
}

}  // namespace
}  // namespace dlmscope::analysis
