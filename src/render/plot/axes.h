// dlmscope render: axes — token label axes, numeric axes, the colorbar and legends.
//
// A token axis puts one label per cell, centred on it: on the left right-aligned, at the bottom
// rotated to read upwards (its end at the axis). Labels are styled by what the position holds at
// the step drawn: prompt and generated pieces plain, special tokens purple italic, masked "▒" grey,
// "▒→piece" (committed by this step) bold red. When cells are smaller than the font, every k-th
// label is drawn so none overlap. A thin strip along the axis colours each position by class
// (prompt / committed generated / masked).
#pragma once

#include "render/plot/figure.h"
#include "render/plot/tokens.h"

#include <string>
#include <vector>

namespace dlmscope::render {

enum class Side { left, right, top, bottom };

// The style a label is drawn in (size given).
TextStyle label_style(const TokenLabel& l, double size);
// The longest label's width (pt) at `size`, capped at `cap`.
double label_extent(const std::vector<TokenLabel>& labels, double size, double cap = 120.0);
// Every k-th label is drawn when cells are `cell` pt and the font `size` pt.
int label_stride(double cell, double size);

// Labels along `side` of `plot`, one per cell (labels.size() cells), `gap` pt from the plot edge.
void draw_token_labels(Figure& f, Side side, const Rect& plot, const std::vector<TokenLabel>& labels, double size,
                       double gap);
// The class strip: a band `thickness` pt wide along `side`, `gap` pt outside the plot.
void draw_class_strip(Figure& f, Side side, const Rect& plot, const std::vector<TokenLabel>& labels, double thickness,
                      double gap);
// Canvas position numbers every few cells along `side` (positions first … first+count-1).
void draw_position_ticks(Figure& f, Side side, const Rect& plot, int first, int count, double size);

// A numeric axis along `side` of `plot` for values lo … hi (hi at the top / right unless
// `flip`), with ticks, labels and an axis title. Returns nothing; draws outside the plot.
void draw_value_axis(Figure& f, Side side, const Rect& plot, double lo, double hi, const std::vector<double>& ticks,
                     const std::string& title, double size, bool flip = false);
// Light grid lines inside `plot` at `ticks` (horizontal lines for a vertical value axis).
void draw_value_grid(Figure& f, const Rect& plot, double lo, double hi, const std::vector<double>& ticks, bool vertical);

// A vertical colorbar in `bar` with tick labels to its right and `title` beside them.
// Returns the total width used (bar, ticks, labels, title).
double draw_colorbar(Figure& f, const Rect& bar, const Colormap& cmap, const ColorScale& scale, const std::string& title,
                     double size);
double colorbar_width(const ColorScale& scale, double bar_w, double size);

struct LegendItem {
    // hatch: the pattern of draw_hatch; boxes: a discrete colour key, adjacent boxes labelled inside.
    enum class Mark { swatch, line, dashed, sample, hatch, boxes } mark = Mark::swatch;
    Rgb color{};
    std::string sample;  // Mark::sample: text drawn in sample_style
    TextStyle sample_style;
    std::string text;
    bool outline = false;  // draw a dark outline around the swatch/line (for light colours)
    std::vector<std::pair<Rgb, std::string>> boxes{};  // Mark::boxes: each box's colour and label
};
// Light grey with thin diagonal lines: cells that hold no value (rows a cached step did not recompute).
void draw_hatch(Figure& f, const Rect& r);

// A one-line-or-more legend starting at (x, y), wrapped at max_width. Returns its height.
double draw_legend(Figure* f, double x, double y, const std::vector<LegendItem>& items, double size, double max_width);

}  // namespace dlmscope::render
