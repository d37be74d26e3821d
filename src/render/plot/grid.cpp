// The layer grid: every chosen layer at one step — layers × heads when heads are stored, else one
// head-mean panel per layer — on one shared colour scale. Token labels on the outer panels only.
#include "core/error.h"
#include "render/plot/heatmap.h"

#include <algorithm>
#include <cmath>

namespace dlmscope::render {

namespace {

constexpr double kMargin = 16.0;

}  // namespace

void draw_grid_figure(const analysis::RunReader& run, const RunInfo& info, const analysis::StepCapture& s,
                      const std::vector<int>& layer_indices, const RenderOptions& opt, const std::string& path) {
    require_maps(run, "layer grids");
    const Window k = choose_window(info, opt.max_tokens, s.step);
    const Window q = query_window(k, s.row_begin, s.row_end, opt.max_tokens);
    const std::vector<int> heads = stored_head_list(run);  // empty: head mean (or a mean capture)
    const bool by_head = !heads.empty();
    const int n_layers = static_cast<int>(layer_indices.size());
    const int n_cols_heads = by_head ? static_cast<int>(heads.size()) : 1;

    // Panels in reading order.
    struct Panel {
        int layer_index, head;  // head -1: mean
        int row, col;
        MapSlice m;
    };
    std::vector<Panel> panels;
    int cols = 1, rows = 1;
    if (by_head) {
        cols = n_cols_heads;
        rows = n_layers;
        for (int r = 0; r < n_layers; ++r)
            for (int c = 0; c < cols; ++c) panels.push_back({layer_indices[r], heads[c], r, c, {}});
    } else {
        cols = std::min(n_layers, std::max(2, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n_layers))))));
        cols = std::max(cols, 1);
        rows = (n_layers + cols - 1) / cols;
        for (int i = 0; i < n_layers; ++i) panels.push_back({layer_indices[i], -1, i / cols, i % cols, {}});
    }
    std::vector<float> all;
    for (Panel& p : panels) {
        p.m = slice_map(run, s, p.layer_index, p.head, q, k);
        all.insert(all.end(), p.m.values.begin(), p.m.values.end());
    }
    // Every panel shares the step's provenance (rows recomputed, keys' cache age).
    const bool rows_cached = !panels.empty() && panels.front().m.rows_cached();
    const bool keys_cached = !panels.empty() && panels.front().m.keys_cached();
    const ColorScale scale = ColorScale::for_values(opt.scale, all);
    const Colormap& cmap = Colormap::by_name(opt.colormap);
    const auto qlabels = window_labels(info, s.canvas, q, s.step);
    const auto klabels = window_labels(info, s.canvas, k, s.step);

    // Geometry: panel side from the number of columns; labels on the outer panels.
    const int n = std::max(q.size(), k.size());
    const double side = by_head ? std::clamp(1400.0 / cols, 64.0, 240.0) : 240.0;
    const double cell = side / n;
    MapDecor d;
    d.font = 6.0;
    d.line = std::clamp(cell * 0.25, 0.4, 0.9);
    d.top_ticks = d.right_ticks = false;
    d.band_labels = !by_head;  // many small panels: the legend and the subtitle say it once
    const Margins mg = labelled_map_margins(qlabels, klabels, d);
    // The cache age strip above the keys: over every panel of the first row (layers × heads), over
    // every panel when each panel has its own caption row (head mean).
    const double strip_h = keys_cached ? age_strip_space() : 0.0;
    const double pw = k.size() * cell, ph = q.size() * cell;
    const double head_h = 9.0 * 1.3;                     // panel caption ("layer 3" / "head 5")
    const double gap_x = by_head ? 5.0 : 12.0, gap_y = by_head ? 5.0 : 8.0;
    const double row_h = ph + (by_head ? 0.0 : head_h + strip_h) + gap_y;
    const double row_title = by_head ? 9.0 * 1.4 + 4 : 0.0;  // "layer N" beside each row

    const std::string hl = by_head ? (run.map_heads() == analysis::MapHeads::all ? "all heads" : fmt::format("heads {}", run.map_heads_label()))
                                   : head_label(run, -1);
    const std::string title = fmt::format("Attention at step {} · {} layer{} · {}", s.step, n_layers, n_layers == 1 ? "" : "s", hl);
    const std::string sub = fmt::format(
        "{} · queries {}–{} × keys {}–{} of canvas 0–{} (prompt 0–{}) · one {} colour scale for every panel · {}",
        info.block_text(info.block_of_step(s.step)), q.begin, q.end - 1, k.begin, k.end - 1, info.canvas_length - 1,
        info.prompt_length - 1, opt.scale == ScaleKind::log ? "log" : "linear", info.run_name) +
                            (info.pieces.empty() ? " · incomplete run: labels are token ids (#id)" : "");
    const std::string sub2 = forward_text(info, s, k);
    const TextStyle ts = title_style(), ss = subtitle_style();
    const double title_h = ts.size * 1.35 + (sub2.empty() ? 1 : 2) * ss.size * 1.45 + 10;

    const double x0 = kMargin + row_title + mg.left;
    const double y0 = kMargin + title_h + (by_head ? head_h + strip_h : 0.0);
    const double grid_w = cols * pw + (cols - 1) * gap_x;
    const double grid_h = rows * row_h - gap_y;
    const double bar_x = x0 + grid_w + 16;
    const double cb_w = colorbar_width(scale, 11, 7.5);
    const double W = std::max({bar_x + cb_w + kMargin, Figure::measure(title, ts).w + 2 * kMargin,
                               Figure::measure(sub, ss).w + 2 * kMargin, Figure::measure(sub2, ss).w + 2 * kMargin, 460.0});
    auto legend = map_legend(7.0, true);
    const int max_age = panels.empty() ? 0 : panels.front().m.max_age;
    for (LegendItem& it : cache_legend(rows_cached, keys_cached, max_age)) legend.push_back(std::move(it));
    const double legend_y = y0 + grid_h + mg.bottom + 12;
    const double legend_h = draw_legend(nullptr, kMargin, legend_y, legend, 7.0, W - 2 * kMargin);
    const double H = legend_y + legend_h + kMargin;

    Figure f(W, H, opt);
    f.text(kMargin, kMargin, title, ts);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2, sub, ss);
    if (!sub2.empty()) f.text(kMargin, kMargin + ts.size * 1.35 + 2 + ss.size * 1.45, sub2, ss);
    TextStyle cap;
    cap.size = 9;
    cap.bold = true;
    auto has_panel = [&](int r, int c) { return r < rows && c < cols && r * cols + c < static_cast<int>(panels.size()); };
    for (const Panel& p : panels) {
        const double px = x0 + p.col * (pw + gap_x);
        const double py = y0 + p.row * row_h + (by_head ? 0.0 : head_h + strip_h);
        const Rect cells{px, py, pw, ph};
        MapDecor pd = d;
        pd.left_labels = p.col == 0;
        pd.bottom_labels = by_head ? p.row == rows - 1 : !has_panel(p.row + 1, p.col);
        pd.age_strip = keys_cached && (!by_head || p.row == 0);
        draw_labelled_map(f, cells, p.m, qlabels, klabels, info, cmap, scale, pd);
        const int layer = s.layers[p.layer_index];
        if (by_head) {
            if (p.row == 0) {
                cap.ax = 0.5, cap.ay = 1.0, cap.angle = 0;
                f.text(px + pw / 2, py - 3 - strip_h, fmt::format("head {}", p.head), cap);
            }
            if (p.col == 0) {
                cap.ax = 0.5, cap.ay = 0.0, cap.angle = 90;
                f.text(kMargin, py + ph / 2, fmt::format("layer {}", layer), cap);
            }
        } else {
            cap.ax = 0.0, cap.ay = 1.0, cap.angle = 0;
            f.text(px, py - 3 - strip_h, fmt::format("layer {}", layer), cap);
        }
    }
    const Rect bar{bar_x, y0, 11, std::min(std::max(grid_h, 80.0), 300.0)};
    draw_colorbar(f, bar, cmap, scale, opt.scale == ScaleKind::log ? "attention probability (log)" : "attention probability", 7.5);
    draw_legend(&f, kMargin, legend_y, legend, 7.0, W - 2 * kMargin);
    f.set_meta(title, sub2.empty() ? sub : sub + ". " + sub2);
    f.save(path);
}

}  // namespace dlmscope::render
