// dlmscope-bench: end-to-end generation throughput against this machine's sgemm peak.
//
//   dlmscope-bench MODEL_DIR [--gen-length 128 --block-length 32 --steps 128 --prompt-tokens 32] [--json]
//
// In one run it measures
//   1. the sgemm peak: a large square product and the model's own GEMM shapes, each timed as one
//      cblas_sgemm on all threads (OpenBLAS's own threading) and as the engine's matmul (column
//      slices, single-threaded BLAS per OpenMP thread); the best rate of all is the peak;
//   2. a full generate() on MODEL_DIR (greedy, low-confidence remasking), after one warm-up forward;
// and prints seconds per forward, generated tokens per second, achieved GFLOP/s (forward_flops
// summed over the run / time spent in forwards), its ratio to the peak, and peak RSS.
// The figures are only as steady as the machine: other load on the cores shows up in both the peak
// and the run, so the 1-minute load average is printed with them.
#include "core/error.h"
#include "core/json.h"
#include "engine/kernels/kernels.h"
#include "engine/model/forward.h"
#include "engine/sampler/diffusion.h"
#include "engine/tokenizer/tokenizer.h"
#include "peaks.h"

#include <CLI/CLI.hpp>
#include <cblas.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);  // provided by OpenBLAS

namespace dlmscope {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// ---- 1. sgemm peak -------------------------------------------------------------------------------

struct GemmShape {
    std::string what;
    int M, N, K;  // y[M, N] = x[M, K] · W[N, K]ᵀ, as the engine calls it
};

struct GemmRate {
    GemmShape shape;
    std::string how;  // "blas": one cblas_sgemm on all threads; "sliced": kernels::cpu::matmul
    double gflops = 0.0;
};

// Best rate of `call` (one product of `flops`) over repeated calls, for about `budget` seconds.
template <typename F>
double best_gflops(F&& call, double flops, double budget) {
    call();  // warm-up: pages, BLAS buffers, thread start
    double best = 1e30;
    const auto t_all = clock_type::now();
    while (seconds_since(t_all) < budget) {
        // Batches of at least ~20 ms so the clock's resolution does not matter.
        const auto t0 = clock_type::now();
        int reps = 0;
        do {
            call();
            ++reps;
        } while (seconds_since(t0) < 0.02);
        best = std::min(best, seconds_since(t0) / reps);
    }
    return flops / best / 1e9;
}

// Times each shape two ways: cblas_sgemm with OpenBLAS on all `threads`, and the engine's matmul
// (column slices, single-threaded BLAS per thread). Leaves the kernels' thread setting in place.
std::vector<GemmRate> measure_peak(const ModelConfig& c, int L, int head_rows, int threads, double budget) {
    const int d = c.d_model, kv = c.n_kv_heads * c.head_dim, f = c.mlp_hidden, V = c.output_width;
    const std::vector<GemmShape> shapes = {
        {"square 2048", 2048, 2048, 2048},
        {"q/attn_out", L, d, d},
        {"k/v", L, kv, d},
        {"gate/up", L, f, d},
        {"down", L, d, f},
        {"head", head_rows, V, d},
    };
    std::vector<GemmRate> rates;
    for (const auto& s : shapes) {
        std::vector<float> x(static_cast<size_t>(s.M) * s.K), w(static_cast<size_t>(s.N) * s.K), y(static_cast<size_t>(s.M) * s.N);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
        const double flops = 2.0 * s.M * s.N * s.K;
        openblas_set_num_threads(threads);
        const double blas = best_gflops(
            [&] {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.M, s.N, s.K, 1.0f, x.data(), s.K, w.data(), s.K, 0.0f,
                            y.data(), s.N);
            },
            flops, budget);
        kernels::set_threads(threads);
        const kernels::Matrix W{DType::f32, w.data(), s.N, s.K};
        const double sliced = best_gflops([&] { kernels::cpu::matmul(x.data(), s.M, s.K, W, y.data(), s.N); }, flops, budget);
        rates.push_back({s, "blas", blas});
        rates.push_back({s, "sliced", sliced});
    }
    return rates;
}

// ---- 2. the prompt -------------------------------------------------------------------------------

// A chat prompt of exactly n tokens: the MMaDA template around a question, keeping its last n ids
// (the assistant header stays at the end), left-padded with end-of-text if it is shorter.
std::vector<int32_t> make_prompt(const std::string& dir, const ModelConfig& c, int n) {
    std::vector<int32_t> ids;
    if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
        const Tokenizer tok = Tokenizer::load(dir);
        ids = tok.encode(tok.apply_chat_template(
            "Explain in two sentences why the sky is blue during the day and red at sunset.", ChatTemplate::mmada));
    } else {
        for (int i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 11) % std::min(c.vocab_size, 256)));
    }
    const size_t want = static_cast<size_t>(n);
    if (ids.size() >= want) return std::vector<int32_t>(ids.end() - static_cast<std::ptrdiff_t>(want), ids.end());
    std::vector<int32_t> out(want - ids.size(), c.pad_token_id >= 0 ? c.pad_token_id : std::max(c.eos_token_id, 0));
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
}

