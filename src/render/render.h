// dlmscope render: static figures of a captured run (PNG, SVG, PDF), drawn with cairo and pango.
//
//   RunReader run = RunReader::open("logs");
//   RenderOptions opt;                                   // PNG, 150 dpi, ≤ 64 tokens, ≤ 16 layers
//   auto files = render_default_set(run, opt, "attention_analysis/figures");
//   render_one(run, opt, {Kind::heatmap, /*step*/ 17, /*layer*/ 1, /*head*/ -1}, "fig.svg");
//
// Kinds (docs/figures.md shows each): heatmap of one (step, layer, head or head mean); layer grid at
// one step; evolution over steps (metric curves per layer with commit events, first / last /
// difference maps); decode order (position × commit step, coloured by confidence); cache drift
// (cached vs exact attention and logits over the audited steps of a --cache-audit run). Only
// src/render/plot/ includes cairo; this header is plain C++.
#pragma once

#include "analysis/run-reader.h"

#include <functional>
#include <string>
#include <vector>

namespace dlmscope::render {

enum class Format { png, svg, pdf };
enum class Kind { heatmap, grid, evolution, decode_order, drift };
enum class ScaleKind { linear, log };
// A heatmap's window: around the step's block (at most max_tokens positions), or the prompt and
// the answer (the whole canvas, at most 4 × max_tokens positions around the prompt's end).
enum class MapWindow { step, canvas };

struct RenderOptions {
    Format format = Format::png;
    double dpi = 150;                   // PNG pixels per inch (SVG and PDF are vector, in points)
    int max_tokens = 64;                // tokens per heatmap axis (a window around the generated region)
    int max_layers = 16;                // layers in a grid or an evolution figure (evenly spaced)
    ScaleKind scale = ScaleKind::linear;  // colour scale of attention maps
    std::string colormap = "viridis";   // viridis or magma (differences always use the diverging map)
    std::function<void(const std::string&)> warn;  // why a figure of the default set was skipped
};

struct FigureRequest {
    Kind kind = Kind::heatmap;
    int step = -1;   // captured step; -1 = the last captured step (heatmap, grid)
    int layer = -1;  // model layer; -1 = the last captured layer (heatmap, evolution maps)
    int head = -1;   // model head; -1 = the mean over heads
    MapWindow window = MapWindow::step;  // heatmap only
};

// Parsers for the CLI; each throws Error naming the value and what is accepted.
Format parse_format(const std::string& s);
Kind parse_kind(const std::string& s);
ScaleKind parse_scale(const std::string& s);
MapWindow parse_window(const std::string& s);  // "step" or "canvas"
const char* extension(Format f);  // "png", "svg", "pdf"
const char* kind_name(Kind k);    // "heatmap", "grid", "evolution", "decode-order", "drift"

// Renders one figure. `output` is a file path, or a directory (existing, or ending in '/') in which
// a descriptive name such as heatmap_step017_layer01_mean.png (heatmap_step017_layer01_mean_canvas.png
// with MapWindow::canvas) is chosen. Returns the path written.
// Throws Error when the run cannot give the figure (e.g. heatmaps of a --capture-heads none run).
std::string render_one(const analysis::RunReader& run, const RenderOptions& opt, const FigureRequest& req,
                       const std::string& output);

// Renders the default set into `out_dir` (created) and returns the files written, in order: for each
// block its first and last captured step as a heatmap (last captured layer, head mean) and a layer
// grid; a heatmap of the prompt and the answer (MapWindow::canvas) at the last captured step that
// recomputed every row; one evolution figure (up to max_layers layers); the decode order; the cache
// drift when the run holds a cache audit. Reads each step once.
// Figures the run cannot give (no maps, incomplete run) are skipped with a message to opt.warn.
std::vector<std::string> render_default_set(const analysis::RunReader& run, const RenderOptions& opt,
                                            const std::string& out_dir);

}  // namespace dlmscope::render
