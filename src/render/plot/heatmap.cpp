#include "render/plot/heatmap.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dlmscope::render {

namespace {

constexpr double kMargin = 16.0;
constexpr double kStrip = 4.0;     // class strip thickness
constexpr double kStripGap = 1.5;  // between cells and strip
constexpr double kLabelGap = 3.0;  // between strip and labels
constexpr double kAgeStrip = 4.0;  // cache age strip thickness (above the cells)

// Canvas positions where a boundary line goes: the prompt end and every block start after it.
std::vector<std::pair<int, bool>> boundaries(const RunInfo& info) {
    std::vector<std::pair<int, bool>> b;  // (position, is the prompt boundary)
    b.emplace_back(info.prompt_length, true);
    if (info.block_length > 0)
        for (int p = info.prompt_length + info.block_length; p < info.canvas_length; p += info.block_length) b.emplace_back(p, false);
    return b;
}

std::string join_labels(const std::vector<TokenLabel>& labels) {
    std::string s;
    for (const TokenLabel& l : labels) {
        if (!s.empty()) s += ' ';
        s += l.text;
    }
    return s;
}

}  // namespace

double age_strip_space() { return kStripGap + kAgeStrip; }

double heatmap_cell(int n) { return std::clamp(560.0 / std::max(n, 1), 3.0, 14.0); }

double canvas_heatmap_cell(int n) { return std::clamp(1000.0 / std::max(n, 1), 3.0, 14.0); }

int canvas_tokens(const RenderOptions& opt) { return 4 * opt.max_tokens; }

void draw_cells(Figure& f, const Rect& r, const float* values, int rows, int cols, const Colormap& cmap,
                const ColorScale& scale) {
    if (rows <= 0 || cols <= 0) return;
    // SVG and PDF viewers may smooth an embedded image whatever the filter says; k×k pixels per
    // cell keep the cells crisp there (blur only at their edges). PNG is resampled here: 1 pixel.
    const int up = f.format() == Format::png ? 1 : std::clamp(static_cast<int>(std::ceil(256.0 / std::max(rows, cols))), 1, 8);
    cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cols * up, rows * up);
    const int stride = cairo_image_surface_get_stride(img);
    unsigned char* data = cairo_image_surface_get_data(img);
    for (int i = 0; i < rows; ++i) {
        auto* px = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(i) * up * stride);
        for (int j = 0; j < cols; ++j) {
            const uint32_t c = cmap.argb(scale.normalize(values[static_cast<size_t>(i) * cols + j]));
            for (int u = 0; u < up; ++u) px[j * up + u] = c;
        }
        for (int v = 1; v < up; ++v) std::memcpy(data + (static_cast<size_t>(i) * up + v) * stride, px, static_cast<size_t>(cols) * up * 4);
    }
    cairo_surface_mark_dirty(img);
    cairo_t* cr = f.cr();
    cairo_save(cr);
    cairo_rectangle(cr, r.x, r.y, r.w, r.h);
    cairo_clip(cr);
    cairo_translate(cr, r.x, r.y);
    cairo_scale(cr, r.w / (cols * up), r.h / (rows * up));
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
}

void draw_boundaries(Figure& f, const Rect& r, const RunInfo& info, Window q, Window k, double width) {
    const double cw = r.w / std::max(k.size(), 1), ch = r.h / std::max(q.size(), 1);
    for (const auto& [pos, prompt] : boundaries(info)) {
        const Rgb c = prompt ? palette::kPromptBoundary : palette::kBlockBoundary;
        const double w = prompt ? width * 1.3 : width;
        const double dash = prompt ? 0.0 : std::max(2.0, width * 2.5);
        // A dark halo under each line keeps it visible on every colour of every map.
        const Rgb halo{0.05, 0.05, 0.05};
        const double hw = w + std::max(0.6, width * 0.8);
        if (pos > k.begin && pos < k.end) {
            const double x = r.x + (pos - k.begin) * cw;
            f.line(x, r.y, x, r.bottom(), halo, hw, dash);
            f.line(x, r.y, x, r.bottom(), c, w, dash);
        }
        if (pos > q.begin && pos < q.end) {
            const double y = r.y + (pos - q.begin) * ch;
            f.line(r.x, y, r.right(), y, halo, hw, dash);
            f.line(r.x, y, r.right(), y, c, w, dash);
        }
    }
}