// ---- 3. report -----------------------------------------------------------------------------------


double peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// User + system CPU seconds of this process so far (all threads).
double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct Args {
    std::string model;
    int gen_length = 128;
    int block_length = 32;
    int steps = 128;
    int prompt_tokens = 32;
    int threads = 0;
    std::string weights = "auto";
    std::string backend = "auto";
    std::string precision = "f32";
    double peak_seconds = 1.0;
    bool json_out = false;
};

int run(const Args& a) {
    kernels::set_threads(a.threads);
    const double load_before = bench::load_average();

    // The peak first, from config.json alone, so its matrices are freed before the model is loaded
    // and peak RSS is the run's. The head's row count varies per step (masked positions up to the
    // block end); time the first block's, the largest.
    const ModelConfig cfg = load_model_config(a.model);
    const int L = a.prompt_tokens + a.gen_length;
    const std::vector<GemmRate> rates = measure_peak(cfg, L, a.block_length, kernels::threads(), a.peak_seconds);
    const GemmRate peak = *std::max_element(rates.begin(), rates.end(), [](auto& x, auto& y) { return x.gflops < y.gflops; });

    LoadOptions lo;
    lo.weights = parse_weight_precision(a.weights);
    lo.backend = a.backend;
    lo.precision = kernels::parse_precision(a.precision);
    const auto t_load = clock_type::now();
    const auto model = Model::load(a.model, lo);
    const double load_s = seconds_since(t_load);
    const ModelConfig& c = model->config();

    GenerateParams p;
    p.gen_length = a.gen_length;
    p.block_length = a.block_length;
    p.steps = a.steps;
    p.mask_id = c.mask_token_id;
    if (p.mask_id < 0) fail("{}: config.json has no mask_token_id", a.model);
    const std::vector<int32_t> prompt = make_prompt(a.model, c, a.prompt_tokens);

    {  // warm-up forward: first-touch of buffers and BLAS scratch outside the timed run
        ForwardState st;
        std::vector<float> logits;
        std::vector<int32_t> canvas(prompt);
        canvas.resize(static_cast<size_t>(L), p.mask_id);
        st.run(*model, canvas, ForwardOptions{}, logits);
    }
    SeededNoise noise(0);
    const double cpu0 = cpu_seconds();
    const GenerateResult res = generate(*model, prompt, p, noise);
    const double cpu_s = cpu_seconds() - cpu0;
    const double load_after = bench::load_average();

    // The fastest single forward, with its own FLOPs (the head's row count shrinks within a block):
    // on a machine shared with other work it shows what a quiet moment allows.
    double best_fwd_gflops = 0.0;
    for (const StepRecord& st : res.steps) {
        const int block_end = static_cast<int>(prompt.size()) + (st.block + 1) * p.block_length;
        const int32_t* row = res.history.data() + static_cast<int64_t>(st.step) * L;
        const int masked = static_cast<int>(std::count(row, row + block_end, p.mask_id));
        best_fwd_gflops = std::max(best_fwd_gflops, forward_flops(c, L, L, std::max(masked, 1)) / st.forward_seconds / 1e9);
    }
    const double s_per_fwd = res.forward_seconds / res.forwards;
    const double tok_per_s = p.gen_length / res.seconds;
    const double gflops = res.flops / res.forward_seconds / 1e9;
    const double ratio = gflops / peak.gflops;
    const double rss = peak_rss_mib();

    if (a.json_out) {
        json sg = json::array();
        for (const auto& r : rates) sg.push_back({{"shape", r.shape.what}, {"how", r.how}, {"M", r.shape.M}, {"N", r.shape.N}, {"K", r.shape.K}, {"gflops", r.gflops}});
        const json out = {
            {"model", a.model},
            {"params", c.n_params()},
            {"weights", model->widened() ? "f32" : "native"},
            {"backend", model->backend().name()},
            {"precision", kernels::precision_name(model->precision())},
            {"threads", kernels::threads()},
            {"prompt_tokens", prompt.size()},
            {"gen_length", p.gen_length},
            {"block_length", p.block_length},
            {"steps", p.steps},
            {"canvas", L},
            {"load_seconds", load_s},
            {"sgemm", sg},
            {"sgemm_peak_gflops", peak.gflops},
            {"sgemm_peak_shape", peak.shape.what},
            {"sgemm_peak_how", peak.how},
            {"forwards", res.forwards},
            {"seconds", res.seconds},
            {"forward_seconds", res.forward_seconds},
            {"seconds_per_forward", s_per_fwd},
            {"tokens_per_second", tok_per_s},
            {"gflops", gflops},
            {"ratio_to_peak", ratio},
            {"best_forward_gflops", best_fwd_gflops},
            {"best_forward_ratio_to_peak", best_fwd_gflops / peak.gflops},
            {"peak_rss_mib", rss},
            {"cpu_seconds", cpu_s},
            {"load_average", {load_before, load_after}},
        };
        fmt::print("{}\n", out.dump(2));
        return 0;
    }
    fmt::print("model            {} ({:.1f} M parameters, weights {}, {} threads)\n", a.model, c.n_params() / 1e6,
               model->widened() ? "f32" : "native", kernels::threads());
    fmt::print("backend          {} ({}), precision {}; the sgemm peak below bounds only openblas and the f32 paths\n",
               model->backend().name(), model->backend().isa(), kernels::precision_name(model->precision()));
    fmt::print("run              prompt {} + gen_length {} = canvas {}, block_length {}, steps {}\n", prompt.size(), p.gen_length, L,
               p.block_length, p.steps);
    fmt::print("sgemm GFLOP/s    shape                    BLAS threaded   sliced (engine)\n");
    for (size_t i = 0; i + 1 < rates.size(); i += 2) {
        const GemmShape& s = rates[i].shape;
        fmt::print("                 {:<24} {:>13.1f}   {:>15.1f}\n", fmt::format("{} [{}x{}x{}]", s.what, s.M, s.N, s.K),
                   rates[i].gflops, rates[i + 1].gflops);
    }
    fmt::print("sgemm peak       {:.1f} GFLOP/s ({}, {})\n", peak.gflops, peak.shape.what, peak.how);
    fmt::print("load             {:.2f} s\n", load_s);
    fmt::print("generate         {:.2f} s, {} forwards ({:.2f} s in forwards)\n", res.seconds, res.forwards, res.forward_seconds);
    fmt::print("s/forward        {:.4f}\n", s_per_fwd);
    fmt::print("tokens/s         {:.2f}\n", tok_per_s);
    fmt::print("achieved         {:.1f} GFLOP/s = {:.1f}% of the sgemm peak\n", gflops, 100.0 * ratio);
    fmt::print("best forward     {:.1f} GFLOP/s = {:.1f}% of the sgemm peak\n", best_fwd_gflops, 100.0 * best_fwd_gflops / peak.gflops);
    fmt::print("peak RSS         {:.1f} MiB\n", rss);
    fmt::print("cpu time         {:.2f} s in generate ({:.2f} cores busy on average, spin-waits included)\n", cpu_s, cpu_s / res.seconds);
    fmt::print("load average     {:.2f} before, {:.2f} after ({} cores)\n", load_before, load_after, kernels::threads());
    return 0;
}

}  // namespace
}  // namespace dlmscope

