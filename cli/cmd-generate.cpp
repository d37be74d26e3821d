// `dlmscope generate "prompt"`: run the diffusion sampler and print the generated text;
// with --save-history, write the run manifest and the per-step canvases.
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "dlmscope/engine.h"
#include "dlmscope/run.h"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <sstream>

namespace dlmscope::cli {

namespace {

struct GenerateArgs {
    std::string prompt;
    std::string prompt_ids;
    std::string model;
    int gen_length = 128;
    int steps = 128;
    int block_length = 32;
    double temperature = 0.0;
    double cfg_scale = 0.0;
    std::string remasking = "low_confidence";
    uint64_t seed = 42;
    std::string templ = "auto";
    std::string sampler = "auto";
    bool save_history = false;
    bool visualize_attention = false;
    std::string capture_steps, capture_layers, capture_heads, capture_rows, capture_dtype;
    std::string out = "logs";
    std::string manifest = "generation_with_attention.json";
    int threads = 0;
    std::string backend = "auto";
    std::string precision = "f32";
    std::string weights = "auto";
    int64_t mask_id = -1;
    bool logits_eos_inf = false;
    bool confidence_eos_eot_inf = false;
    std::string cache = "none";
    double parallel_threshold = 0.0;
    int cache_refresh = 0;
    bool cache_audit = false;
    bool overwrite = false;
    bool quiet = false;
};

std::atomic<bool> g_cancel{false};
extern "C" void on_signal(int) { g_cancel.store(true); }

std::vector<int32_t> parse_ids(const std::string& s) {
    std::vector<int32_t> ids;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        const auto b = tok.find_first_not_of(" \t"), e = tok.find_last_not_of(" \t");
        if (b == std::string::npos) fail("--prompt-ids: empty entry in '{}'", s);
        tok = tok.substr(b, e - b + 1);
        size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(tok, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != tok.size() || v < 0 || v > INT32_MAX) fail("--prompt-ids: '{}' is not a token id", tok);
        ids.push_back(static_cast<int32_t>(v));
    }
    if (ids.empty()) fail("--prompt-ids is empty");
    return ids;
}

GenerateParams make_params(const GenerateArgs& a, const Engine& engine) {
    GenerateParams p = engine.default_params();
    p.gen_length = a.gen_length;
    p.block_length = a.block_length;
    p.steps = a.steps;
    p.temperature = a.temperature;
    p.cfg_scale = a.cfg_scale;
    p.remasking = parse_remasking(a.remasking);
    p.seed = a.seed;
    if (a.sampler != "auto") p.flavor = parse_sampler_flavor(a.sampler);
    if (a.mask_id >= 0) p.mask_id = static_cast<int32_t>(a.mask_id);
    p.logits_eos_inf = a.logits_eos_inf;
    p.confidence_eos_eot_inf = a.confidence_eos_eot_inf;
    p.cache = parse_cache_mode(a.cache);
    p.parallel_threshold = a.parallel_threshold;
    p.cache_refresh = a.cache_refresh;
    p.cache_audit = a.cache_audit;
    return p;
}

// The prompt: ids given directly, or text through the chat template.
RunPrompt make_prompt(const GenerateArgs& a, const Engine& engine) {
    RunPrompt pr;
    if (!a.prompt_ids.empty()) {
        if (!a.prompt.empty()) fail("give either a prompt or --prompt-ids, not both");
        pr.ids = parse_ids(a.prompt_ids);
        pr.rendered = engine.decode(pr.ids, false);
        pr.template_name = "ids";
        return pr;
    }
    if (a.prompt.empty()) fail("no prompt: pass a prompt text or --prompt-ids");
    ChatTemplate tmpl = parse_chat_template(a.templ);
    if (tmpl == ChatTemplate::automatic) tmpl = engine.chat_template();
    pr.text = a.prompt;
    pr.rendered = engine.apply_chat_template(a.prompt, tmpl);
    pr.ids = engine.encode(pr.rendered);
    pr.template_name = chat_template_name(tmpl);
    return pr;
}

// Capture: --visualize-attention, or any --capture-* option, turns it on (and implies history).
RunOptions make_run_options(const GenerateArgs& a) {
    RunOptions o;
    o.out_dir = a.out;
    o.manifest = a.manifest;
    o.existing = a.overwrite ? ExistingRun::overwrite : ExistingRun::refuse;
    o.capture = a.visualize_attention || !a.capture_steps.empty() || !a.capture_layers.empty() || !a.capture_heads.empty() ||
                !a.capture_rows.empty() || !a.capture_dtype.empty();
    if (!a.capture_steps.empty()) o.selection.parse_steps(a.capture_steps);
    if (!a.capture_layers.empty()) o.selection.parse_layers(a.capture_layers);
    if (!a.capture_heads.empty()) o.selection.parse_heads(a.capture_heads);
    if (!a.capture_rows.empty()) o.selection.parse_rows(a.capture_rows);
    if (!a.capture_dtype.empty()) o.selection.parse_dtype(a.capture_dtype);
    return o;
}

// SIGINT/SIGTERM raise the cancel flag for the span of a generation; a file-size limit (ulimit -f)
// must surface as a write error ("File too large"), not kill us.
class SignalsCancel {
public:
    SignalsCancel() {
        g_cancel.store(false);
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        std::signal(SIGXFSZ, SIG_IGN);
    }
    ~SignalsCancel() {
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
    }
    SignalsCancel(const SignalsCancel&) = delete;
    SignalsCancel& operator=(const SignalsCancel&) = delete;
};

void print_summary(const GenerateResult& res) {
    fmt::print(stderr, "dlmscope: {} steps, {} forwards in {:.2f}s ({:.1f} ms/forward, {:.1f} GFLOP/s)\n", res.steps.size(), res.forwards,
               res.seconds, 1e3 * res.forward_seconds / std::max(res.forwards, 1), res.flops / 1e9 / std::max(res.forward_seconds, 1e-9));
}

int run_generate(const GenerateArgs& a) {
    const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
    if (model_dir.empty()) fail("no model given: pass --model DIR or set DLMSCOPE_MODEL");
    RunOptions ro = make_run_options(a);
    const bool record = a.save_history || ro.capture;
    if (record) check_run_target(ro);  // before minutes of loading
    LoadOptions lo;
    lo.weights = parse_weight_precision(a.weights);
    lo.backend = a.backend == "fast" ? "auto" : a.backend;  // "fast": the old spelling of auto
    lo.precision = parse_precision(a.precision);
    lo.threads = a.threads;
    auto engine = Engine::load(model_dir, lo);
    const ModelInfo& info = engine->info();

    const RunPrompt prompt = make_prompt(a, *engine);
    const GenerateParams p = make_params(a, *engine);
    if (p.cache_audit && !record)
        fail("--cache-audit records the drift into the run directory: add --save-history or --visualize-attention");
    engine->validate(prompt.ids, p);

    std::unique_ptr<RunRecorder> run;
    if (record) run = std::make_unique<RunRecorder>(ro, info, p, prompt);
    Engine::ObserverHandle capture;
    if (run && run->tap()) capture = engine->attach(*run->tap());

    if (!a.quiet)
        fmt::print(stderr, "dlmscope: backend {} ({}), precision {}, {} threads\n", info.backend, info.isa, info.precision, info.threads);
    // A variable schedule has no step count known in advance: the bar then counts committed positions.
    const int fixed = fixed_steps_per_block(p);
    Progress bar("generate", fixed > 0 ? max_steps(p) : p.gen_length, !a.quiet);
    int committed = 0;
    GenerateCallbacks cb;
    cb.cancel = &g_cancel;
    cb.on_step = [&](const StepRecord& r) {
        committed += static_cast<int>(r.positions.size());
        bar.update(fixed > 0 ? r.step + 1 : committed, fmt::format("block {} step {}", r.block, r.step));
    };
    GenerateResult res;
    try {
        SignalsCancel signals;
        res = engine->generate(prompt.ids, p, cb);
    } catch (const std::exception& e) {
        bar.finish();
        if (run) {
            run->abort(e);
            fmt::print(stderr, "dlmscope: the incomplete run is in {} (complete: false)\n", run->manifest_path());
        }
        throw;
    }
    bar.finish();

    const RunText text = engine->text(res);
    fmt::print("{}\n", text.text);
    if (run) {
        try {
            run->finish(res, text);
        } catch (const std::exception& e) {
            run->abort(e);
            throw;
        }
        if (!a.quiet) fmt::print(stderr, "dlmscope: run written to {}\n", run->manifest_path());
    }
    if (!a.quiet) print_summary(res);
    return 0;
}

}  // namespace

