// dlmscope analysis: attention metrics as pure functions on probability matrices.
//
// Every function takes attention probabilities laid out row-major: query rows over K keys, each row
// summing to 1 (a softmax over keys). A ProbView may hold only some query rows of the canvas
// (`first_row` = the canvas position of its row 0), as a capture with --capture-rows does.
// Sums run in double. docs/metrics.md has the definitions; product.md section 4 is the contract.
//
//   metric          per query row i, then averaged over the rows of a row set
//   entropy         −Σ_j p_ij ln p_ij (nats)           entropy_norm = entropy / ln K
//   density         (1 / Σ_j p_ij²) / K                 1 = uniform, 1/K = one-hot
//   focus_self      p_ii                                focus_local = Σ_{|i−j|≤w} p_ij
//   mass_<class>    Σ_j p_ij over keys of a class       prompt / generated / masked (+ sink = p_i0)
//   step_change     JS(p_i(s), p_i(s')) between two captured steps (nats, at most ln 2)
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace dlmscope::analysis {

// Columns of metrics.csv after step,layer,head,rows (in this order).
enum Metric : int {
    kEntropy, kEntropyNorm, kDensity, kFocusSelf, kFocusLocal,
    kMassPrompt, kMassGenerated, kMassMasked, kMassSink, kStepChange, kNumMetrics
};
inline constexpr std::array<const char*, kNumMetrics> kMetricNames = {
    "entropy", "entropy_norm", "density", "focus_self", "focus_local",
    "mass_prompt", "mass_generated", "mass_masked", "mass_sink", "step_change"};
using MetricValues = std::array<double, kNumMetrics>;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr int kDefaultLocalWindow = 2;

// Key classes, as in capture/stats.h: 0 = prompt, 1 = committed generated, 2 = still masked.
inline constexpr uint8_t kKeyPrompt = 0, kKeyGenerated = 1, kKeyMasked = 2;

// A block of attention probabilities: `rows` query rows over `keys` keys; row r is the query at
// canvas position first_row + r.
struct ProbView {
    const float* p = nullptr;
    int rows = 0;
    int keys = 0;
    int first_row = 0;
    const float* row(int r) const { return p + static_cast<int64_t>(r) * keys; }
};

// ---- one row ----------------------------------------------------------------------------------

// −Σ p ln p in nats (0 ln 0 = 0).
double row_entropy(std::span<const float> p);
// 1 / Σ p², the effective number of keys (participation ratio); 0 for an all-zero row.
double row_inv_participation(std::span<const float> p);
// Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2, in nats: 0 for p = q, ln 2 for
// disjoint supports. The sizes must match.
double js_divergence(std::span<const float> p, std::span<const float> q);

// ---- rows of a matrix -------------------------------------------------------------------------

// Every row index of a view, 0 … n−1.
std::vector<int> all_rows(int n);

// The nine row metrics (every column but step_change, which is NaN) averaged over `rows` (indices
// into the view). `key_class` has one entry per key. NaN everywhere when `rows` is empty.
MetricValues map_metrics(const ProbView& P, std::span<const uint8_t> key_class, std::span<const int> rows,
                         int window = kDefaultLocalWindow);

// The same metrics from the capture's statistics of one (step, layer, head, row set): `stats` holds
// the nine row means of capture/stats.h (kStat* order) and K is the number of keys.
MetricValues metrics_from_stats(std::span<const float> stats, int K);

// Token influence: attention received by each key j, the mean over `rows` of p_ij ([keys]).
std::vector<double> token_influence(const ProbView& P, std::span<const int> rows);

// Mean over `rows` of Σ_{key_begin ≤ j < key_end} p_ij (e.g. generated rows over prompt keys:
// generated→prompt cross-attention). NaN when `rows` is empty.
double mean_block_mass(const ProbView& P, std::span<const int> rows, int key_begin, int key_end);

// Mean over `rows` of the JS divergence between the same rows of A and B (same shape).
double mean_js_divergence(const ProbView& A, const ProbView& B, std::span<const int> rows);

// The entropy of every row of a view ([rows]); NaN for a row marked absent (NaN: a row a cached step
// did not recompute).
std::vector<double> row_entropies(const ProbView& P);
// The JS divergence of every row pair of A and B (same shape) as H((a+b)/2) − (H(a) + H(b))/2, given
// the rows' entropies HA and HB: one logarithm per key instead of two (the streaming analysis keeps
// each step's entropies for the next step). Equal to js_divergence up to rounding (~1e-15). NaN for a
// pair where either row is absent.
std::vector<double> row_js_divergences(const ProbView& A, const ProbView& B, std::span<const double> HA,
                                       std::span<const double> HB);

// Attention rollout (Abnar & Zuidema 2020) over layers, bottom first: each layer's head-mean
// matrix A [n×n] becomes Â = r·A + (1−r)·I with rows renormalised to 1, and the result is
// Â_last · … · Â_first [n×n]. r = 0.5 is the paper's choice.
std::vector<double> attention_rollout(const std::vector<std::vector<double>>& layers, int n, double residual = 0.5);

// ---- aggregation over heads -------------------------------------------------------------------

struct Aggregate {
    double mean = kNaN, min = kNaN, max = kNaN, std = kNaN;  // std: population (divides by n)
    int argmin = -1, argmax = -1;                             // index of the min / max value
    int n = 0;                                                // finite values used
};
// Mean, min, max and standard deviation of the finite values (NaN skipped); all NaN when none.
Aggregate aggregate(std::span<const double> values);

}  // namespace dlmscope::analysis