std::vector<TokenLabel> window_labels(const RunInfo& info, std::span<const int32_t> canvas, Window w, int step) {
    std::vector<TokenLabel> out;
    out.reserve(static_cast<size_t>(w.size()));
    for (int p = w.begin; p < w.end; ++p) out.push_back(label_at(info, canvas, p, step));
    return out;
}

Margins labelled_map_margins(const std::vector<TokenLabel>& qlabels, const std::vector<TokenLabel>& klabels,
                             const MapDecor& d) {
    Margins m;
    const double tick = d.font * 0.85;
    if (d.left_labels) m.left = kStripGap + kStrip + kLabelGap + label_extent(qlabels, d.font);
    if (d.bottom_labels) m.bottom = kStripGap + kStrip + kLabelGap + label_extent(klabels, d.font);
    if (d.top_ticks) m.top = tick * 1.25 + 4;
    if (d.age_strip) m.top += age_strip_space();
    if (d.right_ticks) m.right = Figure::measure("0000", {tick}).w + 5;
    return m;
}

void draw_labelled_map(Figure& f, const Rect& cells, const MapSlice& m, const std::vector<TokenLabel>& qlabels,
                       const std::vector<TokenLabel>& klabels, const RunInfo& info, const Colormap& cmap,
                       const ColorScale& scale, const MapDecor& d) {
    draw_cells(f, cells, m.values.data(), m.q.size(), m.k.size(), cmap, scale);
    // Rows the step's forward did not recompute hold no attention (the cache kept their K/V only):
    // hatched, and said in words on top of the boundary lines where a band has room for it.
    const double ch = cells.h / std::max(m.q.size(), 1), cw = cells.w / std::max(m.k.size(), 1);
    std::vector<std::pair<int, int>> bands;  // [first, end) window rows
    for (int i = 0; i < static_cast<int>(m.recomputed.size());) {
        int e = i;
        while (e < static_cast<int>(m.recomputed.size()) && !m.recomputed[e]) ++e;
        if (e == i) {
            ++i;
            continue;
        }
        bands.emplace_back(i, e);
        draw_hatch(f, {cells.x, cells.y + i * ch, cells.w, (e - i) * ch});
        i = e;
    }
    draw_boundaries(f, cells, info, m.q, m.k, d.line);
    f.stroke_rect(cells, palette::kFrame, 0.6);
    for (const auto& [i, e] : bands) {
        if (!d.band_labels) break;
        TextStyle st;
        st.size = d.font;
        st.ax = 0.5, st.ay = 0.5;
        const std::string what = e - i == 1 ? fmt::format("row {} not recomputed at this step (cached)", m.q.begin + i)
                                            : fmt::format("rows {}–{} not recomputed at this step (cached)", m.q.begin + i,
                                                          m.q.begin + e - 1);
        const TextSize ts = Figure::measure(what, st);
        if ((e - i) * ch < d.font * 2.2 || ts.w + 8 > cells.w) continue;
        const double cx = cells.x + cells.w / 2, cy = cells.y + (i + e) * ch / 2;
        f.fill_rect({cx - ts.w / 2 - 3, cy - ts.h / 2 - 1, ts.w + 6, ts.h + 2}, {1, 1, 1}, 0.9);
        f.text(cx, cy, what, st);
    }
    double top = cells.y;  // where the position ticks start
    if (d.age_strip && static_cast<int>(m.key_age.size()) == m.k.size()) {
        top -= kStripGap + kAgeStrip;
        for (int j = 0; j < m.k.size(); ++j)
            f.fill_rect({cells.x + j * cw, top, cw + 0.05, kAgeStrip}, cache_age_colour(m.key_age[j], m.max_age));
        f.stroke_rect({cells.x, top, cells.w, kAgeStrip}, palette::kFrame, 0.3);
    }
    if (d.left_labels) {
        draw_class_strip(f, Side::left, cells, qlabels, kStrip, kStripGap);
        draw_token_labels(f, Side::left, cells, qlabels, d.font, kStripGap + kStrip + kLabelGap);
    }
    if (d.bottom_labels) {
        draw_class_strip(f, Side::bottom, cells, klabels, kStrip, kStripGap);
        draw_token_labels(f, Side::bottom, cells, klabels, d.font, kStripGap + kStrip + kLabelGap);
    }
    if (d.top_ticks)
        draw_position_ticks(f, Side::top, {cells.x, top, cells.w, cells.bottom() - top}, m.k.begin, m.k.size(), d.font * 0.85);
    if (d.right_ticks) draw_position_ticks(f, Side::right, cells, m.q.begin, m.q.size(), d.font * 0.85);
}

