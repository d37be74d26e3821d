// dlmscope-bench-viewer: the size and write time of `dlmscope view` at the scale the viewer must
// handle — a 512-token canvas, 32 layers × 128 steps of head-mean maps — on a synthetic run.
//
//   dlmscope-bench-viewer [--dir /tmp/dlmscope-bench-viewer] [--pattern structured|noise] [--max-mb 64]
//
// Writes DIR/run (tools/synthetic-run.h) once, then DIR/viewer.html, and prints one line per
// phase. `structured` maps look like trained attention (a sink, a local band, prompt and key
// preferences, drift over the steps, noise); `noise` maps are the synthetic run's random softmax
// pool, the worst case for compression. tests/browser/load-time.mjs measures the page in Chromium.
#include "synthetic-run.h"

#include "analysis/run-reader.h"
#include "core/error.h"
#include "render/html/viewer.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

namespace fs = std::filesystem;
using namespace dlmscope;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Trained-looking attention: two fixed maps per (layer, head), blended by the step, with 10 %
// multiplicative per-step noise; rows renormalised.
class StructuredAttention {
public:
    StructuredAttention(int prompt_length, int steps) : P_(prompt_length), T_(steps) {}

    void operator()(int step, int layer, int head, float* out, int L) {
        auto& pair = bases_[{layer, head}];
        if (pair.first.empty()) {
            pair.first = base(layer, head, L, 1);
            pair.second = base(layer, head, L, 2);
        }
        const float a = T_ > 1 ? static_cast<float>(step) / (T_ - 1) : 0.0f;
        uint64_t x = 0x9E3779B97F4A7C15ull * (step + 1) ^ (layer * 1315423911ull + head * 2654435761ull);
        for (int i = 0; i < L; ++i) {
            float sum = 0.0f;
            float* row = out + static_cast<size_t>(i) * L;
            const float* A = pair.first.data() + static_cast<size_t>(i) * L;
            const float* B = pair.second.data() + static_cast<size_t>(i) * L;
            for (int j = 0; j < L; ++j) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
                const float u = static_cast<float>(x >> 40) * (1.0f / 16777216.0f);
                sum += row[j] = ((1 - a) * A[j] + a * B[j]) * (0.95f + 0.1f * u);
            }
            for (int j = 0; j < L; ++j) row[j] /= sum;
        }
    }

private:
    std::vector<float> base(int layer, int head, int L, int which) const {
        std::mt19937_64 rng(1000003ull * layer + 7919ull * head + which);
        std::normal_distribution<float> normal;
        std::uniform_real_distribution<float> unif(0.0f, 1.0f);
        const float sink = 1.0f + 4.0f * unif(rng), tau = 1.0f + 40.0f * unif(rng) * unif(rng);
        const float prompt_bias = 2.0f * unif(rng) - 1.0f, noise = 0.2f + 0.6f * unif(rng);
        std::vector<float> key_bias(L);
        for (float& b : key_bias) b = 1.2f * normal(rng);
        std::vector<float> m(static_cast<size_t>(L) * L);
        for (int i = 0; i < L; ++i) {
            float* row = m.data() + static_cast<size_t>(i) * L;
            float mx = -1e30f;
            for (int j = 0; j < L; ++j) {
                row[j] = (j == 0 ? sink : 0.0f) - std::abs(i - j) / tau + (j < P_ ? prompt_bias : 0.0f) + key_bias[j] +
                         noise * normal(rng);
                mx = std::max(mx, row[j]);
            }
            float sum = 0.0f;
            for (int j = 0; j < L; ++j) sum += row[j] = std::exp(row[j] - mx);
            for (int j = 0; j < L; ++j) row[j] /= sum;
        }
        return m;
    }

    int P_, T_;
    std::map<std::pair<int, int>, std::pair<std::vector<float>, std::vector<float>>> bases_;
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Size and write time of the HTML viewer on a synthetic 512-token, 32-layer, 128-step run"};
    std::string dir = "/tmp/dlmscope-bench-viewer", pattern = "structured";
    tools::SyntheticRunSpec s;
    s.n_layers = 32;
    s.n_heads = 4;  // statistics per head; the maps are the head mean
    s.prompt_length = 128;
    s.gen_length = 384;
    s.block_length = 96;
    s.steps = 128;
    render::ViewerOptions opt;
    bool reuse = false;
    app.add_option("--dir", dir, "Working directory (the run and the HTML go there)")->capture_default_str();
    app.add_option("--pattern", pattern, "Attention maps: structured or noise")->capture_default_str()
        ->check(CLI::IsMember({"structured", "noise"}));
    app.add_option("--layers", s.n_layers, "Layers")->capture_default_str();
    app.add_option("--heads-per-layer", s.n_heads, "Heads (statistics; maps are the head mean)")->capture_default_str();
    app.add_option("--steps", s.steps, "Steps (all captured)")->capture_default_str();
    app.add_option("--max-mb", opt.max_mb, "Viewer size cap")->capture_default_str();
    app.add_flag("--reuse", reuse, "Reuse DIR/run when it exists");
    CLI11_PARSE(app, argc, argv);
    try {
        const std::string run_dir = (fs::path(dir) / ("run-" + pattern)).string();
        if (!reuse || !fs::exists(run_dir)) {
            fs::remove_all(run_dir);
            StructuredAttention structured(s.prompt_length, s.steps);
            if (pattern == "structured")
                s.attention = [&](int step, int layer, int head, float* P, int L) { structured(step, layer, head, P, L); };
            const auto t0 = std::chrono::steady_clock::now();
            tools::write_synthetic_run(run_dir, s);
            fmt::print("run      {}: canvas {}, {} layers × {} heads, {} steps, head-mean maps f16 ({:.1f}s)\n", run_dir,
                       s.prompt_length + s.gen_length, s.n_layers, s.n_heads, s.steps, seconds_since(t0));
        }
        const auto t0 = std::chrono::steady_clock::now();
        const analysis::RunReader run = analysis::RunReader::open(run_dir);
        const std::string html = (fs::path(dir) / ("viewer-" + pattern + ".html")).string();
        const render::ViewerResult r = render::write_viewer(run, opt, html);
        fmt::print("viewer   {}: {:.2f} MB in {:.2f}s; {} of {} maps ({} steps × {} layers × {} heads), --max-mb {}\n", r.path,
                   r.bytes / 1e6, seconds_since(t0), r.maps_embedded, r.maps_available, r.map_steps, r.map_layers, r.map_heads,
                   opt.max_mb);
        for (const std::string& n : r.notes) fmt::print("note     {}\n", n);
    } catch (const Error& e) {
        fmt::print(stderr, "dlmscope-bench-viewer: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
