// dlmscope render: line plots — one panel of series over a shared x range, with vertical event
// markers (block starts), shaded bands (a range around a line) and NaN gaps (a NaN breaks the line
// or band instead of being drawn as 0).
#pragma once

#include "render/plot/axes.h"

#include <string>
#include <vector>

namespace dlmscope::render {

struct Series {
    std::vector<double> x, y;
    Rgb color;
    double width = 1.2;
};

// A shaded range lo … hi over x (e.g. the min–max over layers), drawn under the lines.
struct Band {
    std::vector<double> x, lo, hi;
    Rgb color;
    double alpha = 0.3;
};

struct LinePanel {
    std::string title;
    std::string y_title;
    double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
    std::vector<Series> series;
    std::vector<Band> bands;
    std::vector<double> events;  // x values of vertical dashed lines (block starts)
};

// y range of the series and bands (NaN skipped), padded; [0, 1] quantities keep 0 as the floor.
void fit_y(LinePanel& p, bool unit_interval);
// Draws the panel with its frame, grid, ticks, title and x axis title (empty: none).
void draw_line_panel(Figure& f, const Rect& plot, const LinePanel& p, const std::string& x_title, double size);
// Vertical bars (one per x) from 0 to y, e.g. the tokens committed per step.
void draw_bars(Figure& f, const Rect& plot, const std::vector<double>& x, const std::vector<double>& y, double x_lo,
               double x_hi, double y_hi, Rgb color);

// The colour of layer line i of n: viridis, stopping short of its pale yellow end.
Rgb layer_colour(int i, int n);

}  // namespace dlmscope::render
