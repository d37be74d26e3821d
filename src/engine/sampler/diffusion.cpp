#include "engine/sampler/diffusion.h"

#include "core/error.h"
#include "engine/sampler/select.h"

#include <algorithm>
#include <chrono>

namespace dlmscope {

GenerateResult generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateParams& p, NoiseSource& noise,
                        const GenerateHooks& hooks) {
    using clock = std::chrono::steady_clock;
    const auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
    const auto t_start = clock::now();
    const ModelConfig& c = model.config();
    const int P = static_cast<int>(prompt.size());
    validate_params(p, P, c);
    const int L = P + p.gen_length, V = c.output_width;
    const int n_blocks = p.gen_length / p.block_length, S = p.steps / n_blocks;
    const bool cfg = p.cfg_scale > 0.0, threshold = p.parallel_threshold > 0.0, cached = p.cache != CacheMode::none;
    const bool audit = p.cache_audit && cached;
    const int fixed_spb = fixed_steps_per_block(p);  // 0 when the schedule varies

    GenerateResult res;
    res.prompt = prompt;
    res.canvas_length = L;
    std::vector<int32_t> x(prompt);
    x.resize(static_cast<size_t>(L), p.mask_id);
    // prompt_index: positions of the initial canvas that are not the mask (spec 5.2 step 2).
    std::vector<char> prompt_index(static_cast<size_t>(L));
    for (int i = 0; i < L; ++i) prompt_index[i] = x[i] != p.mask_id;
    res.history.reserve(static_cast<size_t>(p.steps + 1) * L);

    const std::unique_ptr<Denoiser> denoiser = make_denoiser(model, p.cache, p.cache_refresh, L, p.cache_oracle);
    const std::unique_ptr<Denoiser> uncond = cfg ? make_denoiser(model, CacheMode::none, 0, L) : nullptr;
    const std::unique_ptr<Denoiser> exact = audit ? make_denoiser(model, CacheMode::none, 0, L) : nullptr;
    AuditTap audit_tap(c.n_layers, c.n_heads);
    std::vector<float> logits, logits_uncond, logits_exact;
    std::vector<int> rows;       // candidates: masked canvas positions before the block end
    std::vector<double> conf;    // their confidences
    std::vector<int32_t> x0;     // their predictions
    std::vector<int32_t> un_x;
    int step = 0;

    for (int b = 0; b < n_blocks; ++b) {
        const int block_start = P + b * p.block_length, block_end = block_start + p.block_length;
        const auto masks_in_block = [&] { return std::count(x.begin() + block_start, x.begin() + block_end, p.mask_id); };
        const std::vector<int> k_sched = transfer_schedule(static_cast<int>(masks_in_block()), S);
        for (int s = 0;; ++s, ++step) {
            if (hooks.cancel && hooks.cancel->load()) throw Cancelled("generation cancelled");
            res.history.insert(res.history.end(), x.begin(), x.end());

            // Only masked positions before the block end can be committed; everything else gets
            // confidence -inf (spec 5.3 step 5), so only their logits are computed. A cached step sees
            // only the rows it recomputes (as Fast-dLLM's: a mask token inside the prompt is a
            // candidate at full forwards only).
            const int first_row = denoiser->rows(s, block_start, block_end, L).first;
            rows.clear();
            for (int i = first_row; i < block_end; ++i)
                if (x[i] == p.mask_id) rows.push_back(i);
            const int R = static_cast<int>(rows.size());
            // A step with nothing left to commit still runs its forward, as the official loops do (the
            // tap sees every step); it needs no logits, so ask for the block's first row.
            const int one_row[1] = {block_start};

            DenoiseRequest rq;
            rq.block_start = block_start;
            rq.block_end = block_end;
            rq.step_in_block = s;
            rq.logit_rows = R > 0 ? std::span<const int>(rows) : std::span<const int>(one_row);
            rq.tap = hooks.tap;
            rq.ctx.step = step;
            rq.ctx.block = b;
            rq.ctx.step_in_block = s;
            rq.ctx.steps_per_block = fixed_spb;
            rq.ctx.prompt_length = P;
            rq.ctx.mask_id = p.mask_id;
            if (audit) {
                audit_tap.record(hooks.tap);
                rq.tap = &audit_tap;
            }
            const auto t_fwd = clock::now();
            const DenoiseInfo info = denoiser->run(x, rq, logits);
            res.flops += info.flops;
            ++res.forwards;
            if (cfg) {
                un_x = x;
                for (int i = 0; i < L; ++i)
                    if (prompt_index[i]) un_x[i] = p.mask_id;
                rq.ctx.batch_row = 1;
                res.flops += uncond->run(un_x, rq, logits_uncond).flops;
                ++res.forwards;
                const float w1 = static_cast<float>(p.cfg_scale + 1.0);
                for (size_t i = 0; i < logits.size(); ++i) logits[i] = logits_uncond[i] + w1 * (logits[i] - logits_uncond[i]);
            }
            StepRecord rec;
            rec.step = step;
            rec.block = b;
            rec.step_in_block = s;
            rec.kind = info.kind;
            rec.row_begin = info.row_begin;
            rec.row_end = info.row_end;
            rec.forward_seconds = since(t_fwd);
            res.forward_seconds += rec.forward_seconds;
            if (audit && info.kind != ForwardKind::full) {
                // The exact forward of the same canvas, compared row by row with the cached one.
                const auto t_audit = clock::now();
                audit_tap.compare(rec.audit);
                DenoiseRequest ex = rq;
                ex.tap = &audit_tap;
                exact->run(x, ex, logits_exact);
                audit_logits(logits, logits_exact, V, rec.audit);
                res.audit_seconds += since(t_audit);
            }

            conf.assign(static_cast<size_t>(R), 0.0);
            x0.assign(static_cast<size_t>(R), 0);
            for (int r = 0; r < R; ++r) {
                const Prediction pr = predict(std::span<float>(logits.data() + static_cast<int64_t>(r) * V, V), p, noise, step, rows[r]);
                x0[r] = pr.token;
                conf[r] = pr.confidence;
            }
            const std::vector<int> commit = threshold ? select_threshold(rows, conf, p.parallel_threshold)
                                                      : select_top_k(rows, conf, s < S ? k_sched[s] : 0);
            for (int i : commit) {
                const size_t r = static_cast<size_t>(std::lower_bound(rows.begin(), rows.end(), i) - rows.begin());
                x[i] = x0[r];
                rec.positions.push_back(i);
                rec.tokens.push_back(x0[r]);
                rec.confidences.push_back(conf[r]);
            }
            if (hooks.on_step) hooks.on_step(rec);
            res.steps.push_back(std::move(rec));

            // The plain sampler runs its S steps; threshold and cached decoding stop at the first step
            // that leaves the block without a mask (a cached block after at least one cached forward),
            // a cached one with a fixed schedule at the latest when the schedule is spent (a mask in the
            // prompt can take a block position's turn at a full forward).
            const bool emptied = masks_in_block() == 0 && (!cached || s >= 1);
            const bool done = threshold ? emptied : !cached ? s + 1 >= S : emptied || s + 1 >= std::max(S, 2);
            if (done) {
                res.steps_per_block.push_back(s + 1);
                ++step;
                break;
            }
            if (s >= L) fail("block {} did not finish after {} steps", b, s + 1);  // unreachable: each step commits one
        }
    }
    res.history.insert(res.history.end(), x.begin(), x.end());
    res.canvas = std::move(x);
    res.seconds = since(t_start);
    return res;
}

}  // namespace dlmscope
