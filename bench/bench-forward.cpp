// dlmscope-bench-forward: one forward pass at a given canvas, per backend, precision, thread count
// and capture setting, against this machine's peaks measured in the same run.
//
//   dlmscope-bench-forward MODEL_DIR [MODEL_DIR...] [--canvas 160] [--backends available|auto|amx,avx512]
//                          [--precisions f32,bf16] [--threads 1,2] [--capture off,on] [--reps 3] [--json]
//
// For each model it prints, per combination: milliseconds per forward (median of --reps after one
// warm-up), GFLOP/s (forward_flops / time), the ratio to the peak that bounds that backend (AMX
// tiles for amx, the bf16 dot product for avx512-bf16 at bf16, f32 FMA otherwise, at the same thread
// count), the bandwidth floor (resident weight bytes / measured read bandwidth: no forward can be
// faster), the load time and the peak RSS of loading and running that combination. "capture on"
// is the CLI's default capture (every layer, head mean, f16, per-head statistics) written to a
// temporary run directory by the real CaptureTap.
#include "capture/capture.h"
#include "core/error.h"
#include "engine/kernels/cpu-features.h"
#include "engine/kernels/kernels.h"
#include "engine/model/forward.h"
#include "peaks.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

using clock_type = std::chrono::steady_clock;
namespace k = kernels;

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string t; std::getline(ss, t, ',');)
        if (!t.empty()) out.push_back(t);
    return out;
}

// Peak resident set since the last reset_peak_rss(), in MiB (VmHWM).
double peak_rss_mib() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return -1.0;
}
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }


struct Args {
    std::vector<std::string> models;
    int canvas = 160;
    int prompt = 32;
    int block = 32;
    std::string backends = "available";
    std::string precisions = "f32,bf16";
    std::string threads = "";
    std::string capture = "off,on";
    int reps = 3;
    double peak_seconds = 1.0;
    bool json_out = false;
};

struct Peaks {
    int threads = 1;
    std::vector<bench::Peak> p;  // f32 FMA, bf16 dot, AMX, memory, then f32 FMA on AVX2 (ymm)
};

// The peak that bounds a backend at a precision: AMX tiles for amx, the bf16 dot product for
// avx512-bf16 at bf16, the AVX2 FMA for avx2, the widest f32 FMA otherwise.
const bench::Peak& relevant_peak(const Peaks& pk, const std::string& backend, k::Precision prec) {
    if (backend == "amx" && pk.p[2].available) return pk.p[2];
    if (backend == "avx512-bf16" && prec == k::Precision::bf16 && pk.p[1].available) return pk.p[1];
    if (backend == "avx2" && pk.p[4].available) return pk.p[4];
    return pk.p[0];
}

struct Row {
    std::string model, backend, isa, precision, capture;
    double params = 0;
    int threads = 0;
    double ms = 0, gflops = 0, ratio = 0, floor_ms = 0, load_s = 0, rss_mib = 0;
    std::string peak_what;
};

