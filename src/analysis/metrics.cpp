#include "analysis/metrics.h"

#include "capture/stats.h"
#include "core/error.h"

#include <algorithm>
#include <numeric>

namespace dlmscope::analysis {

namespace {

// x ln x with 0 ln 0 = 0.
inline double xlogx(double x) { return x > 0.0 ? x * std::log(x) : 0.0; }

// ln K, the entropy of a uniform row; NaN for K ≤ 1 (a single key has no spread to normalise).
inline double log_keys(int K) { return K > 1 ? std::log(static_cast<double>(K)) : kNaN; }

}  // namespace

double row_entropy(std::span<const float> p) {
    double h = 0.0;
    for (float v : p) h -= xlogx(v);
    return h;
}

double row_inv_participation(std::span<const float> p) {
    double sq = 0.0;
    for (float v : p) sq += static_cast<double>(v) * v;
    return sq > 0.0 ? 1.0 / sq : 0.0;
}

double js_divergence(std::span<const float> p, std::span<const float> q) {
    DLM_ASSERT(p.size() == q.size());
    // ½Σ p ln(2p/(p+q)) + ½Σ q ln(2q/(p+q)), written so that zero entries contribute nothing.
    double d = 0.0;
    for (size_t j = 0; j < p.size(); ++j) {
        const double a = p[j], b = q[j], m = 0.5 * (a + b);
        if (m <= 0.0) continue;
        if (a > 0.0) d += 0.5 * a * std::log(a / m);
        if (b > 0.0) d += 0.5 * b * std::log(b / m);
    }
    return std::max(d, 0.0);  // rounding can leave −1e-17 for identical rows
}

std::vector<int> all_rows(int n) {
    std::vector<int> r(static_cast<size_t>(std::max(n, 0)));
    std::iota(r.begin(), r.end(), 0);
    return r;
}

MetricValues map_metrics(const ProbView& P, std::span<const uint8_t> key_class, std::span<const int> rows, int window) {
    DLM_ASSERT(static_cast<int>(key_class.size()) == P.keys);
    MetricValues out;
    out.fill(kNaN);
    if (rows.empty()) return out;
    const int K = P.keys;
    MetricValues sum{};
    for (int r : rows) {
        DLM_ASSERT(r >= 0 && r < P.rows);
        const float* p = P.row(r);
        const std::span<const float> row(p, static_cast<size_t>(K));
        const int i = P.first_row + r;  // the query's canvas position
        double mass[3] = {0.0, 0.0, 0.0}, local = 0.0;
        for (int j = 0; j < K; ++j) mass[key_class[j]] += p[j];
        for (int j = std::max(0, i - window); j <= std::min(K - 1, i + window); ++j) local += p[j];
        sum[kEntropy] += row_entropy(row);
        sum[kDensity] += row_inv_participation(row) / K;
        sum[kFocusSelf] += i < K ? p[i] : 0.0;
        sum[kFocusLocal] += local;
        sum[kMassPrompt] += mass[kKeyPrompt];
        sum[kMassGenerated] += mass[kKeyGenerated];
        sum[kMassMasked] += mass[kKeyMasked];
        sum[kMassSink] += p[0];
    }
    const double n = static_cast<double>(rows.size());
    for (int m = 0; m < kNumMetrics; ++m) out[m] = sum[m] / n;
    out[kEntropyNorm] = out[kEntropy] / log_keys(K);
    out[kStepChange] = kNaN;
    return out;
}

MetricValues metrics_from_stats(std::span<const float> s, int K) {
    DLM_ASSERT(s.size() == static_cast<size_t>(kNumStats));
    MetricValues out;
    out[kEntropy] = s[kStatEntropy];
    out[kEntropyNorm] = s[kStatEntropy] / log_keys(K);
    // The capture stores the row mean of 1/Σp²; dividing a mean by the constant K is exact.
    out[kDensity] = static_cast<double>(s[kStatInvPart]) / K;
    out[kFocusSelf] = s[kStatSelf];
    out[kFocusLocal] = s[kStatLocal];
    out[kMassPrompt] = s[kStatMassPrompt];
    out[kMassGenerated] = s[kStatMassGenerated];
    out[kMassMasked] = s[kStatMassMasked];
    out[kMassSink] = s[kStatMassSink];
    out[kStepChange] = kNaN;
    return out;
}

std::vector<double> token_influence(const ProbView& P, std::span<const int> rows) {
    std::vector<double> col(static_cast<size_t>(P.keys), rows.empty() ? kNaN : 0.0);
    if (rows.empty()) return col;
    for (int r : rows) {
        const float* p = P.row(r);
        for (int j = 0; j < P.keys; ++j) col[j] += p[j];
    }
    for (double& c : col) c /= static_cast<double>(rows.size());
    return col;
}

double mean_block_mass(const ProbView& P, std::span<const int> rows, int key_begin, int key_end) {
    if (rows.empty()) return kNaN;
    key_begin = std::clamp(key_begin, 0, P.keys);
    key_end = std::clamp(key_end, key_begin, P.keys);
    double sum = 0.0;
    for (int r : rows) {
        const float* p = P.row(r);
        for (int j = key_begin; j < key_end; ++j) sum += p[j];
    }
    return sum / static_cast<double>(rows.size());
}

double mean_js_divergence(const ProbView& A, const ProbView& B, std::span<const int> rows) {
    DLM_ASSERT(A.rows == B.rows && A.keys == B.keys);
    if (rows.empty()) return kNaN;
    double sum = 0.0;
    for (int r : rows)
        sum += js_divergence({A.row(r), static_cast<size_t>(A.keys)}, {B.row(r), static_cast<size_t>(B.keys)});
    return sum / static_cast<double>(rows.size());
}

std::vector<double> row_entropies(const ProbView& P) {
    std::vector<double> h(static_cast<size_t>(P.rows));
    for (int r = 0; r < P.rows; ++r)
        h[r] = std::isnan(P.row(r)[0]) ? kNaN : row_entropy({P.row(r), static_cast<size_t>(P.keys)});  // NaN: an absent row
    return h;
}

std::vector<double> row_js_divergences(const ProbView& A, const ProbView& B, std::span<const double> HA,
                                       std::span<const double> HB) {
    DLM_ASSERT(A.rows == B.rows && A.keys == B.keys && HA.size() == size_t(A.rows) && HB.size() == size_t(B.rows));
    std::vector<double> d(static_cast<size_t>(A.rows));
    for (int r = 0; r < A.rows; ++r) {
        const float *a = A.row(r), *b = B.row(r);
        if (std::isnan(a[0]) || std::isnan(b[0])) {  // a row one step did not recompute: no divergence
            d[r] = kNaN;
            continue;
        }
        double hm = 0.0;
        for (int j = 0; j < A.keys; ++j) hm -= xlogx(0.5 * (static_cast<double>(a[j]) + b[j]));
        d[r] = std::max(hm - 0.5 * (HA[r] + HB[r]), 0.0);
    }
    return d;
}

std::vector<double> attention_rollout(const std::vector<std::vector<double>>& layers, int n, double residual) {
    const size_t nn = static_cast<size_t>(n) * n;
    std::vector<double> R(nn, 0.0), A(nn), next(nn);
    for (int i = 0; i < n; ++i) R[static_cast<size_t>(i) * n + i] = 1.0;
    for (const std::vector<double>& layer : layers) {
        DLM_ASSERT(layer.size() == nn);
        // Â = r·A + (1−r)·I, each row renormalised (stored maps are rounded, f16 rows miss 1 by ~1e-3).
        for (int i = 0; i < n; ++i) {
            double* a = &A[static_cast<size_t>(i) * n];
            double s = 0.0;
            for (int j = 0; j < n; ++j) {
                a[j] = residual * layer[static_cast<size_t>(i) * n + j] + (i == j ? 1.0 - residual : 0.0);
                s += a[j];
            }
            if (s > 0.0)
                for (int j = 0; j < n; ++j) a[j] /= s;
        }
        // next = Â · R (this layer on top of the layers below it).
        std::fill(next.begin(), next.end(), 0.0);
        for (int i = 0; i < n; ++i) {
            double* out = &next[static_cast<size_t>(i) * n];
            for (int k = 0; k < n; ++k) {
                const double a = A[static_cast<size_t>(i) * n + k];
                if (a == 0.0) continue;
                const double* r = &R[static_cast<size_t>(k) * n];
                for (int j = 0; j < n; ++j) out[j] += a * r[j];
            }
        }
        R.swap(next);
    }
    return R;
}

Aggregate aggregate(std::span<const double> values) {
    Aggregate a;
    double sum = 0.0;
    for (size_t k = 0; k < values.size(); ++k) {
        const double v = values[k];
        if (!std::isfinite(v)) continue;
        if (a.n == 0 || v < a.min) a.min = v, a.argmin = static_cast<int>(k);
        if (a.n == 0 || v > a.max) a.max = v, a.argmax = static_cast<int>(k);
        sum += v;
        ++a.n;
    }
    if (a.n == 0) return a;
    a.mean = sum / a.n;
    double ss = 0.0;
    for (double v : values)
        if (std::isfinite(v)) ss += (v - a.mean) * (v - a.mean);
    a.std = std::sqrt(ss / a.n);
    return a;
}

}  // namespace dlmscope::analysis
