// Fuzzes the run manifest (generation_with_attention.json): RunReader::open on a run directory
// whose step archives are real (a small synthetic run, tools/synthetic-run.h, written once: 2
// layers × 2 heads, canvas 12, 4 steps, every head's maps), with the input as its manifest. Every
// step the manifest indexes is then loaded, and the cache audit when one is indexed; what loads
// must have the sizes the manifest promised, so that analysis can index it blindly.
#include "analysis/run-reader.h"
#include "capture/stats.h"
#include "fuzz-util.h"
#include "tools/synthetic-run.h"

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const fuzz::ScratchDir dir("run-manifest");
    static const bool written = [] {
        tools::SyntheticRunSpec s;
        s.n_layers = 2, s.n_heads = 2, s.prompt_length = 4, s.gen_length = 8, s.block_length = 4, s.steps = 4;
        s.heads = "all";
        s.mask_id = 99;
        tools::write_synthetic_run(dir.path().string(), s);
        return true;
    }();
    (void)written;
    dir.write("generation_with_attention.json", data, size);
    try {
        const analysis::RunReader run = analysis::RunReader::open(dir.path().string());
        const int L = run.canvas_length();
        DLM_ASSERT(run.prompt_length() >= 0 && L > run.prompt_length() && !run.steps().empty());
        const auto [row_begin, row_end] = run.map_rows();
        // Analysis indexes its per-layer and per-head tables with these.
        for (int l : run.captured_layers()) DLM_ASSERT(l >= 0 && l < run.n_layers());
        for (int h : run.map_head_list()) DLM_ASSERT(h >= 0 && h < run.n_heads());
        if (run.map_heads() == analysis::MapHeads::all || run.map_heads() == analysis::MapHeads::list)
            DLM_ASSERT(static_cast<int>(run.map_head_list().size()) == run.stored_heads());
        for (size_t k = 0; k < run.steps().size(); ++k) {
            const analysis::StepCapture s = run.load_step(k);
            const size_t nl = s.layers.size(), H = static_cast<size_t>(run.n_heads());
            DLM_ASSERT(s.canvas.size() == static_cast<size_t>(L) && s.key_step.size() == static_cast<size_t>(L));
            DLM_ASSERT(s.recomputed.size() == static_cast<size_t>(L));
            DLM_ASSERT(s.stats.size() == nl * H * kNumRowSets * kNumStats);
            (void)run.is_block_last(s.step);
            if (run.stored_heads() == 0) continue;
            DLM_ASSERT(s.maps.size() == nl * run.stored_heads() * static_cast<size_t>(row_end - row_begin) * L);
            std::vector<float> buf;
            for (size_t l = 0; l < nl; ++l) (void)s.head_mean(static_cast<int>(l), buf);
        }
        if (run.has_cache_drift()) {
            try {
                const analysis::CacheDrift d = run.load_cache_drift();
                DLM_ASSERT(d.logits_max_abs.size() == d.steps.size());
            } catch (const Error&) {
            }
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