// Median of `reps` timed forwards (after one warm-up) of the canvas, with or without capture.
double time_forwards(const Model& m, const std::vector<int32_t>& canvas, const std::vector<int>& rows, int reps, bool capture,
                     int prompt, int32_t mask) {
    const ModelConfig& c = m.config();
    std::unique_ptr<RunWriter> run;
    std::unique_ptr<CaptureTap> tap;
    const std::string dir = (std::filesystem::temp_directory_path() / fmt::format("dlmscope-bench-{}", ::getpid())).string();
    if (capture) {
        CaptureSelection sel;  // the CLI's default: all steps and layers, head mean, f16, statistics
        const CaptureLayout layout{c.n_layers, c.n_heads, reps + 1, reps + 1, prompt, static_cast<int>(canvas.size()), mask};
        run = std::make_unique<RunWriter>(dir, "bench.json", json{{"bench", true}});
        tap = std::make_unique<CaptureTap>(sel, layout, *run);
    }
    ForwardState st;
    std::vector<float> logits;
    std::vector<double> times;
    for (int i = 0; i <= reps; ++i) {
        ForwardOptions fo;
        fo.logit_rows = rows;
        fo.tap = tap.get();
        fo.ctx.step = i;
        fo.ctx.block = 0;
        fo.ctx.step_in_block = i;
        fo.ctx.steps_per_block = reps + 1;
        fo.ctx.prompt_length = prompt;
        fo.ctx.mask_id = mask;
        const auto t0 = clock_type::now();
        st.run(m, canvas, fo, logits);
        if (i > 0) times.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    if (tap) tap->finish();
    std::filesystem::remove_all(dir);
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

int run(const Args& a) {
    const int cores = k::threads();
    std::vector<int> thread_counts;
    for (const auto& t : split(a.threads.empty() ? fmt::format("1,{}", cores) : a.threads)) {
        const int n = std::stoi(t);
        if (std::find(thread_counts.begin(), thread_counts.end(), n) == thread_counts.end()) thread_counts.push_back(n);
    }
    const double load_before = bench::load_average();

    // 1. Peaks, at every thread count used below.
    std::vector<Peaks> peaks;
    for (int t : thread_counts) {
        peaks.push_back({t, bench::measure_peaks(t, a.peak_seconds)});
        bench::Peak avx2 = bench::peak_f32_fma(t, a.peak_seconds, false);
        avx2.what = "f32 FMA ymm";
        peaks.back().p.push_back(avx2);
    }
    auto peaks_for = [&](int t) -> const Peaks& { return *std::find_if(peaks.begin(), peaks.end(), [&](auto& p) { return p.threads == t; }); };

    std::vector<std::string> backends;
    if (a.backends == "available") {
        for (const k::Backend* b : k::backends())
            if (b->available() && std::string(b->name()) != "reference") backends.push_back(b->name());
    } else {
        for (const auto& n : split(a.backends)) backends.push_back(k::select_backend(n).name());
    }
    std::vector<bool> captures;
    for (const auto& c : split(a.capture)) {
        if (c != "on" && c != "off") fail("--capture: '{}' is neither on nor off", c);
        captures.push_back(c == "on");
    }

    // 2. Forwards.
    std::vector<Row> rows;
    for (const std::string& dir : a.models) {
        const ModelConfig cfg = load_model_config(dir);
        if (a.prompt >= a.canvas) fail("--prompt {} must be shorter than --canvas {}", a.prompt, a.canvas);
        std::vector<int32_t> canvas(static_cast<size_t>(a.canvas), cfg.mask_token_id);
        for (int i = 0; i < a.prompt; ++i) canvas[i] = static_cast<int32_t>((i * 7919 + 11) % std::min(cfg.vocab_size, 4000));
        std::vector<int> logit_rows;  // what the sampler asks for at the first step: the first block's masks
        for (int i = a.prompt; i < std::min(a.canvas, a.prompt + a.block); ++i) logit_rows.push_back(i);
        const double flops = forward_flops(cfg, a.canvas, a.canvas, static_cast<int64_t>(logit_rows.size()));
        for (const std::string& be : backends)
            for (const auto& ps : split(a.precisions)) {
                const k::Precision prec = k::parse_precision(ps);
                reset_peak_rss();
                LoadOptions lo;
                lo.backend = be;
                lo.precision = prec;
                const auto t0 = clock_type::now();
                const auto model = Model::load(dir, lo);
                const double load_s = std::chrono::duration<double>(clock_type::now() - t0).count();
                const double weight_bytes = static_cast<double>(model->weight_bytes_resident());
                for (int t : thread_counts)
                    for (bool cap : captures) {
                        k::set_threads(t);
                        const double s = time_forwards(*model, canvas, logit_rows, a.reps, cap, a.prompt, cfg.mask_token_id);
                        const bench::Peak& pk = relevant_peak(peaks_for(t), be, prec);
                        const double bw = peaks_for(t).p[3].value;
                        Row r;
                        r.model = std::filesystem::path(dir).filename().string();
                        r.params = static_cast<double>(cfg.n_params());
                        r.backend = be;
                        r.isa = model->backend().isa();
                        r.precision = ps;
                        r.threads = t;
                        r.capture = cap ? "on" : "off";
                        r.ms = 1e3 * s;
                        r.gflops = flops / s / 1e9;
                        r.ratio = pk.available ? r.gflops / pk.value : 0.0;
                        r.peak_what = pk.what;
                        r.floor_ms = bw > 0 ? 1e3 * weight_bytes / (bw * 1e9) : 0.0;
                        r.load_s = load_s;
                        r.rss_mib = peak_rss_mib();
                        rows.push_back(r);
                        if (!a.json_out)
                            fmt::print(stderr, "  {} {} {} {}t capture {}: {:.1f} ms\n", r.model, be, ps, t, r.capture, r.ms);
                    }
                k::set_threads(0);
            }
    }

    const k::CpuFeatures& cpu = k::cpu_features();
    if (a.json_out) {
        json pj = json::array();
        for (const auto& p : peaks)
            for (const auto& x : p.p)
                pj.push_back({{"threads", p.threads}, {"what", x.what}, {"isa", x.isa}, {"value", x.available ? json(x.value) : json()},
                              {"unit", x.unit}, {"why_not", x.why_not}});
        json rj = json::array();
        for (const Row& r : rows)
            rj.push_back({{"model", r.model}, {"params", r.params}, {"backend", r.backend}, {"isa", r.isa}, {"precision", r.precision},
                          {"threads", r.threads}, {"capture", r.capture}, {"ms_per_forward", r.ms}, {"gflops", r.gflops},
                          {"peak", r.peak_what}, {"ratio_to_peak", r.ratio}, {"bandwidth_floor_ms", r.floor_ms},
                          {"load_seconds", r.load_s}, {"peak_rss_mib", r.rss_mib}});
        fmt::print("{}\n", json{{"cpu", cpu.model},
                                {"flags", cpu.flags()},
                                {"canvas", a.canvas},
                                {"logit_rows", a.block},
                                {"peaks", pj},
                                {"forwards", rj},
                                {"load_average", {load_before, bench::load_average()}}}
                               .dump(2));
        return 0;
    }
    fmt::print("cpu        {} ({})\n", cpu.model, cpu.flags());
    fmt::print("canvas     {} tokens ({} prompt), logits for {} rows; median of {} forwards after a warm-up\n", a.canvas, a.prompt,
               std::min(a.block, a.canvas - a.prompt), a.reps);
    fmt::print("\npeaks      {:<12} {:>14} {:>14}   isa\n", "", fmt::format("{} thread", peaks[0].threads),
               peaks.size() > 1 ? fmt::format("{} threads", peaks[1].threads) : "");
    for (size_t i = 0; i < peaks[0].p.size(); ++i) {
        const auto& x = peaks[0].p[i];
        auto cell = [&](const Peaks& p) {
            return p.p[i].available ? fmt::format("{:.0f} {}", p.p[i].value, p.p[i].unit) : std::string("—");
        };
        fmt::print("           {:<12} {:>14} {:>14}   {}\n", x.what, cell(peaks[0]), peaks.size() > 1 ? cell(peaks[1]) : "",
                   x.available ? x.isa : x.why_not);
    }
    fmt::print("\n{:<12} {:<12} {:<5} {:>3} {:>4} {:>10} {:>9} {:>7} {:<11} {:>9} {:>7} {:>9}\n", "model", "backend", "prec", "thr", "capt",
               "ms/fwd", "GFLOP/s", "%peak", "of peak", "floor ms", "load s", "RSS MiB");
    for (const Row& r : rows)
        fmt::print("{:<12} {:<12} {:<5} {:>3} {:>4} {:>10.1f} {:>9.1f} {:>6.1f}% {:<11} {:>9.1f} {:>7.1f} {:>9.0f}\n", r.model, r.backend,
                   r.precision, r.threads, r.capture, r.ms, r.gflops, 100.0 * r.ratio, r.peak_what, r.floor_ms, r.load_s, r.rss_mib);
    fmt::print("\nload average {:.2f} before, {:.2f} after ({} cores)\n", load_before, bench::load_average(), cores);
    return 0;
}

}  // namespace
}  // namespace dlmscope