std::vector<LegendItem> map_legend(double font, bool commit_now) {
    std::vector<LegendItem> items;
    items.push_back({LegendItem::Mark::swatch, palette::kClassPrompt, "", {}, "prompt", false});
    items.push_back({LegendItem::Mark::swatch, palette::kClassGenerated, "", {}, "generated (committed)", false});
    items.push_back({LegendItem::Mark::swatch, palette::kClassMasked, "", {}, "masked", true});
    TokenLabel masked{"▒", TokenClass::masked, false, false};
    items.push_back({LegendItem::Mark::sample, {}, "▒", label_style(masked, font), "masked token", false});
    if (commit_now) {
        TokenLabel now{"▒→x", TokenClass::masked, false, true};
        items.push_back({LegendItem::Mark::sample, {}, "▒→piece", label_style(now, font), "committed by this step", false});
    }
    TokenLabel special{"<|eot_id|>", TokenClass::generated, true, false};
    items.push_back({LegendItem::Mark::sample, {}, "<|…|>", label_style(special, font), "special token", false});
    TextStyle ws;
    ws.size = font;
    items.push_back({LegendItem::Mark::sample, {}, "␣ ↵ ⇥", ws, "space, newline, tab", false});
    items.push_back({LegendItem::Mark::line, palette::kPromptBoundary, "", {}, "prompt | generation", true});
    items.push_back({LegendItem::Mark::dashed, palette::kBlockBoundary, "", {}, "block boundary", true});
    return items;
}

Rgb cache_age_colour(int age, int max_age) {
    if (age <= 0) return palette::kKeyFresh;
    // Light orange (1 step) → orange → dark red-brown (the oldest), piecewise linear.
    constexpr Rgb kStops[] = {{0.99, 0.86, 0.58}, {0.94, 0.52, 0.16}, {0.52, 0.15, 0.04}};
    const double t = max_age <= 1 ? 1.0 : std::clamp(static_cast<double>(age - 1) / (max_age - 1), 0.0, 1.0);
    const int seg = t < 0.5 ? 0 : 1;
    const double u = t < 0.5 ? t * 2 : t * 2 - 1;
    const Rgb a = kStops[seg], b = kStops[seg + 1];
    return {a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u};
}

std::vector<LegendItem> cache_legend(bool rows, bool keys, int max_age) {
    std::vector<LegendItem> items;
    if (rows) items.push_back({LegendItem::Mark::hatch, {}, "", {}, "not recomputed at this step (cached)", false});
    if (keys) {
        LegendItem it{LegendItem::Mark::boxes, {}, "", {}, "key cache age (steps; strip above the keys, 0 = computed by this step)", false};
        // Every age up to 10; beyond, 0 and about six round ages.
        std::vector<int> ages;
        if (max_age <= 10) {
            for (int a = 0; a <= max_age; ++a) ages.push_back(a);
        } else {
            ages.push_back(0);
            for (double v : nice_ticks(1, max_age, 6))
                if (v >= 1 && v <= max_age && v == std::floor(v) && static_cast<int>(v) != ages.back()) ages.push_back(static_cast<int>(v));
            if (ages.back() != max_age) ages.push_back(max_age);
        }
        for (int a : ages) it.boxes.emplace_back(cache_age_colour(a, max_age), std::to_string(a));
        items.push_back(std::move(it));
    }
    return items;
}

