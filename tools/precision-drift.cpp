// dlmscope-precision-drift: how far bf16 matrix products move a model's outputs away from f32.
//
//   dlmscope-precision-drift MODEL_DIR [--prompt TEXT]... [--gen-length 64 --steps 64 --block-length 32]
//                            [--backend auto] [--threads 0] [--json]
//
// The model is loaded twice on the same backend, at f32 precision (token-exact with the official
// code) and at bf16 (both operands of every weight matmul rounded to bf16, f32 sums: what the
// official code computes on a GPU in bf16). Each prompt goes through the model's chat template;
// the canvas is prompt + gen-length masks. Per prompt:
//  (a) one forward of that step-0 canvas with each precision: the largest |logit_bf16 − logit_f32|
//      over every canvas position and vocabulary id, the same relative to the largest |logit_f32|,
//      argmax agreement over the generated positions, the largest |P_bf16 − P_f32| over every
//      layer's and head's attention probabilities, and the mean Jensen–Shannon divergence (bits,
//      0..1) between the two precisions' attention rows;
//  (b) a full greedy generate() with each precision (temperature 0, SeededNoise(42)): the share of
//      the gen-length positions holding the same final id, and the first step after which the two
//      canvases differ ("none" when every step committed the same positions and tokens).
// Prints a table (one row per prompt and a row of the worst values), or the same as JSON (--json).
// tests/parity/test-precision.cpp bounds the same kind of drift on the fixture runs.
#include "core/error.h"
#include "core/json.h"
#include "dlmscope/capture.h"
#include "dlmscope/engine.h"
#include "engine/kernels/kernels.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace dlmscope;

