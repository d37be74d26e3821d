// `dlmscope generate "prompt"`: run the diffusion sampler and print the generated text;
// with --save-history, write the run manifest and the per-step canvases.
#include "capture/capture.h"
#include "capture/run-writer.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "engine/kernels/kernels.h"
#include "engine/sampler/diffusion.h"
#include "engine/tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <ctime>
#include <filesystem>
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

// The text a reader sees for one canvas token.
std::string token_text(const Tokenizer& tok, int32_t id) {
    if (id >= 0 && id < tok.size()) return tok.piece(id);
    return fmt::format("<id:{}>", id);
}

int run_generate(const GenerateArgs& a) {
    kernels::set_threads(a.threads);
    const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
    if (model_dir.empty()) fail("no model given: pass --model DIR or set DLMSCOPE_MODEL");
    LoadOptions lo;
    lo.weights = parse_weight_precision(a.weights);
    lo.backend = a.backend == "fast" ? "auto" : a.backend;  // "fast": the old spelling of auto
    lo.precision = kernels::parse_precision(a.precision);
    auto model = Model::load(model_dir, lo);
    const ModelConfig& c = model->config();
    Tokenizer tok = Tokenizer::load(model_dir);

    // Prompt: ids given directly, or text through the chat template.
    ChatTemplate tmpl = ChatTemplate::none;
    if (a.templ == "auto") tmpl = c.model_type == "llada" ? ChatTemplate::llada : ChatTemplate::mmada;
    else tmpl = parse_chat_template(a.templ);
    std::vector<int32_t> prompt;
    std::string prompt_text;
    if (!a.prompt_ids.empty()) {
        if (!a.prompt.empty()) fail("give either a prompt or --prompt-ids, not both");
        prompt = parse_ids(a.prompt_ids);
        prompt_text = tok.decode(prompt, false);
    } else {
        if (a.prompt.empty()) fail("no prompt: pass a prompt text or --prompt-ids");
        prompt_text = tok.apply_chat_template(a.prompt, tmpl);
        prompt = tok.encode(prompt_text);
    }

    GenerateParams p;
    p.gen_length = a.gen_length;
    p.block_length = a.block_length;
    p.steps = a.steps;
    p.temperature = a.temperature;
    p.cfg_scale = a.cfg_scale;
    p.remasking = parse_remasking(a.remasking);
    p.flavor = a.sampler == "auto" ? (c.model_type == "llada" ? SamplerFlavor::llada : SamplerFlavor::mmada)
                                   : parse_sampler_flavor(a.sampler);
    if (a.mask_id >= 0) p.mask_id = static_cast<int32_t>(a.mask_id);
    else if (auto m = tok.token_to_id("<|mdm_mask|>")) p.mask_id = *m;
    else p.mask_id = c.mask_token_id;
    if (p.mask_id < 0) fail("{}: cannot tell the mask token (no <|mdm_mask|> in the tokenizer, no mask_token_id in config.json); pass --mask-id", model_dir);
    p.logits_eos_inf = a.logits_eos_inf;
    p.confidence_eos_eot_inf = a.confidence_eos_eot_inf;
    p.eos_id = tok.token_to_id("<|endoftext|>").value_or(c.eos_token_id);
    p.eot_id = tok.token_to_id("<|eot_id|>").value_or(-1);
    p.cache = parse_cache_mode(a.cache);
    p.parallel_threshold = a.parallel_threshold;
    p.cache_refresh = a.cache_refresh;
    p.cache_audit = a.cache_audit;
    if (p.cache_audit && !(a.save_history || a.visualize_attention))
        fail("--cache-audit records the drift into the run directory: add --save-history or --visualize-attention");
    for (size_t i = 0; i < prompt.size(); ++i)
        if (prompt[i] < 0 || prompt[i] >= c.output_width)
            fail("prompt token id {} at position {} is outside the model's vocabulary (0..{})", prompt[i], i, c.output_width - 1);
    validate_params(p, static_cast<int>(prompt.size()), c);

    const int P = static_cast<int>(prompt.size()), L = P + p.gen_length;
    json params = {{"gen_length", p.gen_length}, {"block_length", p.block_length}, {"steps", p.steps},
                   {"temperature", p.temperature}, {"cfg_scale", p.cfg_scale}, {"remasking", remasking_name(p.remasking)},
                   {"seed", a.seed}, {"mask_id", p.mask_id}, {"sampler", sampler_flavor_name(p.flavor)},
                   {"template", a.prompt_ids.empty() ? (tmpl == ChatTemplate::llada ? "llada" : tmpl == ChatTemplate::mmada ? "mmada" : "none") : "ids"},
                   {"logits_eos_inf", p.logits_eos_inf}, {"confidence_eos_eot_inf", p.confidence_eos_eot_inf},
                   {"cache", cache_mode_name(p.cache)},
                   {"parallel_threshold", p.parallel_threshold > 0.0 ? json(p.parallel_threshold) : json(nullptr)},
                   {"cache_refresh", p.cache_refresh}, {"cache_audit", p.cache_audit},
                   {"backend", model->backend().name()}, {"isa", model->backend().isa()},
                   {"precision", kernels::precision_name(model->precision())}, {"threads", kernels::threads()}};

    // Capture: --visualize-attention, or any --capture-* option, turns it on (and implies history).
    const bool capture = a.visualize_attention || !a.capture_steps.empty() || !a.capture_layers.empty() ||
                         !a.capture_heads.empty() || !a.capture_rows.empty() || !a.capture_dtype.empty();
    CaptureSelection sel;
    if (!a.capture_steps.empty()) sel.parse_steps(a.capture_steps);
    if (!a.capture_layers.empty()) sel.parse_layers(a.capture_layers);
    if (!a.capture_heads.empty()) sel.parse_heads(a.capture_heads);
    if (!a.capture_rows.empty()) sel.parse_rows(a.capture_rows);
    if (!a.capture_dtype.empty()) sel.parse_dtype(a.capture_dtype);
    const int n_blocks = p.gen_length / p.block_length;
    CaptureLayout layout{c.n_layers, c.n_heads, max_steps(p), fixed_steps_per_block(p), P, L, p.mask_id};
    if (capture) sel.validate(c.n_layers, c.n_heads, layout.steps, L);

    std::unique_ptr<RunWriter> run;
    if (a.save_history || capture) {
        std::time_t now = std::time(nullptr);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
        json fields = {
            {"created", stamp},
            {"generator", "dlmscope 0.1.0"},
            {"model", {{"path", std::filesystem::absolute(model_dir).string()},
                       {"config", {{"model_type", c.model_type}, {"d_model", c.d_model}, {"n_layers", c.n_layers},
                                   {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim},
                                   {"mlp_hidden_size", c.mlp_hidden}, {"vocab_size", c.vocab_size},
                                   {"embedding_size", c.output_width}, {"max_sequence_length", c.max_sequence_length},
                                   {"n_params", c.n_params()}}}}},
            {"params", params},
            {"prompt", a.prompt},
            {"prompt_text", prompt_text},
            {"prompt_ids", prompt},
            {"prompt_length", P},
            {"canvas_length", L},
            {"num_blocks", n_blocks},
            // Fixed in advance for the plain sampler; null when it varies (threshold, cache): the
            // steps' records and "block_steps" (written at the end) say what each block took.
            {"steps_per_block", layout.steps_per_block > 0 ? json(layout.steps_per_block) : json(nullptr)},
        };
        run = std::make_unique<RunWriter>(a.out, a.manifest, std::move(fields));
    }

    std::unique_ptr<CaptureTap> tap;
    if (capture) {
        run->update({{"capture", {{"selection", sel.describe()}}}});
        tap = std::make_unique<CaptureTap>(sel, layout, *run);
    }

    g_cancel.store(false);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    // A file-size limit (ulimit -f) must surface as a write error ("File too large"), not kill us.
    std::signal(SIGXFSZ, SIG_IGN);
    if (!a.quiet)
        fmt::print(stderr, "dlmscope: backend {} ({}), precision {}, {} threads\n", model->backend().name(), model->backend().isa(),
                   kernels::precision_name(model->precision()), kernels::threads());
    // A variable schedule has no step count known in advance: the bar then counts committed positions.
    const bool by_steps = layout.steps_per_block > 0;
    Progress bar("generate", by_steps ? layout.steps : p.gen_length, !a.quiet);
    int committed = 0;
    SeededNoise noise(a.seed);
    GenerateHooks hooks;
    hooks.tap = tap.get();
    hooks.cancel = &g_cancel;
    hooks.on_step = [&](const StepRecord& r) {
        committed += static_cast<int>(r.positions.size());
        bar.update(by_steps ? r.step + 1 : committed, fmt::format("block {} step {}", r.block, r.step));
    };
    GenerateResult res;
    try {
        res = generate(*model, prompt, p, noise, hooks);
        if (tap) tap->finish();
    } catch (const std::exception& e) {
        bar.finish();
        json extra = json::object();
        if (tap) {
            tap->finish_quietly();  // every completed step stays on disk and indexed
            extra["capture"] = tap->summary();
        }
        if (run) {
            const bool cancelled = dynamic_cast<const Cancelled*>(&e) != nullptr;
            run->abort(cancelled ? "cancelled by signal before the run finished" : e.what(), extra);
            fmt::print(stderr, "dlmscope: the incomplete run is in {} (complete: false)\n", run->manifest_path());
        }
        throw;
    }
    bar.finish();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);

    const std::vector<int32_t> output(res.canvas.begin() + P, res.canvas.end());
    const std::string text = tok.decode(output, true);
    fmt::print("{}\n", text);

    if (run) {
        json steps = json::array();
        std::vector<float> drift;    // [audited steps, n_layers, n_heads, kNumDriftStats]
        std::vector<int32_t> drift_steps;
        for (const StepRecord& r : res.steps) {
            json rec = {{"step", r.step}, {"block", r.block}, {"step_in_block", r.step_in_block},
                        {"kind", forward_kind_name(r.kind)}, {"rows", {r.row_begin, r.row_end}},
                        {"positions", r.positions}, {"tokens", r.tokens}, {"confidences", r.confidences},
                        {"forward_s", r.forward_seconds}};
            if (r.audit.present) {
                rec["audit"] = {{"logits_max_abs", r.audit.logits_max_abs}, {"argmax_agree", r.audit.argmax_agree},
                                {"argmax_rows", r.audit.argmax_rows}};
                drift.insert(drift.end(), r.audit.attn.begin(), r.audit.attn.end());
                drift_steps.push_back(r.step);
            }
            steps.push_back(std::move(rec));
        }
        if (p.cache_audit) {
            const int n = static_cast<int>(drift_steps.size());
            run->write_array("cache_drift.npy", "<f4", {n, c.n_layers, c.n_heads, kNumDriftStats}, drift.data(), drift.size() * sizeof(float),
                             {{"name", "cache_drift"}, {"kind", "cache_drift"}, {"axes", {"audited_step", "layer", "head", "stat"}},
                              {"stat_names", kDriftStatNames},
                              {"description", "cached vs exact attention of the recomputed rows, per audited (cached) step"}});
            run->write_array("cache_drift_steps.npy", "<i4", {n}, drift_steps.data(), drift_steps.size() * sizeof(int32_t),
                             {{"name", "cache_drift_steps"}, {"kind", "cache_drift_steps"},
                              {"description", "the step of each row of cache_drift"}});
        }
        json pieces = json::array();
        for (int32_t id : res.canvas) pieces.push_back(token_text(tok, id));
        std::vector<int> commit_step(static_cast<size_t>(L), -1);
        for (const StepRecord& r : res.steps)
            for (int pos : r.positions) commit_step[pos] = r.step;
        const int T = static_cast<int>(res.steps.size());
        run->write_array("history.npy", "<i4", {T + 1, L}, res.history.data(), res.history.size() * sizeof(int32_t),
                         {{"name", "history"}, {"kind", "history"},
                          {"description", "row s = canvas before step s; last row = final canvas"}});
        if (tap) run->update({{"capture", tap->summary()}});
        run->finish({{"output_ids", output},
                     {"text", text},
                     {"text_with_special", tok.decode(output, false)},
                     {"tokens", pieces},
                     {"commit_step", commit_step},
                     {"steps", steps},
                     {"total_steps", T},
                     {"block_steps", res.steps_per_block},
                     {"timings", {{"generate_s", res.seconds}, {"forward_s", res.forward_seconds}, {"forwards", res.forwards},
                                  {"audit_s", res.audit_seconds}, {"gflop", res.flops / 1e9}}}});
        if (!a.quiet) fmt::print(stderr, "dlmscope: run written to {}\n", run->manifest_path());
    }
    if (!a.quiet)
        fmt::print(stderr, "dlmscope: {} steps, {} forwards in {:.2f}s ({:.1f} ms/forward, {:.1f} GFLOP/s)\n", res.steps.size(), res.forwards,
                   res.seconds, 1e3 * res.forward_seconds / std::max(res.forwards, 1), res.flops / 1e9 / std::max(res.forward_seconds, 1e-9));
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
    cmd->add_option("--out", a->out, "Run directory for --save-history")->default_val("logs");
    cmd->add_option("--manifest", a->manifest, "Manifest file name inside --out")->default_val("generation_with_attention.json");
    cmd->add_option("--threads", a->threads, "Threads (0 = all cores)")->default_val(0)->check(CLI::NonNegativeNumber);
    std::vector<std::string> names = {"auto"};
    for (const kernels::Backend* b : kernels::backends()) names.push_back(b->name());
    cmd->add_option("--backend", a->backend,
                    "Kernels: auto (the fastest this CPU runs) or one of " + fmt::format("{}", fmt::join(names.begin() + 1, names.end(), ", ")) +
                        " (this machine: " + kernels::available_backend_names() + "); fast is the old spelling of auto")
        ->default_val("auto")->check(CLI::IsMember(names) | CLI::IsMember({"fast"}));
    cmd->add_option("--precision", a->precision, "Matrix products in f32 (as the official code in f32; default) or bf16 (bf16 inputs, f32 sums)")
        ->default_val("f32")->check(CLI::IsMember({"f32", "bf16"}));
    cmd->add_option("--weights", a->weights, "Weight precision in memory: auto, f32 or native (bf16 stays bf16)")
        ->default_val("auto")->check(CLI::IsMember({"auto", "f32", "native"}));
    cmd->add_flag("--quiet,-q", a->quiet, "No progress or summary on stderr");
    return [a] { return run_generate(*a); };
}

}  // namespace dlmscope::cli
