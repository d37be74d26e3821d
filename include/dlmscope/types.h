// dlmscope: the plain data of the API — how a model is loaded, what a generation takes and what it
// gives. Shared by the engine, the capture's run recorder, the CLI and the Python module; no
// behaviour lives here beyond the names of the enums.
//
//   GenerateParams ──► Engine::generate(prompt, params) ──► GenerateResult { canvas, history, steps }
//                                      └── on_step(StepRecord) after every step
//
// The sampler (spec section 5, docs/decoding.md): canvas = prompt + gen_length masks, decoded in
// blocks of block_length, left to right; each step commits the most confident masked positions of
// the current block (a fixed schedule of `steps` in all, or the threshold rule of Fast-dLLM).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dlmscope {

// Matrix products in f32 (as the official code in f32; token-exact) or bf16 (bf16 inputs, f32 sums).
enum class Precision { f32, bf16 };
Precision parse_precision(const std::string& s);  // "f32" | "bf16"
const char* precision_name(Precision p);

enum class WeightPrecision {
    automatic,  // widen to f32 when the widened weights take at most 1/3 of physical memory
    f32,        // always widen at load
    native,     // keep the stored dtype (mapped); the backend reads it as it is or packs it
};
WeightPrecision parse_weight_precision(const std::string& s);  // "auto" | "f32" | "native"

struct LoadOptions {
    WeightPrecision weights = WeightPrecision::automatic;
    std::string backend = "auto";         // kernels: "auto" (the fastest this CPU runs) or a backend's name
    Precision precision = Precision::f32;
    // Threads of the forward pass; 0 = every core. The kernels' thread team is one per process, so
    // the last load's setting holds for every engine in the process.
    int threads = 0;
};

// The prompt's chat template (spec 7.3); automatic picks by the model's model_type.
enum class ChatTemplate {
    none,   // plain text, no BOS, no headers
    llada,  // LLaDA-8B-Instruct: "\n\n" after <|end_header_id|>
    mmada,  // MMaDA generate.py override: "\n" after <|end_header_id|>
    automatic,
};
ChatTemplate parse_chat_template(std::string_view name);  // "none" | "llada" | "mmada" | "auto"
const char* chat_template_name(ChatTemplate t);

enum class Remasking { low_confidence, random };
Remasking parse_remasking(const std::string& s);  // "low_confidence" | "random"; Error otherwise
const char* remasking_name(Remasking r);

// Which official script's numerics to follow where they differ (spec 5.7).
enum class SamplerFlavor {
    mmada,  // confidence softmax in float64 (MMaDA generate.py / mmu_generate)
    llada,  // confidence softmax in the logits' dtype, float32 (LLaDA generate.py)
};
SamplerFlavor parse_sampler_flavor(const std::string& s);  // "mmada" | "llada"
const char* sampler_flavor_name(SamplerFlavor f);

// Fast-dLLM's K/V cache: what each step after a block's first recomputes.
enum class CacheMode { none, prefix, dual };
CacheMode parse_cache_mode(const std::string& s);  // "none" | "prefix" | "dual"
const char* cache_mode_name(CacheMode m);

// What a step's forward computed: a full forward, or a prefix/dual forward over some rows.
enum class ForwardKind { full, prefix, dual };
const char* forward_kind_name(ForwardKind k);

struct GenerateParams {
    int gen_length = 128;
    int block_length = 128;
    int steps = 128;
    double temperature = 0.0;  // Gumbel noise temperature; 0 = greedy
    double cfg_scale = 0.0;    // classifier-free guidance; 0 = off
    Remasking remasking = Remasking::low_confidence;
    SamplerFlavor flavor = SamplerFlavor::mmada;
    uint64_t seed = 42;        // every random draw (temperature > 0 or random remasking) comes from it
    int32_t mask_id = -1;
    // LLaDA-only options (spec 5.9): -inf logit for eos at every position; -inf confidence for
    // predicted eos/eot. Ids come from the tokenizer; -1 = not available.
    bool logits_eos_inf = false;
    bool confidence_eos_eot_inf = false;
    int32_t eos_id = -1;
    int32_t eot_id = -1;
    // Fast-dLLM decoding (docs/decoding.md). parallel_threshold: 0 = the fixed schedule, else the
    // threshold commit rule (0 < T < 1); cache_refresh: 0 = off, else every N-th step of a block is a
    // full forward that refills the cache; cache_audit: also run the exact forward at each cached
    // step and record how far the cache drifts (StepRecord::audit).
    CacheMode cache = CacheMode::none;
    double parallel_threshold = 0.0;
    int cache_refresh = 0;
    bool cache_audit = false;
    // Verification: cached steps run the slow oracle instead (a full forward whose K/V outside the
    // recomputed rows are frozen as cached); the same tokens at a full forward's cost.
    bool cache_oracle = false;
};

