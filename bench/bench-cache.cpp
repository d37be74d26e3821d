// dlmscope-bench-cache: what Fast-dLLM's caches and threshold decoding buy, measured side by side.
//
//   dlmscope-bench-cache MODEL_DIR [MODEL_DIR...] [--canvas 160 --prompt 32 --block 32 --reps 5]
//                        [--precision f32|bf16] [--generate [--gen-length 256 --gen-block 32
//                        --gen-steps 256 --threshold 0.9 --prompt-text TEXT]] [--json]
//
// 1. Per-step forward cost, per model: the block's first step (a full forward that fills the K/V
//    cache), a prefix-cached step (rows from the block start to the end) and a dual-cached step (the
//    block's rows only) on the same canvas, each with capture off and on (the CLI's default capture,
//    written to a temporary run): median ms of --reps after a warm-up, the ratio to the full
//    forward, and the capture overhead of each kind.
// 2. With --generate, per model: a whole generate() with the plain sampler (every step a full
//    forward) and with --cache dual --parallel-threshold T, capture off, and the latter with capture
//    on: seconds, generated tokens/s, forwards, the speedup, and the share of generated positions
//    where the two runs' tokens agree. The prompt is --prompt-text through the model's chat template
//    when the model has a tokenizer, else --prompt synthetic ids.
// The 1-minute load average is printed with the figures: other load on the cores lowers them all.
#include "capture/capture.h"
#include "core/error.h"
#include "engine/kernels/cpu-features.h"
#include "engine/kernels/kernels.h"
#include "engine/model/forward.h"
#include "engine/sampler/diffusion.h"
#include "engine/tokenizer/tokenizer.h"
#include "peaks.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Args {
    std::vector<std::string> models;
    int canvas = 160, prompt = 32, block = 32, reps = 5;
    std::string precision = "f32";
    bool generate = false;
    int gen_length = 256, gen_block = 32, gen_steps = 256;
    double threshold = 0.9;
    std::string prompt_text = "Tell me a fortune about the sea.";
    bool json_out = false;
};

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// A run directory for the CLI's default capture, removed when done.
struct TempCapture {
    TempCapture(const ModelConfig& c, int steps, int spb, int prompt, int L, int32_t mask) {
        dir = (fs::temp_directory_path() / fmt::format("dlmscope-bench-cache-{}-{}", ::getpid(), counter++)).string();
        run = std::make_unique<RunWriter>(dir, "bench.json", json{{"bench", true}});
        tap = std::make_unique<CaptureTap>(CaptureSelection{}, CaptureLayout{c.n_layers, c.n_heads, steps, spb, prompt, L, mask}, *run);
    }
    ~TempCapture() {
        tap->finish_quietly();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string dir;
    std::unique_ptr<RunWriter> run;
    std::unique_ptr<CaptureTap> tap;
    static inline int counter = 0;
};

struct ForwardRow {
    std::string model, kind, capture;
    int rows = 0;
    double ms = 0, ratio = 0, overhead = 0;
};

// Median ms of `reps` forwards of one kind after a warm-up; the cache is filled by a full forward first.
double time_kind(const Model& m, const std::vector<int32_t>& canvas, KvUse kv, int r0, int r1, const std::vector<int>& logit_rows,
                 int reps, bool capture, int prompt, int32_t mask) {
    const ModelConfig& c = m.config();
    const int L = static_cast<int>(canvas.size());
    KvCache cache;
    cache.reset(c, L);
    ForwardState st;
    std::vector<float> logits;
    ForwardOptions fill;
    fill.kv = KvUse::fill;
    fill.cache = &cache;
    fill.logit_rows = logit_rows;
    st.run(m, canvas, fill, logits);
    std::unique_ptr<TempCapture> cap;
    if (capture) cap = std::make_unique<TempCapture>(c, reps + 2, 0, prompt, L, mask);
    std::vector<double> times;
    for (int i = 0; i <= reps; ++i) {
        ForwardOptions fo;
        fo.kv = kv;
        fo.cache = &cache;
        fo.row_begin = r0;
        fo.row_end = r1;
        fo.logit_rows = logit_rows;
        fo.tap = cap ? cap->tap.get() : nullptr;
        fo.ctx.step = i + 1;
        fo.ctx.block = 0;
        fo.ctx.step_in_block = i + 1;
        fo.ctx.prompt_length = prompt;
        fo.ctx.mask_id = mask;
        const auto t0 = clock_type::now();
        st.run(m, canvas, fo, logits);
        if (i > 0) times.push_back(seconds_since(t0));
    }
    if (cap) cap->tap->finish();
    std::sort(times.begin(), times.end());
    return 1e3 * times[times.size() / 2];
}

struct GenRow {
    std::string model, mode, capture;
    double seconds = 0, tokens_per_s = 0, speedup = 0, agreement = -1;
    int forwards = 0;
    std::vector<int> block_steps;
};

int run(const Args& a) {
    const double load_before = bench::load_average();
    const kernels::Precision prec = kernels::parse_precision(a.precision);
    std::vector<ForwardRow> frows;
    std::vector<GenRow> grows;
    std::string backend;
    for (const std::string& dir : a.models) {
        LoadOptions lo;
        lo.precision = prec;
        const auto model = Model::load(dir, lo);
        backend = model->backend().name();
        const ModelConfig& c = model->config();
        const std::string name = fs::path(dir).filename().string();
        const int32_t mask = c.mask_token_id >= 0 ? c.mask_token_id : c.output_width - 1;

        // 1. One step of each kind on the same canvas.
        if (a.prompt + a.block > a.canvas) fail("--prompt {} + --block {} exceeds --canvas {}", a.prompt, a.block, a.canvas);
        std::vector<int32_t> canvas(static_cast<size_t>(a.canvas), mask);
        for (int i = 0; i < a.prompt; ++i) canvas[i] = static_cast<int32_t>((i * 7919 + 11) % std::min(c.vocab_size, 4000));
        const int b0 = a.prompt, b1 = a.prompt + a.block;
        std::vector<int> logit_rows;
        for (int i = b0; i < b1; ++i) logit_rows.push_back(i);
        struct Kind {
            const char* name;
            KvUse kv;
            int r0, r1;
        };
        const Kind kinds[] = {{"full", KvUse::fill, 0, a.canvas}, {"prefix", KvUse::reuse, b0, a.canvas}, {"dual", KvUse::reuse, b0, b1}};
        double full_ms[2] = {0, 0}, off_ms[3] = {0, 0, 0};
        for (int cap = 0; cap < 2; ++cap)
            for (int k = 0; k < 3; ++k) {
                const Kind& kd = kinds[k];
                ForwardRow r;
                r.model = name;
                r.kind = kd.name;
                r.capture = cap ? "on" : "off";
                r.rows = kd.r1 - kd.r0;
                r.ms = time_kind(*model, canvas, kd.kv, kd.r0, kd.r1, logit_rows, a.reps, cap, a.prompt, mask);
                if (k == 0) full_ms[cap] = r.ms;
                if (!cap) off_ms[k] = r.ms;
                r.ratio = r.ms / full_ms[cap];
                r.overhead = cap ? r.ms / off_ms[k] - 1.0 : 0.0;
                frows.push_back(r);
                if (!a.json_out) fmt::print(stderr, "  {} {} capture {}: {:.1f} ms\n", name, kd.name, r.capture, r.ms);
            }

        // 2. Whole generations: the plain sampler against dual cache + threshold.
        if (!a.generate) continue;
        std::vector<int32_t> prompt;
        if (fs::exists(fs::path(dir) / "tokenizer.json")) {
            const Tokenizer tok = Tokenizer::load(dir);
            prompt = tok.encode(tok.apply_chat_template(a.prompt_text, c.model_type == "llada" ? ChatTemplate::llada : ChatTemplate::mmada));
        } else {
            prompt.assign(canvas.begin(), canvas.begin() + a.prompt);
        }
        GenerateParams p;
        p.gen_length = a.gen_length;
        p.block_length = a.gen_block;
        p.steps = a.gen_steps;
        p.mask_id = mask;
        p.flavor = c.model_type == "llada" ? SamplerFlavor::llada : SamplerFlavor::mmada;
        const int L = static_cast<int>(prompt.size()) + p.gen_length;
        std::vector<int32_t> plain_out;
        double plain_s = 0;
        struct Mode {
            const char* name;
            CacheMode cache;
            double threshold;
            bool capture;
        };
        const std::string fast = fmt::format("dual + threshold {}", a.threshold);
        const Mode modes[] = {{"plain", CacheMode::none, 0.0, false}, {fast.c_str(), CacheMode::dual, a.threshold, false},
                              {fast.c_str(), CacheMode::dual, a.threshold, true}};
        for (const Mode& md : modes) {
            GenerateParams q = p;
            q.cache = md.cache;
            q.parallel_threshold = md.threshold;
            std::unique_ptr<TempCapture> cap;
            if (md.capture) cap = std::make_unique<TempCapture>(c, max_steps(q), fixed_steps_per_block(q), static_cast<int>(prompt.size()), L, mask);
            SeededNoise noise(0);
            GenerateHooks hooks;
            hooks.tap = cap ? cap->tap.get() : nullptr;
            const auto t0 = clock_type::now();
            const GenerateResult res = generate(*model, prompt, q, noise, hooks);
            if (cap) cap->tap->finish();
            GenRow g;
            g.model = name;
            g.mode = md.name;
            g.capture = md.capture ? "on" : "off";
            g.seconds = seconds_since(t0);
            g.tokens_per_s = p.gen_length / g.seconds;
            g.forwards = res.forwards;
            g.block_steps = res.steps_per_block;
            const std::vector<int32_t> out(res.canvas.begin() + static_cast<int64_t>(prompt.size()), res.canvas.end());
            if (md.cache == CacheMode::none) {
                plain_out = out;
                plain_s = g.seconds;
            } else {
                int same = 0;
                for (size_t i = 0; i < out.size(); ++i) same += out[i] == plain_out[i];
                g.agreement = static_cast<double>(same) / static_cast<double>(out.size());
            }
            g.speedup = plain_s / g.seconds;
            grows.push_back(g);
            if (!a.json_out) fmt::print(stderr, "  {} generate {} capture {}: {:.2f} s\n", name, md.name, g.capture, g.seconds);
        }
    }

    const kernels::CpuFeatures& cpu = kernels::cpu_features();
    if (a.json_out) {
        json fj = json::array(), gj = json::array();
        for (const ForwardRow& r : frows)
            fj.push_back({{"model", r.model}, {"kind", r.kind}, {"capture", r.capture}, {"rows", r.rows}, {"ms", r.ms},
                          {"ratio_to_full", r.ratio}, {"capture_overhead", r.overhead}});
        for (const GenRow& g : grows)
            gj.push_back({{"model", g.model}, {"mode", g.mode}, {"capture", g.capture}, {"seconds", g.seconds},
                          {"tokens_per_s", g.tokens_per_s}, {"forwards", g.forwards}, {"speedup", g.speedup},
                          {"token_agreement", g.agreement >= 0 ? json(g.agreement) : json(nullptr)}, {"block_steps", g.block_steps}});
        fmt::print("{}\n", json{{"cpu", cpu.model}, {"flags", cpu.flags()}, {"backend", backend}, {"precision", a.precision},
                                {"canvas", a.canvas}, {"block", a.block}, {"forwards", fj}, {"generate", gj},
                                {"load_average", {load_before, bench::load_average()}}}
                               .dump(2));
        return 0;
    }
    fmt::print("cpu        {} ({})\nbackend    {} at {}, {} threads\n", cpu.model, cpu.flags(), backend, a.precision, kernels::threads());
    fmt::print("\nper-step forward, canvas {} ({} prompt), block [{}, {}), median of {} after a warm-up\n", a.canvas, a.prompt, a.prompt,
               a.prompt + a.block, a.reps);
    fmt::print("{:<16} {:<7} {:>5} {:>8} {:>10} {:>9} {:>9}\n", "model", "kind", "rows", "capture", "ms/step", "of full", "capture+");
    for (const ForwardRow& r : frows)
        fmt::print("{:<16} {:<7} {:>5} {:>8} {:>10.2f} {:>8.1f}% {:>9}\n", r.model, r.kind, r.rows, r.capture, r.ms, 100.0 * r.ratio,
                   r.capture == "on" ? fmt::format("{:+.1f}%", 100.0 * r.overhead) : "");
    if (!grows.empty()) {
        fmt::print("\ngenerate {} tokens, block {}, {} steps (plain), greedy\n", a.gen_length, a.gen_block, a.gen_steps);
        fmt::print("{:<16} {:<22} {:>8} {:>9} {:>9} {:>9} {:>8} {:>10}\n", "model", "mode", "capture", "seconds", "tokens/s", "forwards",
                   "speedup", "agreement");
        for (const GenRow& g : grows)
            fmt::print("{:<16} {:<22} {:>8} {:>9.2f} {:>9.1f} {:>9} {:>7.2f}× {:>10}\n", g.model, g.mode, g.capture, g.seconds,
                       g.tokens_per_s, g.forwards, g.speedup, g.agreement >= 0 ? fmt::format("{:.1f}%", 100.0 * g.agreement) : "");
    }
    fmt::print("\nload average {:.2f} before, {:.2f} after\n", load_before, bench::load_average());
    return 0;
}

}  // namespace
}  // namespace dlmscope

