#include "render/plot/lines.h"

#include "render/plot/colormap.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlmscope::render {

void fit_y(LinePanel& p, bool unit_interval) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    auto take = [&](const std::vector<double>& ys) {
        for (double v : ys)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    };
    for (const Series& s : p.series) take(s.y);
    for (const Band& b : p.bands) take(b.lo), take(b.hi);
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (unit_interval) lo = std::min(lo, 0.0);
    double pad = (hi - lo) * 0.06;
    if (pad <= 0) pad = std::max(std::abs(hi) * 0.05, 1e-3);
    p.y_lo = unit_interval ? std::max(lo - pad, 0.0) : lo - pad;
    p.y_hi = hi + pad;
    if (unit_interval && p.y_hi > 1.0 && hi <= 1.0) p.y_hi = std::min(p.y_hi, 1.02);
}

void draw_line_panel(Figure& f, const Rect& plot, const LinePanel& p, const std::string& x_title, double size) {
    const auto yt = nice_ticks(p.y_lo, p.y_hi, 4);
    const auto xt = nice_ticks(p.x_lo, p.x_hi, 6);
    draw_value_grid(f, plot, p.y_lo, p.y_hi, yt, true);
    auto X = [&](double x) { return plot.x + (x - p.x_lo) / std::max(p.x_hi - p.x_lo, 1e-12) * plot.w; };
    auto Y = [&](double y) { return plot.bottom() - (y - p.y_lo) / std::max(p.y_hi - p.y_lo, 1e-12) * plot.h; };
    for (double e : p.events)
        if (e > p.x_lo && e < p.x_hi) f.line(X(e), plot.y, X(e), plot.bottom(), palette::kMuted, 0.6, 2.0);
    cairo_t* cr = f.cr();
    cairo_save(cr);
    cairo_rectangle(cr, plot.x, plot.y, plot.w, plot.h);
    cairo_clip(cr);
    // Bands: one polygon per run of finite points (upper edge forwards, lower edge back).
    for (const Band& b : p.bands) {
        const size_t n = std::min({b.x.size(), b.lo.size(), b.hi.size()});
        for (size_t i = 0; i < n;) {
            if (!std::isfinite(b.lo[i]) || !std::isfinite(b.hi[i])) {
                ++i;
                continue;
            }
            size_t e = i;
            while (e < n && std::isfinite(b.lo[e]) && std::isfinite(b.hi[e])) ++e;
            cairo_move_to(cr, X(b.x[i]), Y(b.hi[i]));
            for (size_t j = i + 1; j < e; ++j) cairo_line_to(cr, X(b.x[j]), Y(b.hi[j]));
            for (size_t j = e; j-- > i;) cairo_line_to(cr, X(b.x[j]), Y(b.lo[j]));
            cairo_close_path(cr);
            cairo_set_source_rgba(cr, b.color.r, b.color.g, b.color.b, b.alpha);
            cairo_fill(cr);
            i = e;
        }
    }
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (const Series& s : p.series) {
        bool pen = false;
        size_t points = 0;
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
            if (!std::isfinite(s.y[i])) {
                pen = false;
                continue;
            }
            if (pen) {
                cairo_line_to(cr, X(s.x[i]), Y(s.y[i]));
            } else {
                cairo_move_to(cr, X(s.x[i]), Y(s.y[i]));
                // A lone point (between NaNs) still shows as a dot thanks to the round cap.
                cairo_line_to(cr, X(s.x[i]), Y(s.y[i]));
            }
            pen = true;
            ++points;
        }
        if (points == 0) continue;
        cairo_set_source_rgb(cr, s.color.r, s.color.g, s.color.b);
        cairo_set_line_width(cr, s.width);
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    f.stroke_rect(plot, palette::kFrame, 0.6);
    draw_value_axis(f, Side::left, plot, p.y_lo, p.y_hi, yt, p.y_title, size * 0.9);
    draw_value_axis(f, Side::bottom, plot, p.x_lo, p.x_hi, xt, x_title, size * 0.9);
    TextStyle t;
    t.size = size;
    t.bold = true;
    t.ay = 1.0;
    f.text(plot.x, plot.y - 3, p.title, t);
}

void draw_bars(Figure& f, const Rect& plot, const std::vector<double>& x, const std::vector<double>& y, double x_lo,
               double x_hi, double y_hi, Rgb color) {
    const double span = std::max(x_hi - x_lo, 1e-12);
    const double bw = std::max(plot.w / (span + 1) * 0.8, 0.4);
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
        if (!(y[i] > 0)) continue;
        const double cx = plot.x + (x[i] - x_lo) / span * plot.w;
        const double h = std::min(y[i] / std::max(y_hi, 1e-12), 1.0) * plot.h;
        f.fill_rect({cx - bw / 2, plot.bottom() - h, bw, h}, color);
    }
}

Rgb layer_colour(int i, int n) { return Colormap::viridis().at(n <= 1 ? 0.0 : 0.88 * i / (n - 1)); }

}  // namespace dlmscope::render
