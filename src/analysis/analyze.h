// dlmscope analysis: `dlmscope analyze` — one streaming pass over a run directory that writes
// OUT/report.json, OUT/metrics.csv and, when every layer's head-mean map is available, OUT/rollout.npy.
//
//   RunReader ──step k──► per-head metrics (stats, or maps) ──► metrics.csv rows (streamed)
//                     └──► accumulators: per-layer summaries, token influence, cross-attention,
//                          masked-key mass, commit-step rows, rollout ──► report.json at the end
//
// Only the current and the previous captured step are in memory (the previous one for step change
// and for the attention of the tokens it committed). docs/metrics.md defines every number.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace dlmscope::analysis {

struct AnalyzeOptions {
    std::string input;           // a run manifest or the directory that holds it
    std::string output;          // created if missing
    int max_layers = 0;          // 0 = every captured layer; else N evenly spaced captured layers
    int prompt_length = 0;       // 0 = the manifest's prompt_length
    int max_tokens = 100;        // entries per token-influence ranking
    int top_keys = 5;            // keys listed per commit-step attention row
    bool visualizations = true;  // recorded in the report; the CLI then draws figures and the viewer
};

struct AnalyzeResult {
    std::string report_path, csv_path, rollout_path;  // rollout_path empty when no rollout
    int steps = 0;                                    // captured steps analysed
    std::vector<int> layers;                          // model layers analysed
    size_t csv_rows = 0;
    double seconds = 0.0;
    std::vector<std::string> warnings;
};

// Messages for the caller to print: warnings always, progress only with --verbose.
struct AnalyzeLog {
    std::function<void(const std::string&)> warn;
    std::function<void(const std::string&)> verbose;
};

// Runs the analysis; throws Error naming the file, key or value when it cannot.
AnalyzeResult analyze_run(const AnalyzeOptions& opt, const AnalyzeLog& log = {});

// The captured-layer indices --max-layers keeps: all when n ≥ count or n ≤ 0, else n indices
// spread evenly from the first to the last (rounded), e.g. 4 of 32 → 0, 10, 21, 31.
std::vector<int> pick_layers(int count, int n);

}  // namespace dlmscope::analysis
