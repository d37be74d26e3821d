// The cache drift over the audited steps of a cached run (--cache-audit): per-layer curves of the
// Jensen–Shannon divergence and L1 distance of cached against exact attention, the logits' argmax
// agreement and largest difference, with block starts marked (docs/figures.md, docs/decoding.md).
#include "core/error.h"
#include "render/plot/heatmap.h"
#include "render/plot/lines.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlmscope::render {

namespace {
constexpr double kMargin = 16.0;
}  // namespace

void require_cache_drift(const analysis::RunReader& run) {
    if (run.has_cache_drift()) return;
    fail("{} holds no cache audit (no cache_drift.npy: {}), so it has no cache drift figure; generate the run with "
         "--cache-audit (and --cache prefix or dual)",
         run.manifest_path(), run.cache_mode() == "none" ? "the run used no cache" : "it was generated without --cache-audit");
}

void draw_drift_figure(const analysis::RunReader& run, const RunInfo& info, const RenderOptions& opt, const std::string& path) {
    require_cache_drift(run);
    const analysis::CacheDrift cd = run.load_cache_drift();
    const int n = static_cast<int>(cd.steps.size()), NL = cd.n_layers, NH = cd.n_heads;
    if (n == 0) fail("{}: the cache audit holds no audited step (every step was a full forward)", run.manifest_path());
    const double font = 8.0;
    const double x_lo = 0, x_hi = std::max(info.total_steps - 1, cd.steps.back());

    // Per audited step and layer, the mean over heads; a NaN point between audited steps that are
    // not consecutive (the full forward of a block start, never audited) breaks the lines there.
    std::vector<double> xs;
    std::vector<std::vector<double>> js(static_cast<size_t>(NL)), l1(static_cast<size_t>(NL));
    std::vector<double> agree, logits;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int k = 0; k < n; ++k) {
        if (k > 0 && cd.steps[k] > cd.steps[k - 1] + 1) {
            xs.push_back(cd.steps[k] - 1);
            for (int l = 0; l < NL; ++l) js[l].push_back(nan), l1[l].push_back(nan);
            agree.push_back(nan), logits.push_back(nan);
        }
        xs.push_back(cd.steps[k]);
        for (int l = 0; l < NL; ++l) {
            double a = 0, b = 0;
            for (int h = 0; h < NH; ++h) a += cd.at(k, l, h, kDriftJsMean), b += cd.at(k, l, h, kDriftL1Mean);
            js[l].push_back(a / NH);
            l1[l].push_back(b / NH);
        }
        agree.push_back(cd.argmax_rows[k] > 0 ? static_cast<double>(cd.argmax_agree[k]) / cd.argmax_rows[k] : nan);
        logits.push_back(cd.logits_max_abs[k]);
    }

    // Up to 8 layers: a line per layer, coloured by depth. More: their mean, and the min–max band.
    const bool per_layer = NL <= 8;
    const Rgb kMeanColour{0.16, 0.33, 0.60};
    auto layer_panel = [&](const char* title, const char* y_title, const std::vector<std::vector<double>>& v) {
        LinePanel p;
        p.title = title;
        p.y_title = y_title;
        p.x_lo = x_lo, p.x_hi = x_hi;
        for (size_t b = 1; b < info.block_start.size(); ++b) p.events.push_back(info.block_start[b] - 0.5);
        if (per_layer) {
            for (int l = 0; l < NL; ++l) p.series.push_back({xs, v[l], layer_colour(l, NL), 1.3});
        } else {
            Band band{xs, {}, {}, kMeanColour, 0.22};
            Series mean{xs, {}, kMeanColour, 1.4};
            for (size_t i = 0; i < xs.size(); ++i) {
                double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
                for (int l = 0; l < NL; ++l) lo = std::min(lo, v[l][i]), hi = std::max(hi, v[l][i]), sum += v[l][i];
                const bool ok = std::isfinite(sum);
                band.lo.push_back(ok ? lo : nan), band.hi.push_back(ok ? hi : nan);
                mean.y.push_back(ok ? sum / NL : nan);
            }
            p.bands.push_back(std::move(band));
            p.series.push_back(std::move(mean));
        }
        fit_y(p, true);
        return p;
    };
    LinePanel pjs = layer_panel("Jensen–Shannon divergence, cached vs exact", "bits", js);
    LinePanel pl1 = layer_panel("L1 distance Σ|cached − exact|", "L1 (0 … 2)", l1);
    LinePanel pag;
    pag.title = "Logits: argmax agreement with the exact forward";
    pag.y_title = "fraction of rows";
    pag.x_lo = x_lo, pag.x_hi = x_hi;
    pag.events = pjs.events;
    pag.series.push_back({xs, agree, {0.20, 0.55, 0.30}, 1.4});
    pag.y_lo = 0, pag.y_hi = 1.04;
    LinePanel plg;
    plg.title = "Logits: largest |cached − exact|";
    plg.y_title = "logit";
    plg.x_lo = x_lo, plg.x_hi = x_hi;
    plg.events = pjs.events;
    plg.series.push_back({xs, logits, {0.85, 0.40, 0.05}, 1.4});
    fit_y(plg, true);

    // Header and legend.
    const std::string title = fmt::format("Cache drift over {} audited step{} · {} cache · cached vs exact attention and logits",
                                          n, n == 1 ? "" : "s", run.cache_mode());
    const std::string steps_text = info.block_steps_text();
    const std::string sub1 = fmt::format(
        "each audited (cached) step's recomputed rows against an exact full forward: mean over the rows and the {} heads · "
        "{} layers · {}",
        NH, NL, info.run_name);
    const std::string sub2 = fmt::format(
        "agreement: rows whose logits' argmax matches the exact forward's · dashed lines: block starts ({} block{}{}), each "
        "a full forward (not audited)",
        info.num_blocks, info.num_blocks == 1 ? "" : "s", steps_text.empty() ? "" : ", " + steps_text);
    std::vector<LegendItem> legend;
    if (per_layer) {
        for (int l = 0; l < NL; ++l)
            legend.push_back({LegendItem::Mark::line, layer_colour(l, NL), "", {}, fmt::format("layer {}", l), false});
    } else {
        legend.push_back({LegendItem::Mark::line, kMeanColour, "", {}, fmt::format("mean over the {} layers", NL), false});
        const Rgb light{1 - 0.22 * (1 - kMeanColour.r), 1 - 0.22 * (1 - kMeanColour.g), 1 - 0.22 * (1 - kMeanColour.b)};
        legend.push_back({LegendItem::Mark::swatch, light, "", {}, "min … max over layers", false});
    }
    const TextStyle ts = title_style(), ss = subtitle_style();
    const double y_axis = 52, pw = 330, ph = 130, gap = 18;
    const double W = std::max({kMargin * 2 + 2 * (y_axis + pw) + gap, Figure::measure(title, ts).w + 2 * kMargin,
                               Figure::measure(sub1, ss).w + 2 * kMargin, Figure::measure(sub2, ss).w + 2 * kMargin});
    const double title_h = ts.size * 1.35 + 2 * ss.size * 1.45 + 10;
    const double legend_y = kMargin + title_h;
    const double legend_h = draw_legend(nullptr, kMargin, legend_y, legend, 7.5, W - 2 * kMargin);
    const double panel_y0 = legend_y + legend_h + 22;
    const double row_h = ph + 48;
    const double pw_fit = (W - 2 * kMargin - gap) / 2 - y_axis;  // panels fill the width
    const double H = panel_y0 + row_h + ph + 30 + kMargin;  // the last row: plot, tick labels, axis title

    Figure f(W, H, opt);
    f.text(kMargin, kMargin, title, ts);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2, sub1, ss);
    f.text(kMargin, kMargin + ts.size * 1.35 + 2 + ss.size * 1.45, sub2, ss);
    draw_legend(&f, kMargin, legend_y, legend, 7.5, W - 2 * kMargin);
    const LinePanel* panels[] = {&pjs, &pl1, &pag, &plg};
    for (int i = 0; i < 4; ++i) {
        const Rect r{kMargin + y_axis + (i % 2) * (pw_fit + y_axis + gap), panel_y0 + (i / 2) * row_h, pw_fit, ph};
        draw_line_panel(f, r, *panels[i], "step", font);
    }
    std::string desc = sub1 + ". " + sub2 + ". Audited steps:";
    for (int s : cd.steps) desc += fmt::format(" {}", s);
    f.set_meta(title, desc);
    f.save(path);
}

}  // namespace dlmscope::render
