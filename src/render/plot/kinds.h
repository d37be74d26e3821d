// dlmscope render: the figure kinds, as render.cpp calls them, and the data they share. No cairo.
//
//   heatmap.cpp        one (step, layer, head or head mean) map       draw_heatmap_figure
//   grid.cpp           layers × heads (or layers, head mean) at a step  draw_grid_figure
//   evolution.cpp      metric curves over steps + first/last/diff maps  EvolutionCollector, draw_evolution_figure
//   decode-order.cpp   position × commit step, coloured by confidence   draw_decode_order_figure
//   evolution.cpp      also: cached vs exact attention over audited steps  draw_drift_figure
// Each takes steps already loaded, so a caller can stream a run once and draw several figures.
#pragma once

#include "analysis/run-reader.h"
#include "render/plot/tokens.h"
#include "render/render.h"

#include <string>
#include <vector>

namespace dlmscope::render {

// ---- maps of a step (maps.cpp) -----------------------------------------------------------------

// A window of one attention map: rows = query positions q, columns = key positions k.
struct MapSlice {
    Window q, k;
    std::vector<float> values;  // [q.size() × k.size()], row-major; NaN in rows not recomputed
    // What the step's forward reused (a cached step): whether each query row was recomputed, and
    // each key column's cache age, step − key_step (0: computed by this step's forward).
    std::vector<uint8_t> recomputed{};  // [q.size()]
    std::vector<int> key_age{};         // [k.size()]
    int max_age = 0;                  // the oldest key of the whole step (the age colours' range)

    bool rows_cached() const;  // some query row of the window was not recomputed
    bool keys_cached() const;  // some key column of the window came from the cache
};

// Throws Error when the run stores no maps (captured with --capture-heads none).
void require_maps(const analysis::RunReader& run, const char* figure);
// The index of model layer `layer` among the captured layers (-1 = the last); Error if not captured.
int layer_index_of(const analysis::RunReader& run, int layer);
// The index in run.steps() of captured step `step` (-1 = the last); Error if not captured.
size_t step_index_of(const analysis::RunReader& run, int step);
// Checks that `head` (-1 = mean) can be drawn from the stored maps; Error naming the choices if not.
void check_head(const analysis::RunReader& run, int head);
// "head mean", "head 3", or "mean of stored heads 0,2,5" (a list capture has no true head mean).
std::string head_label(const analysis::RunReader& run, int head);
// The (layer index, head) map of a loaded step over the window; head -1 = mean over heads.
MapSlice slice_map(const analysis::RunReader& run, const analysis::StepCapture& s, int layer_index, int head, Window q,
                   Window k);
// The model heads stored per layer (all heads, or the captured list); empty for head-mean runs.
std::vector<int> stored_head_list(const analysis::RunReader& run);
// What a step's forward recomputed, for a subtitle: "dual forward: rows 34–49 recomputed, 66 of 82
// keys from the cache (age 1–5 steps)"; "full forward: every row and key recomputed" in a cached
// run; "" for a full forward of a run without a cache.
std::string forward_text(const RunInfo& info, const analysis::StepCapture& s, Window k);

// ---- kinds ---------------------------------------------------------------------------------------

// window: around the step's block (choose_window), or the prompt and the answer (canvas_window, at
// most 4 × opt.max_tokens positions, with larger cells so that its labels stay readable).
void draw_heatmap_figure(const analysis::RunReader& run, const RunInfo& info, const analysis::StepCapture& s,
                         int layer_index, int head, MapWindow window, const RenderOptions& opt, const std::string& path);

// layer_indices: captured-layer indices to draw (rows of the grid).
void draw_grid_figure(const analysis::RunReader& run, const RunInfo& info, const analysis::StepCapture& s,
                      const std::vector<int>& layer_indices, const RenderOptions& opt, const std::string& path);

// Gathers what the evolution figure draws while the caller streams the steps (in order).
class EvolutionCollector {
public:
    // layer_indices: the curves; map_layer_index: the layer of the first/last/difference maps.
    EvolutionCollector(const analysis::RunReader& run, const RunInfo& info, std::vector<int> layer_indices,
                       int map_layer_index, int head, const RenderOptions& opt);
    void add(const analysis::StepCapture& s);

    struct Data {
        std::vector<int> steps;          // captured steps
        std::vector<int> layers;         // model layers of the curves
        // values[metric][layer][k]: the head mean of a statistic at steps[k] (NaN where undefined)
        std::vector<std::vector<std::vector<float>>> values;
        bool has_maps = false;
        int map_layer = -1;              // model layer of the maps
        std::string head;                // head label of the maps
        int first_step = -1, last_step = -1;
        MapSlice first, last;
        std::vector<int32_t> first_canvas, last_canvas;
    };
    const Data& data() const { return d_; }

private:
    const analysis::RunReader& run_;
    std::vector<int> layer_indices_;
    int map_layer_index_, head_;
    Window q_, k_;
    Data d_;
};

void draw_evolution_figure(const analysis::RunReader& run, const RunInfo& info, const EvolutionCollector::Data& d,
                           const RenderOptions& opt, const std::string& path);

// Needs the manifest's commit events (a complete run); Error otherwise.
void draw_decode_order_figure(const analysis::RunReader& run, const RunInfo& info, const RenderOptions& opt,
                              const std::string& path);

// Needs the run's cache audit (--cache-audit); Error naming the run otherwise.
void require_cache_drift(const analysis::RunReader& run);
void draw_drift_figure(const analysis::RunReader& run, const RunInfo& info, const RenderOptions& opt,
                       const std::string& path);

}  // namespace dlmscope::render