void draw_heatmap_figure(const analysis::RunReader& run, const RunInfo& info, const analysis::StepCapture& s,
                         int layer_index, int head, MapWindow window, const RenderOptions& opt, const std::string& path) {
    require_maps(run, "heatmaps");
    check_head(run, head);
    const bool canvas = window == MapWindow::canvas;
    const int max_tokens = canvas ? canvas_tokens(opt) : opt.max_tokens;
    const Window k = canvas ? canvas_window(info, max_tokens) : choose_window(info, max_tokens, s.step);
    const Window q = query_window(k, s.row_begin, s.row_end, max_tokens);
    const MapSlice m = slice_map(run, s, layer_index, head, q, k);
    const auto qlabels = window_labels(info, s.canvas, q, s.step);
    const auto klabels = window_labels(info, s.canvas, k, s.step);
    const ColorScale scale = ColorScale::for_values(opt.scale, m.values);
    const Colormap& cmap = Colormap::by_name(opt.colormap);

    const int n = std::max(q.size(), k.size());
    const double cell = canvas ? canvas_heatmap_cell(n) : heatmap_cell(n);
    MapDecor d;
    d.font = std::clamp(cell * 0.9, 5.5, 8.0);
    d.line = 1.0;
    d.age_strip = m.keys_cached();
    const Margins mg = labelled_map_margins(qlabels, klabels, d);

    // Text of the header.
    const int layer = s.layers[layer_index];
    const std::string hl = head_label(run, head);
    const std::string title =
        fmt::format("Attention at step {} · layer {} · {}{}", s.step, layer, hl, canvas ? " · prompt and answer" : "");
    int committed_before = 0;
    for (int p = info.prompt_length; p < info.canvas_length; ++p)
        if (s.canvas[p] != info.mask_id) ++committed_before;
    const std::string sub1 = fmt::format("{} · {} of {} generated positions committed before this step · {} colour scale",
                                         info.block_text(info.block_of_step(s.step)), committed_before,
                                         info.canvas_length - info.prompt_length, opt.scale == ScaleKind::log ? "log" : "linear");
    const std::string sub2 = fmt::format("queries {}–{} × keys {}–{} of canvas 0–{} (prompt 0–{}) · {} of {} layers captured · {}",
                                         q.begin, q.end - 1, k.begin, k.end - 1, info.canvas_length - 1,
                                         info.prompt_length - 1, run.captured_layers().size(), run.n_layers(),
                                         info.run_name) +
                             (info.pieces.empty() ? " · incomplete run: labels are token ids (#id)" : "");
    // A third line for a step that reused the cache (or any step of a cached run).
    const std::string sub3 = forward_text(info, s, k);
    const TextStyle ts = title_style(), ss = subtitle_style();
    const int sub_lines = sub3.empty() ? 2 : 3;
    const double title_h = ts.size * 1.35 + sub_lines * ss.size * 1.45 + 10;

    // Geometry.
    const double axis_title = d.font * 1.4 + 4;
    Rect cells{kMargin + axis_title + mg.left, kMargin + title_h + mg.top, k.size() * cell, q.size() * cell};
    const double key_title_y = cells.bottom() + mg.bottom + 5;
    const double bar_x = cells.right() + mg.right + 14;
    const double cb_w = colorbar_width(scale, 11, d.font);
    double W = std::max({bar_x + cb_w + kMargin, Figure::measure(title, ts).w + 2 * kMargin,
                         Figure::measure(sub1, ss).w + 2 * kMargin, Figure::measure(sub2, ss).w + 2 * kMargin,
                         Figure::measure(sub3, ss).w + 2 * kMargin, 460.0});
    auto legend = map_legend(d.font, true);
    for (LegendItem& it : cache_legend(m.rows_cached(), m.keys_cached(), m.max_age)) legend.push_back(std::move(it));
    const double legend_y = key_title_y + d.font * 1.4 + 10;
    const double legend_h = draw_legend(nullptr, kMargin, legend_y, legend, d.font, W - 2 * kMargin);
    const double H = legend_y + legend_h + kMargin;

    Figure f(W, H, opt);
    f.text(kMargin, kMargin, title, ts);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2, sub1, ss);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2 + ss.size * 1.45, sub2, ss);
    if (!sub3.empty()) f.text(kMargin, kMargin + ts.size * 1.35 + 2 + 2 * ss.size * 1.45, sub3, ss);
    draw_labelled_map(f, cells, m, qlabels, klabels, info, cmap, scale, d);
    TextStyle at;
    at.size = d.font;
    at.angle = 90, at.ax = 0.5, at.ay = 0.0;
    f.text(kMargin, cells.y + cells.h / 2, "query position (attends from)", at);
    at.angle = 0, at.ax = 0.5, at.ay = 0.0;
    f.text(cells.x + cells.w / 2, key_title_y, "key position (attended to)", at);
    const Rect bar{bar_x, cells.y, 11, std::min(cells.h, 300.0)};
    draw_colorbar(f, bar, cmap, scale, opt.scale == ScaleKind::log ? "attention probability (log)" : "attention probability",
                  d.font);
    draw_legend(&f, kMargin, legend_y, legend, d.font, W - 2 * kMargin);
    f.set_meta(title, sub1 + ". " + sub2 + (sub3.empty() ? "" : ". " + sub3) + ". Query labels: " + join_labels(qlabels) + ". Key labels: " + join_labels(klabels) + ".");
    f.save(path);
}

}  // namespace dlmscope::render
