// `dlmscope analyze --input RUN --output DIR`: metrics of a captured run (report.json, metrics.csv,
// rollout.npy), then the default figures (DIR/figures/) and the offline viewer (DIR/viewer.html)
// unless --no-visualizations. Reads the run directory only; no model is needed.
#include "analysis/analyze.h"
#include "analysis/run-reader.h"
#include "cli/commands.h"
#include "core/json.h"
#include "render/html/viewer.h"
#include "render/render.h"

#include <filesystem>

#include <fmt/format.h>

#include <memory>

namespace dlmscope::cli {

namespace {

struct AnalyzeArgs {
    analysis::AnalyzeOptions opt;
    bool verbose = false;
    bool no_visualizations = false;
    std::vector<std::string> formats = {"png"};
};

int run_analyze(AnalyzeArgs& a) {
    a.opt.visualizations = !a.no_visualizations;
    analysis::AnalyzeLog log;
    log.warn = [](const std::string& m) { fmt::print(stderr, "dlmscope: warning: {}\n", m); };
    if (a.verbose) log.verbose = [](const std::string& m) { fmt::print(stderr, "dlmscope: {}\n", m); };
    const analysis::AnalyzeResult r = analysis::analyze_run(a.opt, log);
    fmt::print(stderr, "dlmscope: analysed {} step{} × {} layer{} in {:.2f}s\n", r.steps, r.steps == 1 ? "" : "s", r.layers.size(),
               r.layers.size() == 1 ? "" : "s", r.seconds);
    fmt::print("report   {}\nmetrics  {} ({} rows)\n", r.report_path, r.csv_path, r.csv_rows);
    if (!r.rollout_path.empty()) fmt::print("rollout  {}\n", r.rollout_path);
    if (!a.opt.visualizations) return 0;

    // Figures and viewer, listed in report.json (paths relative to the output directory).
    namespace fs = std::filesystem;
    const analysis::RunReader run = analysis::RunReader::open(a.opt.input);
    render::RenderOptions ro;
    ro.max_tokens = std::min(a.opt.max_tokens, 64);
    if (a.opt.max_layers > 0) ro.max_layers = a.opt.max_layers;
    ro.warn = log.warn;
    // The whole default set in each format asked for (names differ by extension only).
    std::vector<std::string> figures;
    for (const std::string& f : a.formats) {
        ro.format = render::parse_format(f);
        const std::vector<std::string> set = render::render_default_set(run, ro, (fs::path(a.opt.output) / "figures").string());
        figures.insert(figures.end(), set.begin(), set.end());
    }
    render::ViewerOptions vo;
    const std::string viewer_path = (fs::path(a.opt.output) / "viewer.html").string();
    const render::ViewerResult vr = render::write_viewer(run, vo, viewer_path);
    json report = read_json_file(r.report_path);
    json rel = json::array();
    for (const std::string& f : figures) rel.push_back(fs::relative(f, a.opt.output).string());
    report["visualizations"] = {{"figures", rel}, {"formats", a.formats}, {"viewer", "viewer.html"}, {"viewer_bytes", fs::file_size(viewer_path)},
                                {"viewer_notes", vr.notes}};
    write_json_file(r.report_path, report);
    fmt::print("figures  {} ({} files)\nviewer   {} ({:.1f} MB)\n", (fs::path(a.opt.output) / "figures").string(), figures.size(),
               viewer_path, fs::file_size(viewer_path) / 1e6);
    return 0;
}

}  // namespace

Runner add_analyze(CLI::App& app) {
    auto a = std::make_shared<AnalyzeArgs>();
    a->opt.input = "logs";
    a->opt.output = "attention_analysis";
    CLI::App* cmd = app.add_subcommand(
        "analyze", "Analyse a captured run: per-head attention metrics (report.json, metrics.csv, rollout.npy), figures, viewer");
    cmd->add_option("--input,-i", a->opt.input, "Run manifest, or the run directory that holds it")->default_val("logs");
    cmd->add_option("--output,-o", a->opt.output, "Directory for report.json, metrics.csv and rollout.npy (created)")
        ->default_val("attention_analysis");
    cmd->add_option("--max-layers,--max_layers", a->opt.max_layers,
                    "Analyse N of the captured layers, evenly spaced from the first to the last (0 = all)")
        ->default_val(0)->check(CLI::NonNegativeNumber);
    cmd->add_option("--prompt-length,--prompt_length", a->opt.prompt_length,
                    "Prompt length P that splits prompt from generated positions (default: the manifest's)")
        ->default_val(0)->check(CLI::NonNegativeNumber);
    cmd->add_option("--max-tokens,--max_tokens", a->opt.max_tokens,
                    "Tokens listed in each token-influence ranking (and the rollout's prompt ranking)")
        ->default_val(100)->check(CLI::NonNegativeNumber);
    cmd->add_option("--format,-f", a->formats,
                    "Formats of the default figure set: png, svg, pdf; several at once as png,svg,pdf (default png)")
        ->delimiter(',')->check(CLI::IsMember({"png", "svg", "pdf"}))->default_str("png");
    cmd->add_flag("--verbose,-v", a->verbose, "Print each step as it is analysed");
    cmd->add_flag("--no-visualizations,--no_visualizations", a->no_visualizations,
                  "Do not draw the figures or write the viewer (report.json and metrics.csv only)");
    return [a] { return run_analyze(*a); };
}

}  // namespace dlmscope::cli
