// dlmscope render: the interactive offline HTML viewer of a run — one self-contained file.
//
//   RunReader ──step k──► stats [nl, H, 3, 9] ─► f16 ─┐
//                     ├──► maps [nl, Hs, R, L] ─► log-quantised u8 ─► PNG row filter ─► zlib ─► base64
//                     │    (rows the step did not recompute: filter byte kAbsentRow)  │
//                     └──► key_step [L] ─► change points (meta JSON)                   │
//   steps' records (kind, rows, block), cache_drift.npy ─► meta JSON / f16 blob ─────────┴─► viewer.html
//                                                         template (+ viewer.js, viewer.css, embedded at
//                                                         build time) ─► FILE.html
//
//   analysis::RunReader run = analysis::RunReader::open("logs");
//   render::ViewerResult r = render::write_viewer(run, {}, "logs/generation_with_attention.html");
//
// The page needs no network: the JavaScript and CSS are inline, and so is the data, decoded in
// the browser one (step, layer, head) map at a time with DecompressionStream('deflate'). When the
// run's maps do not fit --max-mb, a selection is embedded (per-head maps dropped first, then every
// k-th captured step, then evenly spaced layers) and the page says which. Statistics (the metric
// curves) and the decode order are always embedded whole. docs/viewer.md describes the page and
// the data layout.
#pragma once

#include "analysis/run-reader.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dlmscope::render {

struct ViewerOptions {
    double max_mb = 64.0;  // size cap of the HTML file in MB (10^6 bytes); maps are thinned to fit
    int zlib_level = 6;    // deflate level of the embedded arrays (1 fastest … 9 smallest)
    int threads = 0;       // encoding threads (0 = hardware concurrency)
    std::string title;     // page title (default: "dlmscope · " + the prompt)
    // Progress for the caller to print (one line per step with --verbose); may be empty.
    std::function<void(const std::string&)> verbose;
};

struct ViewerResult {
    std::string path;
    uint64_t bytes = 0;              // size of the written file
    double seconds = 0.0;            // wall time of write_viewer
    int steps_captured = 0;          // captured steps (all of them feed the metric curves)
    int map_steps = 0, map_layers = 0, map_heads = 0;  // the embedded map selection (map_heads: most per layer)
    uint64_t maps_embedded = 0;      // (step, layer, head) maps in the file
    uint64_t maps_available = 0;     // maps the run holds (head mean counted when derived from all heads)
    std::vector<std::string> notes;  // what was left out to fit, as shown on the page
};

// Writes the viewer of `run` to `path` (atomically). Throws Error naming the file on failure.
ViewerResult write_viewer(const analysis::RunReader& run, const ViewerOptions& opt, const std::string& path);

// The default output path: the manifest's folder / <manifest stem>.html.
std::string default_viewer_path(const analysis::RunReader& run);

namespace detail {

// Log quantisation of one attention map (exposed for tests): q = 0 for p ≤ max·e^-kLogRange,
// else 1 + round(254·(ln p − ln max + kLogRange) / kLogRange). Returns ln(max) (−inf for an all-zero map).
inline constexpr double kLogRange = 11.512925464970229;  // ln(1e5): five decades below the map's maximum
float quantise_log(const float* p, size_t n, uint8_t* q);
// The inverse for one code (what viewer.js computes).
float dequantise_log(uint8_t q, float log_max);
// PNG-style per-row filter (0 none, 1 sub, 2 up, chosen by the minimum sum of absolute
// differences); output is rows × (1 + cols) bytes. A row flagged in `absent` (may be null) gets
// the filter byte kAbsentRow and zero codes: the row has no attention at this step (a cached
// forward did not recompute it), which the page draws as such, never as zeros.
inline constexpr uint8_t kAbsentRow = 3;
std::vector<uint8_t> filter_rows(const uint8_t* q, int rows, int cols, const uint8_t* absent = nullptr);
// Rows of a [rows × cols] map whose every value is NaN (the reader's mark of a row not recomputed).
std::vector<uint8_t> absent_rows(const float* p, int rows, int cols);
// zlib stream (RFC 1950, what DecompressionStream('deflate') reads).
std::vector<uint8_t> deflate_zlib(const uint8_t* data, size_t n, int level);
std::string base64(const uint8_t* data, size_t n);

}  // namespace detail

}  // namespace dlmscope::render
