// Evolution over the diffusion steps: six per-layer metric curves (head mean of the per-head
// statistics over the generated query rows), the commit events (tokens committed per step, their
// mean confidence, dashed block starts), and the first / last / difference maps of one layer.
#include "capture/stats.h"
#include "core/error.h"
#include "render/plot/heatmap.h"
#include "render/plot/lines.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlmscope::render {

namespace {

constexpr double kMargin = 16.0;

struct Metric {
    int stat;
    int row_set;
    const char* title;
    const char* y_title;
    bool unit_interval;
};

// Query rows: the generated positions (i ≥ P), the rows whose attention decides the output.
constexpr Metric kMetrics[] = {
    {kStatEntropy, kRowsGenerated, "Attention entropy", "nats", false},
    {kStatMassMasked, kRowsGenerated, "Mass on masked keys", "probability mass", true},
    {kStatMassPrompt, kRowsGenerated, "Mass on prompt keys", "probability mass", true},
    {kStatMassGenerated, kRowsGenerated, "Mass on committed generated keys", "probability mass", true},
    {kStatMassSink, kRowsGenerated, "Mass on position 0 (sink)", "probability mass", true},
    {kStatLocal, kRowsGenerated, "Local mass (|i − j| ≤ 2)", "probability mass", true},
};
constexpr int kNumMetrics = static_cast<int>(std::size(kMetrics));

}  // namespace

EvolutionCollector::EvolutionCollector(const analysis::RunReader& run, const RunInfo& info, std::vector<int> layer_indices,
                                       int map_layer_index, int head, const RenderOptions& opt)
    : run_(run), layer_indices_(std::move(layer_indices)), map_layer_index_(map_layer_index), head_(head) {
    for (int li : layer_indices_) d_.layers.push_back(run.captured_layers()[li]);
    d_.values.assign(kNumMetrics, std::vector<std::vector<float>>(layer_indices_.size()));
    d_.has_maps = run.map_heads() != analysis::MapHeads::none && run.stored_heads() > 0;
    if (d_.has_maps) {
        check_head(run, head);
        d_.map_layer = run.captured_layers()[map_layer_index];
        d_.head = head_label(run, head);
        const int last = run.steps().empty() ? -1 : run.steps().back().step;
        k_ = choose_window(info, opt.max_tokens, last);
        const auto [rb, re] = run.map_rows();
        q_ = query_window(k_, rb, re, opt.max_tokens);
    }
}

void EvolutionCollector::add(const analysis::StepCapture& s) {
    d_.steps.push_back(s.step);
    for (int m = 0; m < kNumMetrics; ++m) {
        for (size_t l = 0; l < layer_indices_.size(); ++l) {
            double sum = 0;
            int n = 0;
            for (int h = 0; h < s.n_heads; ++h) {
                const float v = s.stats_of(layer_indices_[l], h, kMetrics[m].row_set)[kMetrics[m].stat];
                if (std::isfinite(v)) sum += v, ++n;
            }
            d_.values[m][l].push_back(n ? static_cast<float>(sum / n) : std::numeric_limits<float>::quiet_NaN());
        }
    }
    if (!d_.has_maps || s.maps.empty()) return;
    MapSlice m = slice_map(run_, s, map_layer_index_, head_, q_, k_);
    if (d_.first_step < 0) {
        d_.first_step = s.step;
        d_.first = m;
        d_.first_canvas = s.canvas;
    }
    d_.last_step = s.step;
    d_.last = std::move(m);
    d_.last_canvas = s.canvas;
}

