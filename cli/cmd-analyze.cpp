// `dlmscope analyze --input RUN --output DIR`: metrics of a captured run (report.json, metrics.csv,
// rollout.npy), then the default figures (DIR/figures/) and the offline viewer (DIR/viewer.html)
// unless --no-visualizations. Reads the run directory only; no model is needed.
#include "cli/commands.h"
#include "dlmscope/analysis.h"

#include <filesystem>

#include <fmt/format.h>

#include <memory>

namespace dlmscope::cli {

namespace {

struct AnalyzeArgs {
    AnalysisOptions opt;
    bool verbose = false;
    bool no_visualizations = false;
};

int run_analyze(AnalyzeArgs& a) {
    a.opt.figures = !a.no_visualizations;
    a.opt.warn = [](const std::string& m) { fmt::print(stderr, "dlmscope: warning: {}\n", m); };
    if (a.verbose) a.opt.verbose = [](const std::string& m) { fmt::print(stderr, "dlmscope: {}\n", m); };
    const AnalysisResult r = analyze(a.opt);
    fmt::print(stderr, "dlmscope: analysed {} step{} × {} layer{} in {:.2f}s\n", r.steps, r.steps == 1 ? "" : "s", r.layers.size(),
               r.layers.size() == 1 ? "" : "s", r.seconds);
    fmt::print("report   {}\nmetrics  {} ({} rows)\n", r.report_path, r.csv_path, r.csv_rows);
    if (!r.rollout_path.empty()) fmt::print("rollout  {}\n", r.rollout_path);
    if (!a.opt.figures) return 0;
    fmt::print("figures  {} ({} files)\nviewer   {} ({:.1f} MB)\n", (std::filesystem::path(a.opt.output) / "figures").string(),
               r.figures.size(), r.viewer_path, static_cast<double>(r.viewer_bytes) / 1e6);
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
    cmd->add_option("--format,-f", a->opt.formats,
                    "Formats of the default figure set: png, svg, pdf; several at once as png,svg,pdf (default png)")
        ->delimiter(',')->check(CLI::IsMember({"png", "svg", "pdf"}))->default_str("png");
    cmd->add_flag("--verbose,-v", a->verbose, "Print each step as it is analysed");
    cmd->add_flag("--no-visualizations,--no_visualizations", a->no_visualizations,
                  "Do not draw the figures or write the viewer (report.json and metrics.csv only)");
    return [a] { return run_analyze(*a); };
}

}  // namespace dlmscope::cli
