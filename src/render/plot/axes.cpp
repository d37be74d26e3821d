#include "render/plot/axes.h"

#include <algorithm>
#include <cmath>

namespace dlmscope::render {

namespace {

Rgb class_colour(const TokenLabel& l) {
    switch (l.cls) {
        case TokenClass::prompt: return palette::kClassPrompt;
        case TokenClass::generated: return palette::kClassGenerated;
        case TokenClass::masked: return palette::kClassMasked;
    }
    return palette::kClassMasked;
}

// Position of value v along [a, b] for the range lo … hi.
double along(double v, double lo, double hi, double a, double b) {
    if (hi == lo) return (a + b) / 2;
    return a + (v - lo) / (hi - lo) * (b - a);
}

}  // namespace

TextStyle label_style(const TokenLabel& l, double size) {
    TextStyle st;
    st.size = size;
    if (l.committed_now) {
        st.bold = true;
        st.color = palette::kCommitNow;
        st.italic = l.special;
    } else if (l.cls == TokenClass::masked) {
        st.color = palette::kMasked;
    } else if (l.special) {
        st.italic = true;
        st.color = palette::kSpecial;
    }
    return st;
}

double label_extent(const std::vector<TokenLabel>& labels, double size, double cap) {
    double w = 0;
    for (const TokenLabel& l : labels) w = std::max(w, Figure::measure(l.text, label_style(l, size)).w);
    return std::min(w, cap);
}

int label_stride(double cell, double size) {
    const double need = size * 1.1;
    return cell >= need ? 1 : static_cast<int>(std::ceil(need / std::max(cell, 1e-3)));
}

void draw_token_labels(Figure& f, Side side, const Rect& plot, const std::vector<TokenLabel>& labels, double size,
                       double gap) {
    const int n = static_cast<int>(labels.size());
    if (n == 0) return;
    const bool horizontal = side == Side::top || side == Side::bottom;
    const double cell = (horizontal ? plot.w : plot.h) / n;
    const int stride = label_stride(cell, size);
    // Thinned labels: every stride-th, but a position committed by this step is always labelled
    // (and pushes aside the regular labels that would overlap it).
    std::vector<bool> show(static_cast<size_t>(n), false);
    for (int i = 0; i < n; i += stride) show[i] = true;
    if (stride > 1)
        for (int i = 0; i < n; ++i)
            if (labels[i].committed_now) {
                for (int j = std::max(0, i - stride + 1); j < std::min(n, i + stride); ++j) show[j] = false;
                show[i] = true;
            }
    for (int i = 0; i < n; ++i) {
        if (!show[i]) continue;
        TextStyle st = label_style(labels[i], size);
        const double c = (i + 0.5) * cell;
        switch (side) {
            case Side::left:
                st.ax = 1.0, st.ay = 0.5;
                f.text(plot.x - gap, plot.y + c, labels[i].text, st);
                break;
            case Side::right:
                st.ax = 0.0, st.ay = 0.5;
                f.text(plot.right() + gap, plot.y + c, labels[i].text, st);
                break;
            case Side::bottom:
                // Rotated to read upwards; its end (ax = 1) sits at the axis.
                st.angle = 90, st.ax = 1.0, st.ay = 0.5;
                f.text(plot.x + c, plot.bottom() + gap, labels[i].text, st);
                break;
            case Side::top:
                st.angle = 90, st.ax = 0.0, st.ay = 0.5;
                f.text(plot.x + c, plot.y - gap, labels[i].text, st);
                break;
        }
    }
}

void draw_class_strip(Figure& f, Side side, const Rect& plot, const std::vector<TokenLabel>& labels, double thickness,
                      double gap) {
    const int n = static_cast<int>(labels.size());
    if (n == 0) return;
    const bool horizontal = side == Side::top || side == Side::bottom;
    const double cell = (horizontal ? plot.w : plot.h) / n;
    for (int i = 0; i < n; ++i) {
        Rect r;
        if (horizontal) {
            r = {plot.x + i * cell, side == Side::bottom ? plot.bottom() + gap : plot.y - gap - thickness, cell, thickness};
        } else {
            r = {side == Side::left ? plot.x - gap - thickness : plot.right() + gap, plot.y + i * cell, thickness, cell};
        }
        // Slight overlap hides hairline seams between cells in raster output.
        if (horizontal) r.w += 0.05; else r.h += 0.05;
        f.fill_rect(r, labels[i].committed_now ? palette::kCommitNow : class_colour(labels[i]));
    }
}

void draw_position_ticks(Figure& f, Side side, const Rect& plot, int first, int count, double size) {
    if (count <= 0) return;
    const bool horizontal = side == Side::top || side == Side::bottom;
    const double cell = (horizontal ? plot.w : plot.h) / count;
    // A round stride that leaves room for the numbers.
    const double need = (horizontal ? Figure::measure("0000", {size}).w : size * 1.6) * 1.3;
    int stride = 1;
    for (int s : {1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 1000, 2000, 5000}) {
        stride = s;
        if (s * cell >= need) break;
    }
    TextStyle st;
    st.size = size;
    st.color = palette::kMuted;
    for (int pos = (first + stride - 1) / stride * stride; pos < first + count; pos += stride) {
        const double c = (pos - first + 0.5) * cell;
        const std::string s = std::to_string(pos);
        switch (side) {
            case Side::top:
                f.line(plot.x + c, plot.y, plot.x + c, plot.y - 2.5, palette::kFrame, 0.5);
                st.ax = 0.5, st.ay = 1.0;
                f.text(plot.x + c, plot.y - 3.5, s, st);
                break;
            case Side::right:
                f.line(plot.right(), plot.y + c, plot.right() + 2.5, plot.y + c, palette::kFrame, 0.5);
                st.ax = 0.0, st.ay = 0.5;
                f.text(plot.right() + 3.5, plot.y + c, s, st);
                break;
            case Side::bottom:
                f.line(plot.x + c, plot.bottom(), plot.x + c, plot.bottom() + 2.5, palette::kFrame, 0.5);
                st.ax = 0.5, st.ay = 0.0;
                f.text(plot.x + c, plot.bottom() + 3.5, s, st);
                break;
            case Side::left:
                f.line(plot.x, plot.y + c, plot.x - 2.5, plot.y + c, palette::kFrame, 0.5);
                st.ax = 1.0, st.ay = 0.5;
                f.text(plot.x - 3.5, plot.y + c, s, st);
                break;
        }
    }
}

void draw_value_axis(Figure& f, Side side, const Rect& plot, double lo, double hi, const std::vector<double>& ticks,
                     const std::string& title, double size, bool flip) {
    TextStyle st;
    st.size = size;
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : std::max(hi - lo, 1e-9);
    double extent = 0;
    for (double v : ticks) {
        if (v < lo - 1e-9 || v > hi + 1e-9) continue;
        const std::string s = format_tick(v, step);
        extent = std::max(extent, Figure::measure(s, st).w);
        if (side == Side::left || side == Side::right) {
            const double y = flip ? along(v, lo, hi, plot.y, plot.bottom()) : along(v, lo, hi, plot.bottom(), plot.y);
            const double x = side == Side::left ? plot.x : plot.right();
            const double d = side == Side::left ? -1 : 1;
            f.line(x, y, x + d * 3, y, palette::kFrame, 0.6);
            st.ax = side == Side::left ? 1.0 : 0.0, st.ay = 0.5;
            f.text(x + d * 4.5, y, s, st);
        } else {
            const double x = flip ? along(v, lo, hi, plot.right(), plot.x) : along(v, lo, hi, plot.x, plot.right());
            const double y = side == Side::bottom ? plot.bottom() : plot.y;
            const double d = side == Side::bottom ? 1 : -1;
            f.line(x, y, x, y + d * 3, palette::kFrame, 0.6);
            st.ax = 0.5, st.ay = side == Side::bottom ? 0.0 : 1.0;
            f.text(x, y + d * 4.5, s, st);
        }
    }
    if (title.empty()) return;
    TextStyle t;
    t.size = size;
    t.color = palette::kText;
    switch (side) {
        case Side::left:
            t.angle = 90, t.ax = 0.5, t.ay = 1.0;
            f.text(plot.x - extent - 8, plot.y + plot.h / 2, title, t);
            break;
        case Side::right:
            t.angle = 90, t.ax = 0.5, t.ay = 0.0;
            f.text(plot.right() + extent + 8, plot.y + plot.h / 2, title, t);
            break;
        case Side::bottom:
            t.ax = 0.5, t.ay = 0.0;
            f.text(plot.x + plot.w / 2, plot.bottom() + size * 1.4 + 6, title, t);
            break;
        case Side::top:
            t.ax = 0.5, t.ay = 1.0;
            f.text(plot.x + plot.w / 2, plot.y - size * 1.4 - 6, title, t);
            break;
    }
}

void draw_value_grid(Figure& f, const Rect& plot, double lo, double hi, const std::vector<double>& ticks, bool vertical) {
    for (double v : ticks) {
        if (v < lo - 1e-9 || v > hi + 1e-9) continue;
        if (vertical) {
            const double y = along(v, lo, hi, plot.bottom(), plot.y);
            f.line(plot.x, y, plot.right(), y, palette::kGridLine, 0.5);
        } else {
            const double x = along(v, lo, hi, plot.x, plot.right());
            f.line(x, plot.y, x, plot.bottom(), palette::kGridLine, 0.5);
        }
    }
}

double colorbar_width(const ColorScale& scale, double bar_w, double size) {
    TextStyle st;
    st.size = size;
    double w = 0;
    for (const Tick& t : scale.ticks()) w = std::max(w, Figure::measure(t.label, st).w);
    return bar_w + 4.5 + w + 6 + size * 1.3;
}

double draw_colorbar(Figure& f, const Rect& bar, const Colormap& cmap, const ColorScale& scale, const std::string& title,
                     double size) {
    // The gradient as a cairo pattern with many stops (smooth in raster, compact in vector output).
    cairo_t* cr = f.cr();
    cairo_pattern_t* g = cairo_pattern_create_linear(0, bar.bottom(), 0, bar.y);
    constexpr int kStops = 64;
    for (int i = 0; i <= kStops; ++i) {
        const double t = static_cast<double>(i) / kStops;
        const Rgb c = cmap.at(t);
        cairo_pattern_add_color_stop_rgb(g, t, c.r, c.g, c.b);
    }
    cairo_rectangle(cr, bar.x, bar.y, bar.w, bar.h);
    cairo_set_source(cr, g);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    f.stroke_rect(bar, palette::kFrame, 0.5);

    TextStyle st;
    st.size = size;
    double w = 0;
    for (const Tick& t : scale.ticks()) {
        const double u = scale.normalize(t.value);
        if (!(u >= -1e-9 && u <= 1 + 1e-9)) continue;
        const double y = bar.bottom() - u * bar.h;
        f.line(bar.right(), y, bar.right() + 3, y, palette::kFrame, 0.6);
        st.ax = 0.0, st.ay = 0.5;
        f.text(bar.right() + 4.5, y, t.label, st);
        w = std::max(w, Figure::measure(t.label, st).w);
    }
    TextStyle tt;
    tt.size = size;
    tt.angle = 90, tt.ax = 0.5, tt.ay = 0.0;
    f.text(bar.right() + 4.5 + w + 6, bar.y + bar.h / 2, title, tt);
    return bar.w + 4.5 + w + 6 + size * 1.3;
}

void draw_hatch(Figure& f, const Rect& r) {
    if (r.w <= 0 || r.h <= 0) return;
    f.fill_rect(r, palette::kHatchFill);
    cairo_t* cr = f.cr();
    cairo_save(cr);
    cairo_rectangle(cr, r.x, r.y, r.w, r.h);
    cairo_clip(cr);
    // Lines rising to the right, 3.5 pt apart, anchored to the page so adjacent bands line up.
    constexpr double kGap = 3.5;
    for (double c = std::floor((r.x + r.y) / kGap) * kGap; c < r.right() + r.bottom(); c += kGap) {
        // The line x + y = c, from its point on the left/bottom edge to its point on the top/right edge.
        cairo_move_to(cr, c - r.bottom(), r.bottom());
        cairo_line_to(cr, c - r.y, r.y);
    }
    cairo_set_source_rgb(cr, palette::kHatchLine.r, palette::kHatchLine.g, palette::kHatchLine.b);
    cairo_set_line_width(cr, 0.5);
    cairo_stroke(cr);
    cairo_restore(cr);
}

namespace {

// The boxes of a discrete colour key: each label's width plus padding, at least a square.
double boxes_width(const LegendItem& it, double size, std::vector<double>* widths = nullptr) {
    TextStyle st;
    st.size = size * 0.8;
    double w = 0;
    for (const auto& [c, label] : it.boxes) {
        const double bw = std::max(size * 1.5, Figure::measure(label, st).w + 4);
        if (widths) widths->push_back(bw);
        w += bw;
    }
    return w;
}

}  // namespace

double draw_legend(Figure* f, double x, double y, const std::vector<LegendItem>& items, double size, double max_width) {
    TextStyle st;
    st.size = size;
    st.color = palette::kText;
    st.ay = 0.5;
    const double line_h = size * 1.6, mark_w = size * 1.8, pad = size * 1.4;
    double cx = x, cy = y + line_h / 2;
    for (const LegendItem& it : items) {
        double mw = mark_w;
        if (it.mark == LegendItem::Mark::sample) mw = Figure::measure(it.sample, it.sample_style).w;
        if (it.mark == LegendItem::Mark::boxes) mw = boxes_width(it, size);
        const double w = mw + 4 + Figure::measure(it.text, st).w;
        if (cx > x && cx + w > x + max_width) {
            cx = x;
            cy += line_h;
        }
        if (f) {
            switch (it.mark) {
                case LegendItem::Mark::swatch: {
                    const Rect r{cx, cy - size * 0.4, mark_w, size * 0.8};
                    f->fill_rect(r, it.color);
                    if (it.outline) f->stroke_rect(r, palette::kFrame, 0.4);
                    break;
                }
                case LegendItem::Mark::line:
                case LegendItem::Mark::dashed:
                    if (it.outline)
                        f->line(cx, cy, cx + mark_w, cy, {0.05, 0.05, 0.05}, 2.4, it.mark == LegendItem::Mark::dashed ? 2.0 : 0.0);
                    f->line(cx, cy, cx + mark_w, cy, it.color, 1.4, it.mark == LegendItem::Mark::dashed ? 2.0 : 0.0);
                    break;
                case LegendItem::Mark::sample: {
                    TextStyle s = it.sample_style;
                    s.ax = 0.0, s.ay = 0.5;
                    f->text(cx, cy, it.sample, s);
                    break;
                }
                case LegendItem::Mark::hatch: {
                    const Rect r{cx, cy - size * 0.5, mark_w, size};
                    draw_hatch(*f, r);
                    f->stroke_rect(r, palette::kFrame, 0.4);
                    break;
                }
                case LegendItem::Mark::boxes: {
                    std::vector<double> widths;
                    boxes_width(it, size, &widths);
                    TextStyle bs;
                    bs.size = size * 0.8;
                    bs.ax = 0.5, bs.ay = 0.5;
                    double bx = cx;
                    for (size_t i = 0; i < it.boxes.size(); ++i) {
                        const Rgb c = it.boxes[i].first;
                        const Rect r{bx, cy - size * 0.6, widths[i], size * 1.2};
                        f->fill_rect(r, c);
                        // Dark text on light boxes, white on dark ones (relative luminance).
                        const double lum = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
                        bs.color = lum > 0.45 ? palette::kText : Rgb{1, 1, 1};
                        f->text(bx + widths[i] / 2, cy, it.boxes[i].second, bs);
                        bx += widths[i];
                    }
                    f->stroke_rect({cx, cy - size * 0.6, bx - cx, size * 1.2}, palette::kFrame, 0.4);
                    break;
                }
            }
            st.ax = 0.0;
            f->text(cx + mw + 4, cy, it.text, st);
        }
        cx += w + pad;
    }
    return cy + line_h / 2 - y;
}

}  // namespace dlmscope::render