int main(int argc, char** argv) {
    dlmscope::Args a;
    CLI::App app{"Per-step cost of cached forwards and end-to-end speed of cached/threshold decoding"};
    app.add_option("models", a.models, "Checkpoint directories (the bundled model, dlmscope-make-checkpoint --preset 1b, …)")->required();
    app.add_option("--canvas", a.canvas, "Canvas length of the per-step forwards")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--prompt", a.prompt, "Prompt positions at the start of that canvas")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--block", a.block, "Block length: the rows a dual step recomputes")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--reps", a.reps, "Timed forwards per kind (median)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--precision", a.precision, "f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
    app.add_flag("--generate", a.generate, "Also time whole generations: plain vs dual cache + threshold");
    app.add_option("--gen-length", a.gen_length, "Generated tokens")->capture_default_str();
    app.add_option("--gen-block", a.gen_block, "Block length of the generations")->capture_default_str();
    app.add_option("--gen-steps", a.gen_steps, "Steps of the plain sampler")->capture_default_str();
    app.add_option("--threshold", a.threshold, "Parallel threshold of the fast run")->capture_default_str();
    app.add_option("--prompt-text", a.prompt_text, "Prompt for models with a tokenizer")->capture_default_str();
    app.add_flag("--json", a.json_out, "Print the figures as JSON");
    CLI11_PARSE(app, argc, argv);
    try {
        return dlmscope::run(a);
    } catch (const dlmscope::Error& e) {
        fmt::print(stderr, "dlmscope-bench-cache: error: {}\n", e.what());
        return 1;
    }
}
