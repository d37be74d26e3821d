// The run directory of one generation (include/dlmscope/run.h): the manifest's fields, the capture
// tap, and at the end the history, the step records, the cache audit and the text.
#include "dlmscope/run.h"

#include "capture/capture.h"
#include "capture/run-writer.h"
#include "core/cache-drift.h"
#include "core/error.h"

#include <ctime>

namespace dlmscope {

struct RunRecorder::Impl {
    GenerateParams params;
    ModelInfo model;
    int prompt_length = 0, canvas_length = 0;
    std::unique_ptr<RunWriter> run;
    std::unique_ptr<CaptureTap> tap;
};

namespace {

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return stamp;
}

json params_json(const GenerateParams& p, const ModelInfo& m, const std::string& template_name) {
    return {{"gen_length", p.gen_length}, {"block_length", p.block_length}, {"steps", p.steps},
            {"temperature", p.temperature}, {"cfg_scale", p.cfg_scale}, {"remasking", remasking_name(p.remasking)},
            {"seed", p.seed}, {"mask_id", p.mask_id}, {"sampler", sampler_flavor_name(p.flavor)},
            {"template", template_name},
            {"logits_eos_inf", p.logits_eos_inf}, {"confidence_eos_eot_inf", p.confidence_eos_eot_inf},
            {"cache", cache_mode_name(p.cache)},
            {"parallel_threshold", p.parallel_threshold > 0.0 ? json(p.parallel_threshold) : json(nullptr)},
            {"cache_refresh", p.cache_refresh}, {"cache_audit", p.cache_audit},
            {"backend", m.backend}, {"isa", m.isa}, {"precision", m.precision}, {"threads", m.threads}};
}

json model_json(const ModelInfo& m) {
    return {{"path", m.path},
            {"config", {{"model_type", m.model_type}, {"d_model", m.d_model}, {"n_layers", m.n_layers},
                        {"n_heads", m.n_heads}, {"n_kv_heads", m.n_kv_heads}, {"head_dim", m.head_dim},
                        {"mlp_hidden_size", m.mlp_hidden}, {"vocab_size", m.vocab_size},
                        {"embedding_size", m.embedding_size}, {"max_sequence_length", m.max_sequence_length},
                        {"n_params", m.n_params}}}};
}

json step_json(const StepRecord& r) {
    json rec = {{"step", r.step}, {"block", r.block}, {"step_in_block", r.step_in_block},
                {"kind", forward_kind_name(r.kind)}, {"rows", {r.row_begin, r.row_end}},
                {"positions", r.positions}, {"tokens", r.tokens}, {"confidences", r.confidences},
                {"forward_s", r.forward_seconds}};
    if (r.audit.present)
        rec["audit"] = {{"logits_max_abs", r.audit.logits_max_abs}, {"argmax_agree", r.audit.argmax_agree},
                        {"argmax_rows", r.audit.argmax_rows}};
    return rec;
}

// cache_drift.npy [audited steps, n_layers, n_heads, kNumDriftStats] and the step of each row.
void write_cache_drift(RunWriter& run, const GenerateResult& res, const ModelInfo& m) {
    std::vector<float> drift;
    std::vector<int32_t> steps;
    for (const StepRecord& r : res.steps)
        if (r.audit.present) {
            drift.insert(drift.end(), r.audit.attn.begin(), r.audit.attn.end());
            steps.push_back(r.step);
        }
    const int n = static_cast<int>(steps.size());
    run.write_array("cache_drift.npy", "<f4", {n, m.n_layers, m.n_heads, kNumDriftStats}, drift.data(), drift.size() * sizeof(float),
                    {{"name", "cache_drift"}, {"kind", "cache_drift"}, {"axes", {"audited_step", "layer", "head", "stat"}},
                     {"stat_names", kDriftStatNames},
                     {"description", "cached vs exact attention of the recomputed rows, per audited (cached) step"}});
    run.write_array("cache_drift_steps.npy", "<i4", {n}, steps.data(), steps.size() * sizeof(int32_t),
                    {{"name", "cache_drift_steps"}, {"kind", "cache_drift_steps"},
                     {"description", "the step of each row of cache_drift"}});
}

}  // namespace