Runner add_generate(CLI::App& app) {
    auto a = std::make_shared<GenerateArgs>();
    CLI::App* cmd = app.add_subcommand("generate", "Generate text with the masked-diffusion sampler");
    cmd->add_option("prompt", a->prompt, "Prompt text (rendered through --template)");
    cmd->add_option("--prompt-ids,--prompt_ids", a->prompt_ids, "Comma-separated prompt token ids (used as is, no template)");
    cmd->add_option("--model", a->model, "Checkpoint directory (default: $DLMSCOPE_MODEL or the bundled model)");
    cmd->add_option("--gen-length,--gen_length", a->gen_length, "Positions to generate")->default_val(128);
    cmd->add_option("--steps", a->steps, "Denoising steps in total")->default_val(128);
    cmd->add_option("--block-length,--block_length", a->block_length, "Block length (gen-length must be a multiple)")->default_val(32);
    cmd->add_option("--temperature", a->temperature, "Gumbel noise temperature; 0 = greedy")->default_val(0.0);
    cmd->add_option("--cfg-scale,--cfg_scale", a->cfg_scale, "Classifier-free guidance scale; 0 = off")->default_val(0.0);
    cmd->add_option("--remasking", a->remasking, "low_confidence or random")->default_val("low_confidence")
        ->check(CLI::IsMember({"low_confidence", "random"}));
    cmd->add_option("--seed", a->seed, "Seed of the sampler's random generator")->default_val(42);
    cmd->add_option("--template", a->templ, "Chat template: mmada (\\n), llada (\\n\\n), none, or auto (by model_type)")
        ->default_val("auto")->check(CLI::IsMember({"auto", "mmada", "llada", "none"}));
    cmd->add_option("--sampler", a->sampler, "Numerics of: mmada (f64 confidence), llada (f32), or auto (by model_type)")
        ->default_val("auto")->check(CLI::IsMember({"auto", "mmada", "llada"}));
    cmd->add_option("--mask-id", a->mask_id, "Mask token id (default: the tokenizer's <|mdm_mask|>)");
    cmd->add_flag("--logits-eos-inf", a->logits_eos_inf, "LLaDA option: never predict <|endoftext|>");
    cmd->add_flag("--confidence-eos-eot-inf", a->confidence_eos_eot_inf, "LLaDA option: lowest confidence for <|endoftext|>/<|eot_id|>");
    cmd->add_option("--cache", a->cache,
                    "K/V cache (Fast-dLLM): none (every step a full forward), prefix (recompute the block and what follows "
                    "against the cached prefix), dual (recompute the block only, against cached prefix and suffix)")
        ->default_val("none")->check(CLI::IsMember({"none", "prefix", "dual"}));
    cmd->add_option("--parallel-threshold", a->parallel_threshold,
                    "Commit the most confident masked position of the block and every other with confidence >= T "
                    "(0 < T < 1); 0 = the fixed schedule of --steps")
        ->default_val(0.0);
    cmd->add_option("--cache-refresh", a->cache_refresh, "With a cache: every N-th step of a block is a full forward that refills it (0 = off)")
        ->default_val(0)->check(CLI::NonNegativeNumber);
    cmd->add_flag("--cache-audit", a->cache_audit,
                  "With a cache: also run the exact forward at every cached step and record the attention/logit drift (slow)");
    cmd->add_flag("--save-history,--save_history", a->save_history, "Write the run manifest and per-step canvases");
    cmd->add_flag("--visualize-attention,--visualize_attention", a->visualize_attention,
                  "Capture attention (default: all steps, all layers, head mean, f16, with statistics); implies --save-history");
    cmd->add_option("--capture-steps", a->capture_steps, "Steps to capture: all | 0,5,9 | every:K | block-ends");
    cmd->add_option("--capture-layers", a->capture_layers, "Layers to capture: all | 0,3 | 4-11");
    cmd->add_option("--capture-heads", a->capture_heads, "Maps to store: mean | all | 0,2,5 | none (statistics only)");
    cmd->add_option("--capture-rows", a->capture_rows, "Query rows to store: all | generated | A:B");
    cmd->add_option("--capture-dtype", a->capture_dtype, "Precision of stored maps: f16 | f32");
    cmd->add_option("--out", a->out,
                    "Run directory for --save-history. A run already there under --manifest's name is kept and the "
                    "command refuses to start, unless --overwrite")
        ->default_val("logs");
    cmd->add_flag("--overwrite", a->overwrite, "Replace the run already in --out under --manifest's name (its manifest and arrays)");
    cmd->add_option("--manifest", a->manifest, "Manifest file name inside --out")->default_val("generation_with_attention.json");
    cmd->add_option("--threads", a->threads, "Threads (0 = all cores)")->default_val(0)->check(CLI::NonNegativeNumber);
    std::vector<std::string> names = {"auto"};
    const std::vector<std::string> known = backend_names();
    names.insert(names.end(), known.begin(), known.end());
    cmd->add_option("--backend", a->backend,
                    "Kernels: auto (the fastest this CPU runs) or one of " + fmt::format("{}", fmt::join(names.begin() + 1, names.end(), ", ")) +
                        " (this machine: " + fmt::format("{}", fmt::join(available_backends(), ", ")) + "); fast is the old spelling of auto")
        ->default_val("auto")->check(CLI::IsMember(names) | CLI::IsMember({"fast"}));
    cmd->add_option("--precision", a->precision, "Matrix products in f32 (as the official code in f32; default) or bf16 (bf16 inputs, f32 sums)")
        ->default_val("f32")->check(CLI::IsMember({"f32", "bf16"}));
    cmd->add_option("--weights", a->weights, "Weight precision in memory: auto, f32 or native (bf16 stays bf16)")
        ->default_val("auto")->check(CLI::IsMember({"auto", "f32", "native"}));
    cmd->add_flag("--quiet,-q", a->quiet, "No progress or summary on stderr");
    return [a] { return run_generate(*a); };
}

}  // namespace dlmscope::cli
