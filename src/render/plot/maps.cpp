// The attention maps of a loaded step, cut to a window, for one head or the mean over heads.
#include "core/error.h"
#include "render/plot/kinds.h"

#include <algorithm>

namespace dlmscope::render {

using analysis::MapHeads;

void require_maps(const analysis::RunReader& run, const char* figure) {
    if (run.map_heads() == MapHeads::none || run.stored_heads() == 0)
        fail("{} stores no attention maps (it was captured with --capture-heads none: statistics only), so it has no {}; "
             "regenerate with --capture-heads mean (or all), or draw --kind evolution or decode-order, which need no maps",
             run.manifest_path(), figure);
}

int layer_index_of(const analysis::RunReader& run, int layer) {
    const std::vector<int>& layers = run.captured_layers();
    if (layers.empty()) fail("{} captured no layers", run.manifest_path());
    if (layer < 0) return static_cast<int>(layers.size()) - 1;
    const auto it = std::find(layers.begin(), layers.end(), layer);
    if (it == layers.end()) {
        std::string list;
        for (int l : layers) {
            if (!list.empty()) list += ',';
            list += std::to_string(l);
        }
        fail("layer {} was not captured in {} (captured layers: {})", layer, run.manifest_path(), list);
    }
    return static_cast<int>(it - layers.begin());
}

size_t step_index_of(const analysis::RunReader& run, int step) {
    const auto& steps = run.steps();
    if (steps.empty()) fail("{} holds no captured step", run.manifest_path());
    if (step < 0) return steps.size() - 1;
    for (size_t k = 0; k < steps.size(); ++k)
        if (steps[k].step == step) return k;
    fail("step {} was not captured in {} (captured steps {} … {}, {} of them; the run has {} steps)", step,
         run.manifest_path(), steps.front().step, steps.back().step, steps.size(), run.total_steps());
}

std::vector<int> stored_head_list(const analysis::RunReader& run) {
    if (run.map_heads() == MapHeads::all || run.map_heads() == MapHeads::list) return run.map_head_list();
    return {};
}

void check_head(const analysis::RunReader& run, int head) {
    if (head < 0) return;
    if (head >= run.n_heads()) fail("head {} does not exist: the model has {} heads (0 … {})", head, run.n_heads(), run.n_heads() - 1);
    if (run.map_heads() == MapHeads::mean)
        fail("{} stores only the mean over heads (captured with --capture-heads mean), so head {} cannot be drawn; use "
             "--head mean, or regenerate with --capture-heads all",
             run.manifest_path(), head);
    const std::vector<int> list = stored_head_list(run);
    if (std::find(list.begin(), list.end(), head) == list.end())
        fail("{} stores heads {} only, not head {}", run.manifest_path(), run.map_heads_label(), head);
}

std::string head_label(const analysis::RunReader& run, int head) {
    if (head >= 0) return fmt::format("head {}", head);
    if (run.map_heads() == MapHeads::list) return fmt::format("mean of stored heads {}", run.map_heads_label());
    return "head mean";
}

MapSlice slice_map(const analysis::RunReader& run, const analysis::StepCapture& s, int layer_index, int head, Window q,
                   Window k) {
    require_maps(run, "attention maps");
    check_head(run, head);
    DLM_ASSERT(q.begin >= s.row_begin && q.end <= s.row_end && k.begin >= 0 && k.end <= s.canvas_length);
    MapSlice out{q, k, std::vector<float>(static_cast<size_t>(q.size()) * k.size(), 0.0f)};
    const int L = s.canvas_length;
    // One stored head, or the mean over the stored heads (the capture's head mean when it stored that).
    std::vector<float> mean;
    const float* m;
    if (head >= 0) {  // check_head refused a head of a mean-only run
        const std::vector<int> list = stored_head_list(run);
        m = s.map(layer_index, static_cast<int>(std::find(list.begin(), list.end(), head) - list.begin()));
    } else {
        m = s.head_mean(layer_index, mean);
    }
    for (int i = 0; i < q.size(); ++i) {
        const float* row = m + static_cast<size_t>(q.begin + i - s.row_begin) * L + k.begin;
        std::copy(row, row + k.size(), out.values.begin() + static_cast<std::ptrdiff_t>(i) * k.size());
    }
    for (int i = q.begin; i < q.end; ++i) out.recomputed.push_back(s.row_recomputed(i) ? 1 : 0);
    for (int j = 0; j < L && j < static_cast<int>(s.key_step.size()); ++j) {
        const int age = std::max(0, s.step - s.key_step[j]);
        out.max_age = std::max(out.max_age, age);
        if (k.contains(j)) out.key_age.push_back(age);
    }
    out.key_age.resize(static_cast<size_t>(k.size()), 0);
    return out;
}

bool MapSlice::rows_cached() const { return std::find(recomputed.begin(), recomputed.end(), 0) != recomputed.end(); }

bool MapSlice::keys_cached() const {
    return std::any_of(key_age.begin(), key_age.end(), [](int a) { return a > 0; });
}

std::string forward_text(const RunInfo& info, const analysis::StepCapture& s, Window k) {
    const int L = s.canvas_length;
    int cached = 0, in_window = 0, lo = 0, hi = 0;
    for (int j = 0; j < L && j < static_cast<int>(s.key_step.size()); ++j) {
        const int age = s.step - s.key_step[j];
        if (age <= 0) continue;
        lo = cached ? std::min(lo, age) : age;
        hi = std::max(hi, age);
        ++cached;
        if (k.contains(j)) ++in_window;
    }
    const bool all_rows = s.query_begin == 0 && s.query_end == L;
    std::string kind = s.step >= 0 && s.step < static_cast<int>(info.forwards.size()) ? info.forwards[s.step].kind : "";
    if (all_rows && cached == 0) return info.cache_mode == "none" && (kind.empty() || kind == "full") ? "" : "full forward: every row and key recomputed";
    if (kind.empty() || kind == "full") kind = "cached";
    std::string out = fmt::format("{} forward: rows {}–{} recomputed", kind, s.query_begin, s.query_end - 1);
    if (cached == 0) return out + ", every key recomputed";
    out += fmt::format(", {} of {} keys from the cache (age {})", cached, L,
                       lo == hi ? fmt::format("{} step{}", lo, lo == 1 ? "" : "s") : fmt::format("{}–{} steps", lo, hi));
    if (in_window == 0) out += ", none in this window";
    return out;
}

}  // namespace dlmscope::render
