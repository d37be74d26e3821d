// Decode order: generated position (column) × the step at which it was committed (row), each
// commit a cell coloured by the confidence it was chosen with; the blocks' schedules shaded.
#include "core/error.h"
#include "render/plot/heatmap.h"

#include <algorithm>

namespace dlmscope::render {

namespace {

constexpr double kMargin = 16.0;

}  // namespace

void draw_decode_order_figure(const analysis::RunReader& run, const RunInfo& info, const RenderOptions& opt,
                              const std::string& path) {
    if (info.commits.empty())
        fail("{} has no per-step commits (\"steps\" is missing: the run is incomplete), so it has no decode order",
             run.manifest_path());
    const int P = info.prompt_length, L = info.canvas_length, G = L - P;
    const int T = std::max(static_cast<int>(info.commits.size()), info.total_steps);
    std::vector<float> confs;
    for (const CommitEvent& e : info.commits)
        for (double c : e.confidences) confs.push_back(static_cast<float>(c));
    ColorScale scale = ColorScale::for_values(opt.scale, confs);
    if (opt.scale == ScaleKind::linear) scale = ColorScale::linear(0.0, std::max(scale.vmax(), 1e-6));
    const Colormap& cmap = Colormap::by_name(opt.colormap);

    // Labels: the final canvas's pieces (the figure shows where each ended up).
    const std::vector<int32_t>& canvas = info.final_ids;
    std::vector<TokenLabel> labels;
    const Window w{P, L};
    if (!canvas.empty()) labels = window_labels(info, canvas, w, -1);

    const double cx = std::clamp(900.0 / G, 1.5, 9.0), cy = std::clamp(640.0 / T, 1.5, 9.0);
    const double font = std::clamp(cx * 0.88, 5.0, 7.5);
    const double label_h = labels.empty() ? 0 : 4 + 4 + 3 + label_extent(labels, font);
    const double y_axis = 44;
    const TextStyle ts = title_style(), ss = subtitle_style();
    const std::string title = fmt::format("Decode order · {} generated positions committed over {} steps", G, T);
    const bool random = info.remasking == "random";
    const std::string steps_text = info.block_steps_text();
    const std::string sub = fmt::format(
        "{} block{} of {} positions{} (shaded: a block's positions × its steps) · cell = the step at which the "
        "position was committed, coloured by {} · {}",
        info.num_blocks, info.num_blocks == 1 ? "" : "s", info.block_length, steps_text.empty() ? "" : ", " + steps_text,
        random ? "the uniform draw it was chosen with (random remasking)" : "its confidence", info.run_name);
    const double title_h = ts.size * 1.35 + ss.size * 1.45 + 10;
    const Rect plot{kMargin + y_axis, kMargin + title_h + font * 1.2 + 8, G * cx, T * cy};
    const double bar_x = plot.right() + 16;
    const double cb_w = colorbar_width(scale, 11, 7.5);
    const double W = std::max({bar_x + cb_w + kMargin, Figure::measure(title, ts).w + 2 * kMargin,
                               Figure::measure(sub, ss).w + 2 * kMargin, 460.0});
    const double H = plot.bottom() + label_h + font * 1.4 + 10 + kMargin;

    Figure f(W, H, opt);
    f.text(kMargin, kMargin, title, ts);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2, sub, ss);
    // The schedule: block b's positions are committed during its steps (from the steps' records).
    const int nb = std::min(info.num_blocks, static_cast<int>(info.block_start.size()));
    for (int b = 0; b < nb; ++b) {
        const int p0 = b * info.block_length, p1 = std::min(G, p0 + info.block_length);
        const int s0 = info.block_start[b], s1 = std::min(T, s0 + info.block_steps[b]);
        f.fill_rect({plot.x + p0 * cx, plot.y + s0 * cy, (p1 - p0) * cx, (s1 - s0) * cy}, {0.93, 0.94, 0.96});
    }
    for (const CommitEvent& e : info.commits) {
        for (size_t i = 0; i < e.positions.size(); ++i) {
            const int p = e.positions[i] - P;
            if (p < 0 || p >= G) continue;
            const double c = i < e.confidences.size() ? e.confidences[i] : 0.0;
            const Rgb col = cmap.at(scale.normalize(c));
            f.fill_rect({plot.x + p * cx, plot.y + e.step * cy, std::max(cx, 1.5), std::max(cy, 1.5)}, col);
        }
    }
    for (int b = 1; b < info.num_blocks; ++b) {
        const double x = plot.x + b * info.block_length * cx;
        f.line(x, plot.y, x, plot.bottom(), palette::kMuted, 0.6, 2.0);
        if (b < nb) {
            const double y = plot.y + info.block_start[b] * cy;
            f.line(plot.x, y, plot.right(), y, palette::kMuted, 0.6, 2.0);
        }
    }
    f.stroke_rect(plot, palette::kFrame, 0.6);
    draw_position_ticks(f, Side::top, plot, P, G, font * 0.85);
    if (!labels.empty()) {
        draw_class_strip(f, Side::bottom, plot, labels, 4, 1.5);
        draw_token_labels(f, Side::bottom, plot, labels, font, 1.5 + 4 + 3);
    }
    draw_value_axis(f, Side::left, plot, -0.5, T - 0.5, nice_ticks(0, T - 1, 8), "commit step", 7.5, true);
    TextStyle at;
    at.size = 7.5;
    at.ax = 0.5;
    f.text(plot.x + plot.w / 2, plot.bottom() + label_h + 4, "generated position (final token)", at);
    draw_colorbar(f, {bar_x, plot.y, 11, std::min(plot.h, 300.0)}, cmap, scale,
                  random ? "uniform draw" : (opt.scale == ScaleKind::log ? "confidence (log)" : "confidence"), 7.5);
    std::string desc = sub + ". Positions: ";
    for (const TokenLabel& l : labels) desc += l.text + " ";
    f.set_meta(title, desc);
    f.save(path);
}

}  // namespace dlmscope::render