int main(int argc, char** argv) {
    dlmscope::Args a;
    CLI::App app{"Benchmark generation: seconds per forward, tokens/s, GFLOP/s against the measured sgemm peak, peak RSS"};
    app.add_option("model", a.model, "Checkpoint directory (e.g. from dlmscope-make-checkpoint --preset 100m)")->required();
    app.add_option("--gen-length", a.gen_length, "Tokens to generate")->capture_default_str();
    app.add_option("--block-length", a.block_length, "Semi-autoregressive block length")->capture_default_str();
    app.add_option("--steps", a.steps, "Denoising steps")->capture_default_str();
    app.add_option("--prompt-tokens", a.prompt_tokens, "Prompt length in tokens")->capture_default_str();
    app.add_option("--threads", a.threads, "Threads for BLAS and OpenMP; 0 = all cores")->capture_default_str();
    app.add_option("--weights", a.weights, "Weight precision in memory: auto, f32 or native")
        ->check(CLI::IsMember({"auto", "f32", "native"}))
        ->capture_default_str();
    app.add_option("--backend", a.backend, "Kernel backend: auto or a name")->capture_default_str();
    app.add_option("--precision", a.precision, "f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
    app.add_option("--peak-seconds", a.peak_seconds, "Seconds spent timing each sgemm shape")->capture_default_str();
    app.add_flag("--json", a.json_out, "Print the figures as JSON");
    CLI11_PARSE(app, argc, argv);
    try {
        return dlmscope::run(a);
    } catch (const std::exception& e) {
        fmt::print(stderr, "dlmscope-bench: error: {}\n", e.what());
        return 1;
    }
}
