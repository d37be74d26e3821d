// The model-free public API (include/dlmscope/analysis.h) over the analysis, render and viewer modules.
#include "dlmscope/analysis.h"

#include "analysis/analyze.h"
#include "analysis/run-reader.h"
#include "core/error.h"
#include "core/json.h"
#include "render/html/viewer.h"
#include "render/render.h"

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;

namespace dlmscope {

namespace {

render::RenderOptions render_options(const FigureOptions& o, const std::string& format) {
    render::RenderOptions r;
    r.format = render::parse_format(format);
    r.dpi = o.dpi;
    r.max_tokens = o.max_tokens;
    r.max_layers = o.max_layers;
    r.scale = render::parse_scale(o.scale);
    r.colormap = o.colormap;
    r.warn = o.warn;
    return r;
}

}  // namespace

AnalysisResult analyze(const AnalysisOptions& opt) {
    analysis::AnalyzeOptions ao;
    ao.input = opt.input;
    ao.output = opt.output;
    ao.max_layers = opt.max_layers;
    ao.prompt_length = opt.prompt_length;
    ao.max_tokens = opt.max_tokens;
    ao.top_keys = opt.top_keys;
    ao.visualizations = opt.figures;
    for (const std::string& f : opt.formats) render::parse_format(f);  // refuse a bad format before any work
    const analysis::AnalyzeResult a = analysis::analyze_run(ao, {opt.warn, opt.verbose});
    AnalysisResult r;
    r.report_path = a.report_path, r.csv_path = a.csv_path, r.rollout_path = a.rollout_path;
    r.steps = a.steps, r.layers = a.layers, r.csv_rows = a.csv_rows, r.seconds = a.seconds, r.warnings = a.warnings;
    if (!opt.figures) return r;

    // Figures and viewer, listed in report.json (paths relative to the output directory).
    const analysis::RunReader run = analysis::RunReader::open(opt.input);
    FigureOptions fo;
    fo.max_tokens = std::min(opt.max_tokens, 64);
    if (opt.max_layers > 0) fo.max_layers = opt.max_layers;
    fo.warn = opt.warn;
    // The whole default set in each format asked for (names differ by extension only).
    for (const std::string& f : opt.formats) {
        const std::vector<std::string> set = render::render_default_set(run, render_options(fo, f), (fs::path(opt.output) / "figures").string());
        r.figures.insert(r.figures.end(), set.begin(), set.end());
    }
    r.viewer_path = (fs::path(opt.output) / "viewer.html").string();
    const render::ViewerResult vr = render::write_viewer(run, {}, r.viewer_path);
    r.viewer_bytes = vr.bytes;
    json report = read_json_file(r.report_path);
    json rel = json::array();
    for (const std::string& f : r.figures) rel.push_back(fs::relative(f, opt.output).string());
    report["visualizations"] = {{"figures", rel}, {"formats", opt.formats}, {"viewer", "viewer.html"}, {"viewer_bytes", vr.bytes},
                                {"viewer_notes", vr.notes}};
    write_json_file(r.report_path, report);
    return r;
}

std::string render_figure(const std::string& run_path, const FigureSpec& spec, const std::string& output, const FigureOptions& opt) {
    // The format is the output file's extension; a directory gets PNG.
    const std::string ext = fs::path(output).extension().string();
    const bool file_out = !ext.empty() && output.back() != '/';
    if (file_out && ext != ".png" && ext != ".svg" && ext != ".pdf")
        fail("{}: cannot draw a {} file (use .png, .svg or .pdf, or a directory)", output, ext);
    const analysis::RunReader run = analysis::RunReader::open(run_path);
    render::FigureRequest req;
    req.kind = render::parse_kind(spec.kind);
    req.step = spec.step, req.layer = spec.layer, req.head = spec.head;
    return render::render_one(run, render_options(opt, file_out ? ext.substr(1) : "png"), req, output);
}

std::vector<std::string> render_figures(const std::string& run_path, const std::string& out_dir, const std::string& format,
                                        const FigureOptions& opt) {
    const analysis::RunReader run = analysis::RunReader::open(run_path);
    return render::render_default_set(run, render_options(opt, format), out_dir);
}

std::string write_viewer(const std::string& run_path, const std::string& output, double max_mb) {
    const analysis::RunReader run = analysis::RunReader::open(run_path);
    render::ViewerOptions vo;
    vo.max_mb = max_mb;
    const std::string path = output.empty() ? render::default_viewer_path(run) : output;
    return render::write_viewer(run, vo, path).path;
}

}  // namespace dlmscope
