// `dlmscope view RUN [--out FILE.html] [--max-mb N]`: one self-contained HTML file that shows a
// captured run (decode animation, heatmaps, token strip, metric curves). Reads the run only.
#include "analysis/run-reader.h"
#include "cli/commands.h"
#include "render/html/viewer.h"

#include <fmt/format.h>

#include <memory>

namespace dlmscope::cli {

namespace {

struct ViewArgs {
    std::string run = "logs";
    std::string out;
    render::ViewerOptions opt;
    bool verbose = false;
};

int run_view(ViewArgs& a) {
    const analysis::RunReader run = analysis::RunReader::open(a.run);
    for (const std::string& w : run.warnings()) fmt::print(stderr, "dlmscope: warning: {}\n", w);
    if (a.verbose) a.opt.verbose = [](const std::string& m) { fmt::print(stderr, "dlmscope: {}\n", m); };
    const std::string path = a.out.empty() ? render::default_viewer_path(run) : a.out;
    const render::ViewerResult r = render::write_viewer(run, a.opt, path);
    for (const std::string& n : r.notes) fmt::print(stderr, "dlmscope: note: {}\n", n);
    fmt::print(stderr, "dlmscope: {} of {} attention maps embedded ({} step{} × {} layer{}, up to {} head entr{} a layer), {} "
                       "captured step{} of statistics, in {:.2f}s\n",
               r.maps_embedded, r.maps_available, r.map_steps, r.map_steps == 1 ? "" : "s", r.map_layers,
               r.map_layers == 1 ? "" : "s", r.map_heads, r.map_heads == 1 ? "y" : "ies", r.steps_captured,
               r.steps_captured == 1 ? "" : "s", r.seconds);
    fmt::print("viewer   {} ({:.2f} MB)\n", r.path, static_cast<double>(r.bytes) / 1e6);
    return 0;
}

}  // namespace

Runner add_view(CLI::App& app) {
    auto a = std::make_shared<ViewArgs>();
    CLI::App* cmd = app.add_subcommand(
        "view", "Write an interactive HTML viewer of a captured run: one self-contained file that opens offline");
    cmd->add_option("run", a->run, "Run manifest, or the run directory that holds it")->default_val("logs");
    cmd->add_option("--out,-o", a->out, "HTML file to write (default: next to the manifest, <manifest name>.html)");
    cmd->add_option("--max-mb,--max_mb", a->opt.max_mb,
                    "Size cap of the file in MB; when the maps do not fit, per-head maps, then steps, then layers are "
                    "thinned (the page says so)")
        ->default_val(64.0)
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--verbose,-v", a->verbose, "Print each step as it is read");
    return [a] { return run_view(*a); };
}

}  // namespace dlmscope::cli