// Steps in every block when that is fixed in advance: S = steps / blocks for the plain sampler; for
// a cache without threshold max(2, min(S, block_length)) (a cached block ends when it holds no mask,
// after at least one cached forward); 0 when it varies (threshold decoding). Valid parameters only.
inline int fixed_steps_per_block(const GenerateParams& p) {
    if (p.parallel_threshold > 0.0) return 0;
    const int S = p.steps / (p.gen_length / p.block_length);
    if (p.cache == CacheMode::none) return S;
    const int s = S < p.block_length ? S : p.block_length;
    return s > 2 ? s : 2;
}

// The most steps a run can take: blocks × fixed steps, or for threshold decoding one step per
// position of a block (each commits at least one), plus a cached block's closing no-op forward.
inline int max_steps(const GenerateParams& p) {
    const int blocks = p.gen_length / p.block_length;
    if (const int fixed = fixed_steps_per_block(p)) return blocks * fixed;
    return blocks * (p.block_length + (p.cache != CacheMode::none ? 1 : 0));
}

// The cache audit of one cached step (GenerateParams::cache_audit).
struct StepAudit {
    bool present = false;     // false: the step was a full forward (exact by construction)
    std::vector<float> attn;  // [n_layers, n_heads, 3]: l1_mean, l1_max, js_mean (bits) of the recomputed rows
    double logits_max_abs = 0.0;
    int argmax_agree = 0;     // rows whose argmax is the exact forward's
    int argmax_rows = 0;
};

struct StepRecord {
    int step = 0;
    int block = 0;
    int step_in_block = 0;
    std::vector<int> positions;       // committed canvas positions, ascending
    std::vector<int32_t> tokens;      // their new ids
    std::vector<double> confidences;  // the confidence each was chosen with
    double forward_seconds = 0.0;
    ForwardKind kind = ForwardKind::full;  // what the step's forward computed:
    int row_begin = 0, row_end = 0;        //   canvas rows [row_begin, row_end)
    StepAudit audit;                       // with cache_audit, at cached steps
};

struct GenerateResult {
    std::vector<int32_t> prompt;
    std::vector<int32_t> canvas;       // final canvas, prompt + generation
    std::vector<int32_t> history;      // [steps + 1, L] row s = canvas before step s; last = final
    std::vector<StepRecord> steps;
    int canvas_length = 0;
    double seconds = 0.0;              // whole generate()
    double forward_seconds = 0.0;      // sum over forwards (the audit's exact forwards excluded)
    double audit_seconds = 0.0;        // the audit's exact forwards
    int forwards = 0;                  // model calls (2 per step under CFG; audit forwards excluded)
    double flops = 0.0;                // sum of the forwards' floating-point operations
    std::vector<int> steps_per_block;  // steps each block took
};

// The generated text of a result, decoded by the model's tokenizer (Engine::text).
struct RunText {
    std::string text;                 // special tokens skipped
    std::string text_with_special;
    std::vector<std::string> pieces;  // one per canvas position (prompt and generation)
};

// A loaded model, as a run manifest and a user see it.
struct ModelInfo {
    std::string path;          // the checkpoint directory, absolute
    std::string model_type;    // "mmada" or "llada"
    int d_model = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, mlp_hidden = 0;
    int vocab_size = 0;        // the tokenizer's vocabulary (config vocab_size)
    int embedding_size = 0;    // rows of the embedding and LM head (ids below it are valid)
    int max_sequence_length = 0;
    int64_t n_params = 0;
    std::string backend, isa;  // the kernels that run it ("amx", "avx512", …) and their ISA
    std::string precision;     // "f32" or "bf16": the matrix products
    int threads = 0;           // threads of the forward pass
    int32_t mask_id = -1, eos_id = -1, eot_id = -1;  // from the tokenizer (or config.json); -1 = none
};

}  // namespace dlmscope
