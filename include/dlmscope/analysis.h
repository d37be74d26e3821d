// dlmscope: the model-free path — analyse a run directory, draw its figures, write its viewer.
// No model is loaded; a run written on one machine can be analysed on another.
//
//   dlmscope::AnalysisOptions opt;
//   opt.input = "logs";  opt.output = "attention_analysis";  opt.formats = {"png", "svg"};
//   dlmscope::AnalysisResult r = dlmscope::analyze(opt);      // report.json, metrics.csv, figures, viewer
//   dlmscope::render_figure("logs", {"heatmap", 17, 1, -1}, "fig.pdf");
//   dlmscope::write_viewer("logs", "run.html");
//
// Every function throws dlmscope::Error naming the file, key or value it could not use.
#pragma once

#include "dlmscope/error.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dlmscope {

// How figures are drawn (docs/figures.md).
struct FigureOptions {
    double dpi = 150;                   // PNG pixels per inch (SVG and PDF are vector)
    int max_tokens = 64;                // tokens per heatmap axis
    int max_layers = 16;                // layers in a grid or an evolution figure (evenly spaced)
    std::string scale = "linear";       // "linear" or "log" colour scale of attention maps
    std::string colormap = "viridis";   // "viridis" or "magma"
    std::function<void(const std::string&)> warn;  // why a figure of the default set was skipped
};

// `dlmscope analyze`: metrics, then (unless figures is false) the default figure set in each format
// and the offline viewer, all listed in report.json's "visualizations".
struct AnalysisOptions {
    std::string input = "logs";                 // a run manifest or the directory that holds it
    std::string output = "attention_analysis";  // created if missing
    int max_layers = 0;      // 0 = every captured layer; else N evenly spaced captured layers
    int prompt_length = 0;   // 0 = the manifest's prompt_length
    int max_tokens = 100;    // entries per token-influence ranking
    int top_keys = 5;        // keys listed per commit-step attention row
    bool figures = true;     // draw the figures and write the viewer
    std::vector<std::string> formats = {"png"};  // of the figure set: "png", "svg", "pdf"
    std::function<void(const std::string&)> warn;     // warnings (always worth showing)
    std::function<void(const std::string&)> verbose;  // progress, one line per step
};

struct AnalysisResult {
    std::string report_path, csv_path, rollout_path;  // rollout_path empty when no rollout
    int steps = 0;                                    // captured steps analysed
    std::vector<int> layers;                          // model layers analysed
    size_t csv_rows = 0;
    double seconds = 0.0;                             // the metrics pass
    std::vector<std::string> warnings;
    std::vector<std::string> figures;                 // files written, in order
    std::string viewer_path;                          // empty without figures
    uint64_t viewer_bytes = 0;
};

AnalysisResult analyze(const AnalysisOptions& opt);

// One figure. kind: "heatmap", "grid", "evolution", "decode-order" or "drift"; step and layer -1 =
// the last captured; head -1 = the mean over heads. `output` is a file (its extension gives the
// format: .png, .svg, .pdf) or a directory, in which a descriptive name is chosen. Returns the path.
struct FigureSpec {
    std::string kind = "heatmap";
    int step = -1;
    int layer = -1;
    int head = -1;
};
std::string render_figure(const std::string& run, const FigureSpec& spec, const std::string& output,
                          const FigureOptions& opt = {});

// The default figure set of `dlmscope analyze` in one format, into out_dir. Returns the files.
std::vector<std::string> render_figures(const std::string& run, const std::string& out_dir,
                                        const std::string& format = "png", const FigureOptions& opt = {});

// The interactive offline viewer: one self-contained HTML file. `output` empty = beside the
// manifest as <manifest name>.html; max_mb caps its size (maps are thinned to fit; the page says so).
std::string write_viewer(const std::string& run, const std::string& output = "", double max_mb = 64.0);

}  // namespace dlmscope