void draw_evolution_figure(const analysis::RunReader& run, const RunInfo& info, const EvolutionCollector::Data& d,
                           const RenderOptions& opt, const std::string& path) {
    if (d.steps.empty()) fail("{} holds no captured step to draw", run.manifest_path());
    const double font = 8.0;
    const int nl = static_cast<int>(d.layers.size());
    const double x_lo = d.steps.front(), x_hi = std::max<double>(d.steps.back(), d.steps.front() + 1);

    // Block starts (dashed, from the steps' records) and commit events.
    std::vector<double> events;
    for (size_t b = 1; b < info.block_start.size(); ++b) events.push_back(static_cast<double>(info.block_start[b]) - 0.5);
    std::vector<double> cx, count, conf;
    for (const CommitEvent& e : info.commits) {
        if (e.step < 0) continue;
        cx.push_back(e.step);
        count.push_back(static_cast<double>(e.positions.size()));
        double s = 0;
        for (double c : e.confidences) s += c;
        conf.push_back(e.confidences.empty() ? std::numeric_limits<double>::quiet_NaN() : s / e.confidences.size());
    }

    // The maps row (first, last, difference).
    const bool maps = d.has_maps && d.first_step >= 0;
    std::vector<TokenLabel> fq, fk, lq, lk;
    // Copies that share one cache age scale (either may be a cached step).
    MapSlice first = d.first, last = d.last, diff;
    first.max_age = last.max_age = std::max(d.first.max_age, d.last.max_age);
    ColorScale shared = ColorScale::linear(0, 1), dscale = ColorScale::symmetric(1);
    double cell = 6.0;
    MapDecor md, mdf, mdl;  // shared; the first map's; the last (and difference) map's
    Margins mf, ml;
    if (maps) {
        fq = window_labels(info, d.first_canvas, d.first.q, d.first_step);
        fk = window_labels(info, d.first_canvas, d.first.k, d.first_step);
        lq = window_labels(info, d.last_canvas, d.last.q, d.last_step);
        lk = window_labels(info, d.last_canvas, d.last.k, d.last_step);
        diff = last;
        for (size_t i = 0; i < diff.recomputed.size() && i < first.recomputed.size(); ++i)
            diff.recomputed[i] = first.recomputed[i] && last.recomputed[i];
        double m = 0;
        for (size_t i = 0; i < diff.values.size(); ++i) {
            diff.values[i] = d.last.values[i] - d.first.values[i];
            m = std::max(m, static_cast<double>(std::abs(diff.values[i])));
        }
        std::vector<float> both = d.first.values;
        both.insert(both.end(), d.last.values.begin(), d.last.values.end());
        shared = ColorScale::for_values(opt.scale, both);
        dscale = ColorScale::symmetric(m);
        const int n = std::max(d.first.q.size(), d.first.k.size());
        cell = std::clamp(384.0 / n, 2.5, 8.0);
        md.font = std::clamp(cell * 0.9, 5.0, 7.0);
        md.top_ticks = md.right_ticks = false;
        mdf = mdl = md;
        mdf.age_strip = first.keys_cached();
        mdl.age_strip = last.keys_cached();
        mf = labelled_map_margins(fq, fk, mdf);
        ml = labelled_map_margins(lq, lk, mdl);
    }
    const double mw = maps ? d.first.k.size() * cell : 0, mh = maps ? d.first.q.size() * cell : 0;
    const double cb1 = maps ? colorbar_width(shared, 10, 7) : 0, cb2 = maps ? colorbar_width(dscale, 10, 7) : 0;
    const double maps_w = maps ? mf.left + mw + 14 + ml.left + mw + 10 + cb1 + 16 + ml.left + mw + 10 + cb2 : 0;

    // Curves: 3 × 2 panels.
    const double y_axis = 48;  // tick labels + y title left of each panel
    const double panels_w = std::max(3 * (y_axis + 210) + 2 * 14, maps_w);
    const double pw = (panels_w - 2 * 14) / 3 - y_axis, ph = 118;
    const double W0 = panels_w + 2 * kMargin;

    const std::string title = fmt::format("Evolution over {} captured step{} · {} layer{} · head mean of per-head statistics",
                                          d.steps.size(), d.steps.size() == 1 ? "" : "s", nl, nl == 1 ? "" : "s");
    const std::string steps_text = info.block_steps_text();
    const std::string sub = fmt::format(
        "query rows: generated positions ({}–{}) · one curve per layer, coloured by depth · dashed lines: block starts "
        "({} block{}{}) · {}",
        info.prompt_length, info.canvas_length - 1, info.num_blocks, info.num_blocks == 1 ? "" : "s",
        steps_text.empty() ? "" : (info.schedule_varies() ? ", " : " × ") + steps_text, info.run_name);
    const TextStyle ts = title_style(), ss = subtitle_style();
    const double W = std::max({W0, Figure::measure(title, ts).w + 2 * kMargin, Figure::measure(sub, ss).w + 2 * kMargin});
    const double title_h = ts.size * 1.35 + ss.size * 1.45 + 10;

    // Layer legend.
    std::vector<LegendItem> legend;
    for (int l = 0; l < nl; ++l)
        legend.push_back({LegendItem::Mark::line, layer_colour(l, nl), "", {}, fmt::format("layer {}", d.layers[l]), false});
    const double legend_y = kMargin + title_h;
    const double legend_h = draw_legend(nullptr, kMargin, legend_y, legend, 7.5, W - 2 * kMargin);

    const double panel_y0 = legend_y + legend_h + 22;
    const double row_h = ph + 44;
    const double commits_y = panel_y0 + 2 * row_h + 10;
    const double commits_h = info.commits.empty() ? 0 : 60;
    const double maps_top = std::max(mf.top, ml.top);  // the cache age strip, when a map has one
    const double maps_y = commits_y + (commits_h > 0 ? commits_h + 58 : 0) + 22 + maps_top;
    const double maps_bottom = maps ? maps_y + std::max(mf.bottom, ml.bottom) + mh + 14 : maps_y;
    double H = maps_bottom + kMargin + (maps ? 10 : 14);
    std::vector<LegendItem> mlegend;
    double mlegend_h = 0;
    if (maps) {
        mlegend = map_legend(7.0, false);
        for (LegendItem& it : cache_legend(first.rows_cached() || last.rows_cached(), mdf.age_strip || mdl.age_strip, last.max_age))
            mlegend.push_back(std::move(it));
        mlegend_h = draw_legend(nullptr, kMargin, maps_bottom, mlegend, 7.0, W - 2 * kMargin);
        H += mlegend_h;
    }

    Figure f(W, H, opt);
    f.text(kMargin, kMargin, title, ts);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2, sub, ss);
    draw_legend(&f, kMargin, legend_y, legend, 7.5, W - 2 * kMargin);

    for (int m = 0; m < kNumMetrics; ++m) {
        LinePanel p;
        p.title = kMetrics[m].title;
        p.y_title = kMetrics[m].y_title;
        p.x_lo = x_lo, p.x_hi = x_hi;
        p.events = events;
        for (int l = 0; l < nl; ++l) {
            Series s;
            s.color = layer_colour(l, nl);
            s.width = nl > 8 ? 1.0 : 1.4;
            for (size_t k = 0; k < d.steps.size(); ++k) {
                s.x.push_back(d.steps[k]);
                s.y.push_back(d.values[m][l][k]);
            }
            p.series.push_back(std::move(s));
        }
        fit_y(p, kMetrics[m].unit_interval);
        const Rect r{kMargin + y_axis + (m % 3) * (pw + y_axis + 14), panel_y0 + (m / 3) * row_h, pw, ph};
        draw_line_panel(f, r, p, m / 3 == 1 ? "step" : "", font);
    }

    if (commits_h > 0) {
        const Rect r{kMargin + y_axis, commits_y + 14, W - 2 * kMargin - 2 * y_axis, commits_h};
        double cmax = 1;
        for (double c : count) cmax = std::max(cmax, c);
        std::vector<double> yt;  // whole tokens
        for (double v : nice_ticks(0, cmax, 2))
            if (v == std::floor(v)) yt.push_back(v);
        if (yt.size() < 2) yt = {0, std::ceil(cmax)};
        draw_value_grid(f, r, 0, std::max(cmax, yt.back()), yt, true);
        for (double e : events)
            if (e > x_lo && e < x_hi)
                f.line(r.x + (e - x_lo) / (x_hi - x_lo) * r.w, r.y, r.x + (e - x_lo) / (x_hi - x_lo) * r.w, r.bottom(),
                       palette::kMuted, 0.6, 2.0);
        draw_bars(f, r, cx, count, x_lo, x_hi, std::max(cmax, yt.back()), {0.55, 0.60, 0.70});
        // Mean confidence of the committed tokens, on the right axis (0 … 1).
        cairo_t* cr = f.cr();
        bool pen = false;
        for (size_t i = 0; i < cx.size(); ++i) {
            if (!std::isfinite(conf[i]) || cx[i] < x_lo || cx[i] > x_hi) {
                pen = false;
                continue;
            }
            const double x = r.x + (cx[i] - x_lo) / (x_hi - x_lo) * r.w, y = r.bottom() - conf[i] * r.h;
            if (pen) cairo_line_to(cr, x, y); else cairo_move_to(cr, x, y);
            pen = true;
        }
        cairo_set_source_rgb(cr, 0.85, 0.40, 0.05);
        cairo_set_line_width(cr, 1.0);
        cairo_stroke(cr);
        f.stroke_rect(r, palette::kFrame, 0.6);
        draw_value_axis(f, Side::left, r, 0, std::max(cmax, yt.back()), yt, "tokens", font * 0.9);
        draw_value_axis(f, Side::right, r, 0, 1, {0, 0.5, 1}, "confidence", font * 0.9);
        draw_value_axis(f, Side::bottom, r, x_lo, x_hi, nice_ticks(x_lo, x_hi, 8), "step", font * 0.9);
        TextStyle t;
        t.size = font;
        t.bold = true;
        t.ay = 1.0;
        f.text(r.x, r.y - 3, "Commit events: tokens committed per step (bars) and their mean confidence (orange)", t);
    }

    if (maps) {
        TextStyle cap;
        cap.size = 9;
        cap.bold = true;
        cap.ay = 1.0;
        double x = kMargin + mf.left;
        const double y = maps_y;
        const Colormap& cmap = Colormap::by_name(opt.colormap);
        draw_labelled_map(f, {x, y, mw, mh}, first, fq, fk, info, cmap, shared, mdf);
        f.text(x, y - 4 - maps_top, fmt::format("First: step {} · layer {} · {}", d.first_step, d.map_layer, d.head), cap);
        x += mw + 14 + ml.left;
        draw_labelled_map(f, {x, y, mw, mh}, last, lq, lk, info, cmap, shared, mdl);
        f.text(x, y - 4 - maps_top, fmt::format("Last: step {}", d.last_step), cap);
        draw_colorbar(f, {x + mw + 10, y, 10, std::min(mh, 240.0)}, cmap, shared,
                      opt.scale == ScaleKind::log ? "attention (log)" : "attention", 7);
        x += mw + 10 + cb1 + 16 + ml.left;
        draw_labelled_map(f, {x, y, mw, mh}, diff, lq, lk, info, Colormap::diverging(), dscale, mdl);
        f.text(x, y - 4 - maps_top, fmt::format("Difference: last − first (labels: step {})", d.last_step), cap);
        draw_colorbar(f, {x + mw + 10, y, 10, std::min(mh, 240.0)}, Colormap::diverging(), dscale, "change in attention", 7);
        draw_legend(&f, kMargin, maps_bottom, mlegend, 7.0, W - 2 * kMargin);
    } else {
        TextStyle n;
        n.size = font;
        n.color = palette::kMuted;
        f.text(kMargin, maps_y - 8,
               d.has_maps ? "No maps were captured for these steps: first / last / difference maps omitted."
                          : "This run stores no attention maps (--capture-heads none): first / last / difference maps omitted.",
               n);
    }
    f.set_meta(title, sub);
    f.save(path);
}

}  // namespace dlmscope::render