int main(int argc, char** argv) {
    dlmscope::Args a;
    CLI::App app{"Benchmark one forward pass per backend, precision, thread count and capture setting, against measured peaks"};
    app.add_option("models", a.models, "Checkpoint directories (e.g. from dlmscope-make-checkpoint --preset 1b)")->required();
    app.add_option("--canvas", a.canvas, "Canvas length (prompt + generation)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--prompt", a.prompt, "Prompt tokens at the start of the canvas (the rest is masked)")->capture_default_str();
    app.add_option("--block", a.block, "Logit rows (the first block's masked positions)")->capture_default_str();
    app.add_option("--backends", a.backends, "available (all this CPU runs, but reference), auto, or a comma-separated list")
        ->capture_default_str();
    app.add_option("--precisions", a.precisions, "Comma-separated: f32, bf16")->capture_default_str();
    app.add_option("--threads", a.threads, "Comma-separated thread counts (default: 1 and all cores)");
    app.add_option("--capture", a.capture, "Comma-separated: off, on (the CLI's default capture)")->capture_default_str();
    app.add_option("--reps", a.reps, "Timed forwards per combination (median)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--peak-seconds", a.peak_seconds, "Seconds per hardware peak")->capture_default_str();
    app.add_flag("--json", a.json_out, "Print the figures as JSON");
    CLI11_PARSE(app, argc, argv);
    try {
        return dlmscope::run(a);
    } catch (const std::exception& e) {
        fmt::print(stderr, "dlmscope-bench-forward: error: {}\n", e.what());
        return 1;
    }
}
