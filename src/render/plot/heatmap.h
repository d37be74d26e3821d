// dlmscope render: heatmaps — a matrix of cells through a colormap, with the canvas boundaries.
//
//   draw_cells          values → an image surface (one pixel per cell), painted nearest-neighbour
//                       into the rectangle (crisp cells in PNG, SVG and PDF alike)
//   draw_boundaries     prompt | generation (solid red) and block boundaries (dashed white)
//   draw_labelled_map   cells + boundaries + frame + class strips + token labels + position ticks;
//                       at a cached step, rows not recomputed hatched and (age_strip) a strip above
//                       the keys coloured by cache age
// The heatmap figure kind (one step, layer, head) lives in heatmap.cpp too.
#pragma once

#include "render/plot/axes.h"
#include "render/plot/kinds.h"

#include <span>
#include <vector>

namespace dlmscope::render {

void draw_cells(Figure& f, const Rect& r, const float* values, int rows, int cols, const Colormap& cmap,
                const ColorScale& scale);
void draw_boundaries(Figure& f, const Rect& r, const RunInfo& info, Window q, Window k, double width);

// The labels of the positions of window w, from the canvas of `step`.
std::vector<TokenLabel> window_labels(const RunInfo& info, std::span<const int32_t> canvas, Window w, int step);

struct MapDecor {
    bool left_labels = true, bottom_labels = true;  // token labels (and class strips) on these sides
    bool top_ticks = true, right_ticks = true;      // canvas position numbers
    double font = 7.5;                              // label size (pt)
    double line = 1.0;                              // boundary line width (pt)
    bool age_strip = false;                         // the key columns' cache age above the cells
    bool band_labels = true;                        // "rows a–b not recomputed …" inside hatched bands
};
// The space a labelled map needs around its cells: {left, top, right, bottom} in pt.
struct Margins {
    double left = 0, top = 0, right = 0, bottom = 0;
};
Margins labelled_map_margins(const std::vector<TokenLabel>& qlabels, const std::vector<TokenLabel>& klabels,
                             const MapDecor& d);
void draw_labelled_map(Figure& f, const Rect& cells, const MapSlice& m, const std::vector<TokenLabel>& qlabels,
                       const std::vector<TokenLabel>& klabels, const RunInfo& info, const Colormap& cmap,
                       const ColorScale& scale, const MapDecor& d);

// The footer legend of token labels and boundary lines.
std::vector<LegendItem> map_legend(double font, bool commit_now);
// The legend of a cached step: the hatch of rows not recomputed (rows), the colour key of the
// key columns' cache age 0 … max_age (keys). Empty when neither.
std::vector<LegendItem> cache_legend(bool rows, bool keys, int max_age);
// The colour of a key column `age` steps old (0: computed by this step) on a key of 0 … max_age.
Rgb cache_age_colour(int age, int max_age);

// The space the cache age strip takes above the cells (pt).
double age_strip_space();

// Cell size (pt) for n cells along the longer axis of a single heatmap.
double heatmap_cell(int n);
// The same for the prompt-and-answer heatmap: a longer axis, so that up to about 160 positions keep
// every token label (cells at least as tall as the labels), and longer canvases every 2nd or 3rd.
double canvas_heatmap_cell(int n);
// Positions per axis of the prompt-and-answer heatmap.
int canvas_tokens(const RenderOptions& opt);

}  // namespace dlmscope::render