namespace {

const std::vector<std::string> kDefaultPrompts = {
    "Tell me a fortune about computers.",
    "What is the secret of a happy life?",
    "Say something wise about love.",
    "Give me some advice for today.",
};

// What one prompt measures; first_diff_step = -1 when the two runs never diverge.
struct PromptDrift {
    std::string prompt;
    int prompt_length = 0;
    double max_logit_diff = 0.0;
    double max_logit_f32 = 0.0;
    double rel_logit_diff = 0.0;  // max_logit_diff / max_logit_f32
    int argmax_same = 0;
    int argmax_total = 0;
    double max_attn_diff = 0.0;
    double mean_js_bits = 0.0;
    int tokens_same = 0;
    int gen_length = 0;
    int first_diff_step = -1;
    std::string text_f32, text_bf16;
};

// Jensen–Shannon divergence in bits of two probability rows of n entries.
double js_bits(const float* p, const float* q, int n) {
    double js = 0.0;
    for (int i = 0; i < n; ++i) {
        const double a = p[i], b = q[i], m = 0.5 * (a + b);
        if (a > 0.0) js += 0.5 * a * std::log2(a / m);
        if (b > 0.0) js += 0.5 * b * std::log2(b / m);
    }
    return std::max(js, 0.0);
}

// The larger of two differences, NaN if either is (std::max(m, NaN) returns m, which would report a
// NaN output as no drift at all).
double worse(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }

int argmax_of(const float* row, int n) { return static_cast<int>(std::max_element(row, row + n) - row); }

// Step-0 forward of `canvas` on one engine: logits [L, V], and every layer's probabilities (all
// heads, f32) in `rec`, keyed by (-1, layer).
std::vector<float> step0_forward(Engine& engine, const std::vector<int32_t>& canvas, AttentionRecorder& rec) {
    auto handle = engine.attach(rec);
    return engine.forward(canvas);
}

AttentionRecorder all_heads_recorder() {
    CaptureSelection sel;
    sel.heads = CaptureSelection::Heads::all;
    return AttentionRecorder(sel);
}

PromptDrift measure(Engine& f32, Engine& bf16, const std::string& text, const GenerateParams& params) {
    PromptDrift d;
    d.prompt = text;
    const std::vector<int32_t> prompt = f32.encode_chat(text);
    f32.validate(prompt, params);
    const int P = static_cast<int>(prompt.size()), G = params.gen_length, V = f32.info().embedding_size;
    d.prompt_length = P;
    d.gen_length = G;

    // (a) step 0: the same canvas through both precisions.
    std::vector<int32_t> canvas(prompt);
    canvas.resize(static_cast<size_t>(P + G), params.mask_id);
    AttentionRecorder attn_f32 = all_heads_recorder(), attn_bf16 = all_heads_recorder();
    const std::vector<float> lf = step0_forward(f32, canvas, attn_f32);
    const std::vector<float> lb = step0_forward(bf16, canvas, attn_bf16);
    for (size_t i = 0; i < lf.size(); ++i) {
        d.max_logit_diff = worse(d.max_logit_diff, std::abs(static_cast<double>(lb[i]) - lf[i]));
        d.max_logit_f32 = std::max(d.max_logit_f32, std::abs(static_cast<double>(lf[i])));
    }
    d.rel_logit_diff = d.max_logit_f32 > 0.0 ? d.max_logit_diff / d.max_logit_f32 : 0.0;
    for (int pos = P; pos < P + G; ++pos) {
        const size_t off = static_cast<size_t>(pos) * V;
        d.argmax_same += argmax_of(lf.data() + off, V) == argmax_of(lb.data() + off, V);
        ++d.argmax_total;
    }
    double js_sum = 0.0;
    int64_t rows = 0;
    for (const auto& [key, map] : attn_f32.maps()) {
        const std::vector<float>& a = map.data;
        const std::vector<float>& b = attn_bf16.maps().at(key).data;
        const int n = map.keys;
        for (size_t i = 0; i < a.size(); ++i) d.max_attn_diff = worse(d.max_attn_diff, std::abs(static_cast<double>(b[i]) - a[i]));
        for (size_t r = 0; r + static_cast<size_t>(n) <= a.size(); r += static_cast<size_t>(n), ++rows)
            js_sum += js_bits(a.data() + r, b.data() + r, n);
    }
    d.mean_js_bits = rows ? js_sum / static_cast<double>(rows) : 0.0;

    // (b) the whole greedy run with each precision.
    const GenerateResult rf = f32.generate(prompt, params);
    const GenerateResult rb = bf16.generate(prompt, params);
    for (int pos = P; pos < P + G; ++pos) d.tokens_same += rf.canvas[static_cast<size_t>(pos)] == rb.canvas[static_cast<size_t>(pos)];
    // history row s + 1 = the canvas after step s.
    const size_t L = static_cast<size_t>(P + G);
    for (int s = 0; s < params.steps && d.first_diff_step < 0; ++s) {
        const auto row = static_cast<size_t>(s + 1) * L;
        if (!std::equal(rf.history.begin() + static_cast<int64_t>(row), rf.history.begin() + static_cast<int64_t>(row + L),
                        rb.history.begin() + static_cast<int64_t>(row)))
            d.first_diff_step = s;
    }
    d.text_f32 = f32.decode(generated_ids(rf), true);
    d.text_bf16 = bf16.decode(generated_ids(rb), true);
    return d;
}

// The worst value of every column: largest differences, fewest agreements, earliest divergence.
PromptDrift worst_of(const std::vector<PromptDrift>& all) {
    PromptDrift w;
    w.prompt = "worst";
    bool first = true;
    for (const PromptDrift& d : all) {
        w.max_logit_diff = worse(w.max_logit_diff, d.max_logit_diff);
        w.max_logit_f32 = std::max(w.max_logit_f32, d.max_logit_f32);
        w.rel_logit_diff = worse(w.rel_logit_diff, d.rel_logit_diff);
        w.max_attn_diff = worse(w.max_attn_diff, d.max_attn_diff);
        w.mean_js_bits = std::max(w.mean_js_bits, d.mean_js_bits);
        // Agreements keep the lowest share.
        if (first || d.argmax_same * w.argmax_total < w.argmax_same * d.argmax_total) {
            w.argmax_same = d.argmax_same;
            w.argmax_total = d.argmax_total;
        }
        if (first || d.tokens_same * w.gen_length < w.tokens_same * d.gen_length) {
            w.tokens_same = d.tokens_same;
            w.gen_length = d.gen_length;
        }
        if (d.first_diff_step >= 0 && (w.first_diff_step < 0 || d.first_diff_step < w.first_diff_step)) w.first_diff_step = d.first_diff_step;
        first = false;
    }
    return w;
}

std::string shorten(const std::string& s, size_t width) { return s.size() <= width ? s : s.substr(0, width - 3) + "..."; }

std::string step_text(int step) { return step < 0 ? "none" : std::to_string(step); }

void print_table(const std::vector<PromptDrift>& rows, const PromptDrift& worst) {
    fmt::print("{:<36} {:>4} {:>11} {:>9} {:>8} {:>9} {:>9} {:>8} {:>10}\n", "prompt", "P", "max|dlogit|", "rel", "argmax", "max|dP|",
               "JS bits", "tokens", "first diff");
    const auto line = [](const PromptDrift& d, const std::string& plen) {
        fmt::print("{:<36} {:>4} {:>11.3e} {:>9.2e} {:>8} {:>9.2e} {:>9.2e} {:>8} {:>10}\n", shorten(d.prompt, 36), plen,
                   d.max_logit_diff, d.rel_logit_diff, fmt::format("{}/{}", d.argmax_same, d.argmax_total), d.max_attn_diff,
                   d.mean_js_bits, fmt::format("{}/{}", d.tokens_same, d.gen_length), step_text(d.first_diff_step));
    };
    for (const PromptDrift& d : rows) line(d, std::to_string(d.prompt_length));
    line(worst, "");
}

json to_json(const PromptDrift& d) {
    return {{"prompt", d.prompt},
            {"prompt_length", d.prompt_length},
            {"max_abs_logit_diff", d.max_logit_diff},
            {"max_abs_logit_f32", d.max_logit_f32},
            {"max_rel_logit_diff", d.rel_logit_diff},
            {"argmax_agreement", {{"same", d.argmax_same}, {"positions", d.argmax_total}}},
            {"max_abs_attention_diff", d.max_attn_diff},
            {"mean_attention_js_bits", d.mean_js_bits},
            {"token_agreement", {{"same", d.tokens_same}, {"positions", d.gen_length}}},
            {"first_diff_step", d.first_diff_step < 0 ? json(nullptr) : json(d.first_diff_step)},
            {"text_f32", d.text_f32},
            {"text_bf16", d.text_bf16}};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"dlmscope-precision-drift: bf16 against f32 matrix products on one model — logits, attention, generated tokens"};
    std::string model_dir, backend = "auto";
    std::vector<std::string> prompts;
    int threads = 0;
    bool as_json = false;
    GenerateParams gp;
    gp.gen_length = 64;
    gp.steps = 64;
    gp.block_length = 32;
    app.add_option("model", model_dir, "Checkpoint directory")->required();
    app.add_option("--prompt", prompts, "Prompt text, through the chat template (repeatable; default: four built-in prompts)");
    app.add_option("--gen-length", gp.gen_length, "Positions to generate")->capture_default_str();
    app.add_option("--steps", gp.steps, "Denoising steps in total")->capture_default_str();
    app.add_option("--block-length", gp.block_length, "Block length")->capture_default_str();
    app.add_option("--backend", backend, "Kernels for both precisions: auto or a registry name")->capture_default_str();
    app.add_option("--threads", threads, "Threads (0 = all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_flag("--json", as_json, "Print JSON instead of the table");
    CLI11_PARSE(app, argc, argv);
    if (prompts.empty()) prompts = kDefaultPrompts;
    try {
        LoadOptions lo;
        lo.backend = backend;
        lo.threads = threads;
        lo.precision = Precision::f32;
        auto f32 = Engine::load(model_dir, lo);
        lo.precision = Precision::bf16;
        auto bf16 = Engine::load(model_dir, lo);

        GenerateParams params = f32->default_params();
        params.gen_length = gp.gen_length;
        params.steps = gp.steps;
        params.block_length = gp.block_length;
        params.temperature = 0.0;
        if (params.mask_id < 0) fail("{}: cannot tell the mask token (no <|mdm_mask|>, no mask_token_id)", model_dir);

        std::vector<PromptDrift> rows;
        for (const std::string& p : prompts) rows.push_back(measure(*f32, *bf16, p, params));
        const PromptDrift worst = worst_of(rows);

        const ModelInfo& be = f32->info();
        if (as_json) {
            json out = {{"model", model_dir},
                        {"backend", be.backend},
                        {"isa", be.isa},
                        {"settings", {{"gen_length", params.gen_length}, {"steps", params.steps}, {"block_length", params.block_length},
                                      {"temperature", 0.0}, {"seed", 42}}},
                        {"prompts", json::array()}};
            for (const PromptDrift& d : rows) out["prompts"].push_back(to_json(d));
            json w = to_json(worst);
            for (const char* key : {"prompt", "prompt_length", "text_f32", "text_bf16"}) w.erase(key);
            out["worst"] = w;
            fmt::print("{}\n", out.dump(2));
        } else {
            fmt::print("model {}  backend {} ({})  gen-length {}, steps {}, blocks of {}, greedy\n", model_dir, be.backend, be.isa,
                       params.gen_length, params.steps, params.block_length);
            fmt::print("bf16 against f32: step-0 logits, argmax and attention; final tokens of a whole run\n\n");
            print_table(rows, worst);
        }
    } catch (const Error& e) {
        fmt::print(stderr, "dlmscope-precision-drift: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