RunRecorder::RunRecorder(const RunOptions& opts, const ModelInfo& model, const GenerateParams& params, const RunPrompt& prompt)
    : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    s.params = params;
    s.model = model;
    s.prompt_length = static_cast<int>(prompt.ids.size());
    s.canvas_length = s.prompt_length + params.gen_length;
    const CaptureLayout layout{model.n_layers, model.n_heads, max_steps(params), fixed_steps_per_block(params),
                               s.prompt_length, s.canvas_length, params.mask_id};
    if (opts.capture) opts.selection.validate(model.n_layers, model.n_heads, layout.steps, s.canvas_length);

    json fields = {
        {"created", utc_now()},
        {"generator", "dlmscope 0.1.0"},
        {"model", model_json(model)},
        {"params", params_json(params, model, prompt.template_name)},
        {"prompt", prompt.text},
        {"prompt_text", prompt.rendered},
        {"prompt_ids", prompt.ids},
        {"prompt_length", s.prompt_length},
        {"canvas_length", s.canvas_length},
        {"num_blocks", params.gen_length / params.block_length},
        // Fixed in advance for the plain sampler; null when it varies (threshold, cache): the
        // steps' records and "block_steps" (written at the end) say what each block took.
        {"steps_per_block", layout.steps_per_block > 0 ? json(layout.steps_per_block) : json(nullptr)},
    };
    s.run = std::make_unique<RunWriter>(opts.out_dir, opts.manifest, std::move(fields), opts.existing);
    if (opts.capture) {
        s.run->update({{"capture", {{"selection", opts.selection.describe()}}}});
        s.tap = std::make_unique<CaptureTap>(opts.selection, layout, *s.run);
    }
}

RunRecorder::~RunRecorder() = default;

AttentionTap* RunRecorder::tap() { return impl_->tap.get(); }

const std::string& RunRecorder::manifest_path() const { return impl_->run->manifest_path(); }

std::string RunRecorder::capture_summary() const { return impl_->tap ? impl_->tap->summary().dump() : std::string(); }

void RunRecorder::finish(const GenerateResult& res, const RunText& text) {
    Impl& s = *impl_;
    if (s.tap) s.tap->finish();  // a held block-end step is written; the writer's error surfaces here
    if (s.params.cache_audit) write_cache_drift(*s.run, res, s.model);
    json steps = json::array();
    std::vector<int> commit_step(static_cast<size_t>(s.canvas_length), -1);
    for (const StepRecord& r : res.steps) {
        steps.push_back(step_json(r));
        for (int pos : r.positions) commit_step[pos] = r.step;
    }
    const int T = static_cast<int>(res.steps.size()), L = s.canvas_length;
    s.run->write_array("history.npy", "<i4", {T + 1, L}, res.history.data(), res.history.size() * sizeof(int32_t),
                       {{"name", "history"}, {"kind", "history"},
                        {"description", "row s = canvas before step s; last row = final canvas"}});
    if (s.tap) s.run->update({{"capture", s.tap->summary()}});
    const std::vector<int32_t> output(res.canvas.begin() + s.prompt_length, res.canvas.end());
    s.run->finish({{"output_ids", output},
                   {"text", text.text},
                   {"text_with_special", text.text_with_special},
                   {"tokens", text.pieces},
                   {"commit_step", commit_step},
                   {"steps", steps},
                   {"total_steps", T},
                   {"block_steps", res.steps_per_block},
                   {"timings", {{"generate_s", res.seconds}, {"forward_s", res.forward_seconds}, {"forwards", res.forwards},
                                {"audit_s", res.audit_seconds}, {"gflop", res.flops / 1e9}}}});
}

void RunRecorder::abort(const std::exception& why) noexcept {
    Impl& s = *impl_;
    json extra = json::object();
    if (s.tap) {
        s.tap->finish_quietly();  // every completed step stays on disk and indexed
        try {
            extra["capture"] = s.tap->summary();
        } catch (...) {
        }
    }
    const bool cancelled = dynamic_cast<const Cancelled*>(&why) != nullptr;
    s.run->abort(cancelled ? "cancelled (a signal, Ctrl-C or the cancel flag) before the run finished" : why.what(), extra);
}

}  // namespace dlmscope
