// `dlmscope plot --input RUN --kind heatmap|grid|evolution|decode-order|drift|all [...] --output FILE|DIR`:
// one static figure of a captured run (PNG, SVG or PDF), or with --kind all the default set that
// `dlmscope analyze` draws. Reads the run directory only; no model is needed.
#include "analysis/run-reader.h"
#include "cli/commands.h"
#include "core/error.h"
#include "render/render.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <memory>

namespace dlmscope::cli {

namespace {

struct PlotArgs {
    std::string input = "logs";
    std::string kind = "heatmap";
    int step = -1;
    int layer = -1;
    std::string head = "mean";
    std::string window = "step";
    std::string format;
    double dpi = 150;
    int max_tokens = 64;
    int max_layers = 16;
    std::string scale = "linear";
    std::string colormap = "viridis";
    std::string output = "figures";
};

int run_plot(PlotArgs& a) {
    const auto t0 = std::chrono::steady_clock::now();
    render::RenderOptions opt;
    // The format: --format, else the output file's extension, else PNG.
    const std::string ext = std::filesystem::path(a.output).extension().string();
    const bool file_out = !ext.empty() && a.output.back() != '/';
    if (!a.format.empty()) {
        opt.format = render::parse_format(a.format);
        if (file_out && ext != std::string(".") + render::extension(opt.format))
            fail("--output {} ends in {} but --format is {}; make them agree (or drop --format)", a.output, ext, a.format);
    } else if (file_out) {
        if (ext != ".png" && ext != ".svg" && ext != ".pdf")
            fail("--output {}: cannot draw a {} file (use .png, .svg or .pdf, or a directory)", a.output, ext);
        opt.format = render::parse_format(ext.substr(1));
    }
    opt.dpi = a.dpi;
    opt.max_tokens = a.max_tokens;
    opt.max_layers = a.max_layers;
    opt.scale = render::parse_scale(a.scale);
    opt.colormap = a.colormap;
    opt.warn = [](const std::string& m) { fmt::print(stderr, "dlmscope: warning: {}\n", m); };

    const analysis::RunReader run = analysis::RunReader::open(a.input);
    for (const std::string& w : run.warnings()) fmt::print(stderr, "dlmscope: warning: {}\n", w);

    std::vector<std::string> files;
    if (a.kind == "all") {
        if (file_out) fail("--kind all writes several files: give --output a directory, not {}", a.output);
        files = render::render_default_set(run, opt, a.output);
    } else {
        render::FigureRequest req;
        req.kind = render::parse_kind(a.kind);
        req.step = a.step;
        req.layer = a.layer;
        req.window = render::parse_window(a.window);
        if (a.head == "mean") {
            req.head = -1;
        } else {
            try {
                size_t used = 0;
                req.head = std::stoi(a.head, &used);
                if (used != a.head.size() || req.head < 0) throw std::invalid_argument(a.head);
            } catch (const std::exception&) {
                fail("--head {}: expected a head number (0, 1, …) or mean", a.head);
            }
        }
        files.push_back(render::render_one(run, opt, req, a.output));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const std::string& f : files) fmt::print("{}\n", f);
    fmt::print(stderr, "dlmscope: {} figure{} in {:.2f}s\n", files.size(), files.size() == 1 ? "" : "s", s);
    return 0;
}

}  // namespace

Runner add_plot(CLI::App& app) {
    auto a = std::make_shared<PlotArgs>();
    CLI::App* cmd = app.add_subcommand(
        "plot", "Draw a figure of a captured run (heatmap, layer grid, evolution, decode order, cache drift) as PNG, SVG or PDF");
    cmd->add_option("--input,-i", a->input, "Run manifest, or the run directory that holds it")->default_val("logs");
    cmd->add_option("--kind,-k", a->kind,
                    "heatmap (one step, layer, head), grid (every layer at a step), evolution (metrics over steps, "
                    "first/last/difference maps), decode-order, drift (cached vs exact attention over the audited steps "
                    "of a --cache-audit run), or all (the default set `analyze` draws)")
        ->default_val("heatmap")
        ->check(CLI::IsMember({"heatmap", "grid", "evolution", "decode-order", "decode_order", "drift", "all"}));
    cmd->add_option("--step,-s", a->step, "Captured step to draw (default: the last captured step)");
    cmd->add_option("--layer,-l", a->layer, "Model layer for heatmap and the evolution maps (default: the last captured)");
    cmd->add_option("--head", a->head, "Head number, or mean (the mean over heads)")->default_val("mean");
    cmd->add_option("--window", a->window,
                    "Heatmap window: step (around the step's block, up to --max-tokens positions) or canvas (the prompt "
                    "and the answer, up to 4 × --max-tokens positions)")
        ->default_val("step")
        ->check(CLI::IsMember({"step", "canvas"}));
    cmd->add_option("--format,-f", a->format, "png, svg or pdf (default: the --output file's extension, else png)")
        ->check(CLI::IsMember({"png", "svg", "pdf"}));
    cmd->add_option("--dpi", a->dpi, "PNG resolution in pixels per inch")->default_val(150)->check(CLI::Range(10.0, 1200.0));
    cmd->add_option("--max-tokens,--max_tokens", a->max_tokens,
                    "Tokens per heatmap axis: a window around the generated region (never a top-left crop)")
        ->default_val(64)
        ->check(CLI::Range(2, 4096));
    cmd->add_option("--max-layers,--max_layers", a->max_layers, "Layers in a grid or evolution figure (evenly spaced)")
        ->default_val(16)
        ->check(CLI::Range(1, 1024));
    cmd->add_option("--scale", a->scale, "Colour scale of attention: linear or log")
        ->default_val("linear")
        ->check(CLI::IsMember({"linear", "log"}));
    cmd->add_option("--colormap", a->colormap, "viridis or magma (differences always use a diverging map)")
        ->default_val("viridis")
        ->check(CLI::IsMember({"viridis", "magma"}));
    cmd->add_option("--output,-o", a->output,
                    "File to write (.png/.svg/.pdf), or a directory where a descriptive name is chosen")
        ->default_val("figures");
    return [a] { return run_plot(*a); };
}

}  // namespace dlmscope::cli
