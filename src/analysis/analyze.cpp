#include "analysis/analyze.h"

#include "analysis/metrics.h"
#include "analysis/report.h"
#include "analysis/run-reader.h"
#include "capture/stats.h"
#include "core/error.h"
#include "core/file.h"
#include "core/npy.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <set>

namespace fs = std::filesystem;

namespace dlmscope::analysis {

std::vector<int> pick_layers(int count, int n) {
    std::vector<int> idx;
    if (n <= 0 || n >= count) {
        for (int k = 0; k < count; ++k) idx.push_back(k);
    } else if (n == 1) {
        idx.push_back(0);
    } else {
        for (int k = 0; k < n; ++k)
            idx.push_back(static_cast<int>(std::lround(static_cast<double>(k) * (count - 1) / (n - 1))));
    }
    return idx;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kUnknownStep = -2;  // commit step not known (incomplete run, position never seen committed)

// Per-step row sets as indices into the stored query rows [row_begin, row_end).
using RowSets = std::array<std::vector<int>, kNumRowSets>;

// Running sums over captured steps of one (layer, head or head mean, row set): mean of the finite values.
struct Running {
    MetricValues sum{};
    std::array<int, kNumMetrics> n{};
    void add(const MetricValues& v) {
        for (int m = 0; m < kNumMetrics; ++m)
            if (std::isfinite(v[m])) sum[m] += v[m], ++n[m];
    }
    double mean(int m) const { return n[m] ? sum[m] / n[m] : kNaN; }
};

// Mean of the finite values, NaN when none.
double finite_mean(std::span<const double> v) {
    double s = 0.0;
    int n = 0;
    for (double x : v)
        if (std::isfinite(x)) s += x, ++n;
    return n ? s / n : kNaN;
}

// Rows of values as arrays of numbers (null where not finite).
ojson json_matrix(const std::vector<std::vector<double>>& v) {
    ojson out = ojson::array();
    for (const auto& row : v) {
        ojson r = ojson::array();
        for (double x : row) r.push_back(json_number(x));
        out.push_back(std::move(r));
    }
    return out;
}

// obj[key] when it is a number, else null.
ojson num_or_null(const ojson& obj, const char* key) {
    return obj.contains(key) && obj[key].is_number() ? obj[key] : ojson(nullptr);
}

// a / b when both are numbers and b > 0, else null.
ojson ratio(const ojson& a, const ojson& b) {
    return a.is_number() && b.is_number() && b.get<double>() > 0 ? json_number(a.get<double>() / b.get<double>()) : ojson(nullptr);
}

double peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) * 1024.0;  // Linux reports KiB
}

class Analysis {
public:
    Analysis(const AnalyzeOptions& opt, const AnalyzeLog& log) : opt_(opt), log_(log), run_(RunReader::open(opt.input)) {}
    AnalyzeResult run();
    const std::string& manifest_path() const { return run_.manifest_path(); }

private:
    void warn(const std::string& msg) {
        result_.warnings.push_back(msg);
        if (log_.warn) log_.warn(msg);
    }
    void verbose(const std::string& msg) {
        if (log_.verbose) log_.verbose(msg);
    }
    void setup();
    void process(const StepCapture& cur, const StepCapture* prev);
    void learn_commits(const StepCapture& cur, const StepCapture* prev);
    void commit_rows(const StepCapture& s);
    // The head-mean map of one analysed layer ([R × L]): the stored mean, or the mean of all heads.
    const float* mean_map(const StepCapture& s, int li);
    std::string text_of(int pos) const;

    // report.json: build_report() puts the sections together.
    ojson build_report();
    ojson input_section() const;
    ojson metadata_section() const;
    ojson options_section() const;
    ojson analysis_section() const;
    ojson statistics_section() const;
    ojson bytes_statistics() const;
    ojson metrics_section() const;
    ojson layer_metrics(size_t k, int rs) const;
    ojson cross_attention_section() const;
    std::pair<ojson, ojson> layer_means(const std::vector<std::vector<double>>& v) const;
    ojson cross_attention(const std::vector<std::vector<double>>& maps, const std::vector<std::vector<double>>& stats) const;
    ojson token_influence_section() const;
    ojson influence_ranking(int begin, int end) const;
    ojson rollout_section() const;
    ojson cache_section();  // also writes cache_drift.csv
    ojson diffusion_section() const;
    ojson decode_order() const;
    ojson commit_attention() const;
    ojson masked_mass_curves() const;

    AnalyzeOptions opt_;
    AnalyzeLog log_;
    RunReader run_;
    AnalyzeResult result_;
    Clock::time_point t0_ = Clock::now();

    int L_ = 0, H_ = 0, P_ = 0, P0_ = 0, rb_ = 0, re_ = 0;
    std::vector<int> layer_idx_;  // analysed indices into the captured layers
    std::vector<int> layers_;     // the model layers they are
    bool recompute_ = false;      // per-head metrics from the maps (--prompt-length differs, all maps stored)
    bool stats_use_P_ = true;     // the statistics' row/key classes agree with the prompt length used
    bool mean_maps_ = false;      // a head-mean map can be formed (stored mean or all heads)
    std::string step_change_source_ = "none", step_change_note_;
    std::string rollout_reason_;
    std::set<int> rollout_steps_;
    std::vector<float> mean_buf_;
    std::vector<std::vector<double>> prev_ent_;  // row entropies of the previous step's maps [layer × stored head][R]

    std::unique_ptr<MetricsCsvWriter> csv_;
    std::vector<std::array<Running, kNumRowSets>> per_head_;  // [li * (H+1) + h], h = H is the head-mean row

    // Curves over captured steps: steps_[k], values [k][li].
    std::vector<int> steps_, masked_keys_;
    std::array<std::vector<std::vector<double>>, kNumRowSets> masked_mass_;
    std::vector<std::vector<double>> g2p_stats_, p2g_stats_, g2p_maps_, p2g_maps_;

    // Token influence over (step, layer) pairs: sum of column means; the committed variant per key.
    std::vector<double> infl_sum_, infl_c_sum_;
    std::vector<int> infl_c_n_;
    int infl_n_ = 0;

    // Diffusion history.
    std::vector<int> commit_step_;
    std::string commit_source_;
    std::vector<double> confidence_;
    std::vector<int32_t> final_ids_;
    bool final_from_manifest_ = false;
    std::vector<std::string> tokens_;
    ojson commit_rows_ = ojson::array();
    int commit_rows_skipped_ = 0;

    std::vector<ojson> rollout_entries_;
    std::vector<float> rollout_data_;

    // Cached decoding: what each captured step recomputed and how old its cached keys were.
    ojson provenance_ = ojson::array();
};

std::string Analysis::text_of(int pos) const {
    if (pos >= 0 && pos < static_cast<int>(tokens_.size())) return tokens_[pos];
    const int32_t id = final_ids_[pos];
    return id == run_.mask_id() ? "<mask>" : fmt::format("<id:{}>", id);
}

void Analysis::setup() {
    for (const std::string& w : run_.warnings()) warn(w);
    const json& m = run_.manifest();
    L_ = run_.canvas_length();
    H_ = run_.n_heads();
    P0_ = run_.prompt_length();
    P_ = opt_.prompt_length > 0 ? opt_.prompt_length : P0_;
    if (P_ >= L_) fail("--prompt-length {} is not inside the canvas of {} positions (1 … {})", P_, L_, L_ - 1);
    if (opt_.max_tokens < 0) fail("--max-tokens {} is negative", opt_.max_tokens);
    if (opt_.max_layers < 0) fail("--max-layers {} is negative", opt_.max_layers);

    layer_idx_ = pick_layers(static_cast<int>(run_.captured_layers().size()), opt_.max_layers);
    for (int li : layer_idx_) layers_.push_back(run_.captured_layers()[li]);
    std::tie(rb_, re_) = run_.map_rows();
    const MapHeads mh = run_.map_heads();
    const bool full_rows = rb_ == 0 && re_ == L_;
    mean_maps_ = mh == MapHeads::mean || mh == MapHeads::all;

    if (P_ != P0_) {
        if (mh == MapHeads::all && full_rows) {
            recompute_ = true;
            warn(fmt::format("--prompt-length {} differs from the run's {}: per-head metrics are recomputed from the "
                             "stored maps with {}",
                             P_, P0_, P_));
        } else {
            stats_use_P_ = false;
            warn(fmt::format("--prompt-length {} differs from the run's {}: the run stores no per-head maps of every row, "
                             "so the statistics-based metrics (row set generated, mass_prompt, mass_generated) keep the "
                             "capture's prompt length {}; map-based views use {}",
                             P_, P0_, P0_, P_));
        }
    }

    if (mh == MapHeads::all || mh == MapHeads::list) step_change_source_ = "per_head_maps";
    else if (mh == MapHeads::mean) step_change_source_ = "head_mean_maps";
    if (mh == MapHeads::mean)
        step_change_note_ = "only head-mean maps are stored: per-head step_change is empty and the head = mean row holds "
                            "the divergence of the head-mean maps";
    else if (mh == MapHeads::list)
        step_change_note_ = "maps of a head list are stored: step_change is per listed head; the head = mean row is empty";
    else if (mh == MapHeads::none)
        step_change_note_ = "no maps are stored (--capture-heads none): step_change is empty";
    if (!full_rows && mh != MapHeads::none)
        step_change_note_ += (step_change_note_.empty() ? "" : "; ") +
                             fmt::format("maps hold query rows [{}, {}) only: step_change averages those rows of each set", rb_, re_);

    // Rollout needs every model layer's head-mean map over every row.
    if (!mean_maps_) rollout_reason_ = fmt::format("needs head-mean or all-head maps; the run stores '{}'", run_.map_heads_label());
    else if (!full_rows) rollout_reason_ = fmt::format("needs maps of every query row; the run stores rows [{}, {})", rb_, re_);
    else if (static_cast<int>(run_.captured_layers().size()) != run_.n_layers())
        rollout_reason_ = fmt::format("needs every layer; the run captured {} of {}", run_.captured_layers().size(), run_.n_layers());
    else if (layer_idx_.size() != run_.captured_layers().size())
        rollout_reason_ = fmt::format("needs every layer; --max-layers {} analyses {} of {}", opt_.max_layers, layer_idx_.size(),
                                      run_.n_layers());
    if (rollout_reason_.empty()) {
        // Rollout multiplies every row of every layer: only steps that recomputed every row qualify
        // (a cached step has no attention for the rows it reused).
        const auto full_forward = [&](const StepIndex& s) { return s.query_begin == 0 && s.query_end == L_; };
        for (const StepIndex& s : run_.steps())
            if (run_.is_block_last(s.step) && full_forward(s)) rollout_steps_.insert(s.step);
        if (rollout_steps_.empty())
            for (auto it = run_.steps().rbegin(); it != run_.steps().rend(); ++it)
                if (full_forward(*it)) {
                    rollout_steps_.insert(it->step);
                    break;
                }
        if (rollout_steps_.empty())
            rollout_reason_ = "needs a captured step that recomputed every query row; every captured step was a cached forward";
    }

    // The diffusion history: final tokens and their text, commit steps and confidences.
    final_ids_.assign(L_, run_.mask_id());
    if (m.contains("prompt_ids") && m.contains("output_ids") && m["prompt_ids"].size() + m["output_ids"].size() == size_t(L_)) {
        int k = 0;
        for (const json& v : m["prompt_ids"]) final_ids_[k++] = v.get<int32_t>();
        for (const json& v : m["output_ids"]) final_ids_[k++] = v.get<int32_t>();
        final_from_manifest_ = true;
    }
    if (m.contains("tokens") && m["tokens"].is_array() && m["tokens"].size() == size_t(L_))
        for (const json& t : m["tokens"]) tokens_.push_back(t.is_string() ? t.get<std::string>() : t.dump());
    commit_step_.assign(L_, kUnknownStep);
    confidence_.assign(L_, kNaN);
    if (m.contains("commit_step") && m["commit_step"].is_array() && m["commit_step"].size() == size_t(L_)) {
        for (int i = 0; i < L_; ++i) commit_step_[i] = m["commit_step"][i].get<int>();
        commit_source_ = "manifest";
    } else {
        for (int i = 0; i < P0_; ++i) commit_step_[i] = -1;
        commit_source_ = "canvases";
        warn(fmt::format("{}: no commit_step in the manifest; commit steps are read from consecutive captured canvases",
                         run_.manifest_path()));
    }
    if (m.contains("steps") && m["steps"].is_array())
        for (const json& s : m["steps"]) {
            const json& pos = s.value("positions", json::array());
            const json& conf = s.value("confidences", json::array());
            for (size_t k = 0; k < pos.size() && k < conf.size(); ++k) {
                const int i = pos[k].get<int>();
                if (i >= 0 && i < L_ && conf[k].is_number()) confidence_[i] = conf[k].get<double>();
            }
        }

    const size_t nl = layer_idx_.size();
    per_head_.assign(nl * (H_ + 1), {});
    infl_sum_.assign(L_, 0.0);
    infl_c_sum_.assign(L_, 0.0);
    infl_c_n_.assign(L_, 0);

    std::error_code ec;
    fs::create_directories(opt_.output, ec);
    if (ec) fail("cannot create output directory {}: {}", opt_.output, ec.message());
    result_.report_path = (fs::path(opt_.output) / "report.json").string();
    result_.csv_path = (fs::path(opt_.output) / "metrics.csv").string();
    csv_ = std::make_unique<MetricsCsvWriter>(result_.csv_path);
    result_.layers = layers_;
}

const float* Analysis::mean_map(const StepCapture& s, int li) { return s.head_mean(li, mean_buf_); }

// Without commit_step in the manifest: a position masked at step s and not at step s + 1 was
// committed at step s (exact only for consecutive captured steps).
void Analysis::learn_commits(const StepCapture& cur, const StepCapture* prev) {
    if (!final_from_manifest_)  // the latest canvas seen is the best final canvas there is
        for (int i = 0; i < L_; ++i)
            if (cur.canvas[i] != run_.mask_id()) final_ids_[i] = cur.canvas[i];
    if (commit_source_ != "canvases" || !prev || cur.step != prev->step + 1) return;
    for (int i = 0; i < L_; ++i)
        if (prev->canvas[i] == run_.mask_id() && cur.canvas[i] != run_.mask_id()) commit_step_[i] = prev->step;
}

// The attention row of every position committed at step s, at that step (its query row then decided it).
void Analysis::commit_rows(const StepCapture& s) {
    if (!mean_maps_) return;
    const std::vector<uint8_t> cls = key_classes(s.canvas, P_, run_.mask_id());
    std::vector<float> row(L_);
    for (int i = 0; i < L_; ++i) {
        if (commit_step_[i] != s.step) continue;
        if (i < rb_ || i >= re_ || !s.row_recomputed(i)) {
            ++commit_rows_skipped_;
            continue;
        }
        const int r = i - rb_;
        ojson layers = ojson::array();
        for (size_t k = 0; k < layer_idx_.size(); ++k) {
            const int li = layer_idx_[k];
            // Nonlinear metrics per head first (then their mean) when heads are stored; the top keys
            // and the masses (linear) from the head-mean row.
            const float* M = mean_map(s, li) + static_cast<size_t>(r) * L_;
            std::copy(M, M + L_, row.begin());
            const int one[1] = {0};
            MetricValues v;
            if (run_.map_heads() == MapHeads::all) {
                std::vector<MetricValues> per(s.stored_heads);
                for (int h = 0; h < s.stored_heads; ++h)
                    per[h] = map_metrics({s.map(li, h) + static_cast<size_t>(r) * L_, 1, L_, i}, cls, one);
                for (int m = 0; m < kNumMetrics; ++m) {
                    std::vector<double> col(s.stored_heads);
                    for (int h = 0; h < s.stored_heads; ++h) col[h] = per[h][m];
                    v[m] = finite_mean(col);
                }
            } else {
                v = map_metrics({row.data(), 1, L_, i}, cls, one);
            }
            std::vector<int> order(L_);
            for (int j = 0; j < L_; ++j) order[j] = j;
            const int top = std::min(opt_.top_keys, L_);
            std::partial_sort(order.begin(), order.begin() + top, order.end(),
                              [&](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
            ojson keys = ojson::array();
            for (int t = 0; t < top; ++t)
                keys.push_back({{"position", order[t]}, {"text", text_of(order[t])}, {"weight", json_number(row[order[t]])}});
            ojson e = {{"layer", layers_[k]}};
            for (int mi = 0; mi < kNumMetrics; ++mi)
                if (mi != kStepChange) e[kMetricNames[mi]] = json_number(v[mi]);
            e["top_keys"] = std::move(keys);
            layers.push_back(std::move(e));
        }
        commit_rows_.push_back({{"position", i},
                                {"token_id", final_ids_[i]},
                                {"text", text_of(i)},
                                {"commit_step", s.step},
                                {"block", s.block},
                                {"confidence", json_number(confidence_[i])},
                                {"layers", std::move(layers)}});
    }
}

void Analysis::process(const StepCapture& cur, const StepCapture* prev) {
    const auto t_step = Clock::now();
    const std::vector<uint8_t> cls = key_classes(cur.canvas, P_, run_.mask_id());
    const int R = re_ - rb_;
    const MapHeads mh = run_.map_heads();
    const bool has_maps = !cur.maps.empty();

    // Row sets (indices into the stored rows): all, generated (i ≥ P), masked (in this step's canvas).
    RowSets rows;
    int masked = 0;
    for (int i = 0; i < L_; ++i) masked += cur.canvas[i] == run_.mask_id();
    // Only rows the step's forward recomputed have attention (a cached step reuses the others).
    for (int r = 0; r < R; ++r) {
        const int i = rb_ + r;
        if (!cur.row_recomputed(i)) continue;
        rows[kRowsAll].push_back(r);
        if (i >= P_) rows[kRowsGenerated].push_back(r);
        if (cur.canvas[i] == run_.mask_id()) rows[kRowsMasked].push_back(r);
    }
    std::vector<int> prompt_rows;
    for (int r = 0; r < R; ++r)
        if (rb_ + r < P_ && cur.row_recomputed(rb_ + r)) prompt_rows.push_back(r);

    steps_.push_back(cur.step);
    masked_keys_.push_back(masked);
    {
        int cached = 0, age_max = 0;
        double age_sum = 0.0;
        for (int j = 0; j < L_; ++j)
            if (cur.key_step[j] != cur.step) ++cached, age_sum += cur.step - cur.key_step[j], age_max = std::max(age_max, cur.step - cur.key_step[j]);
        std::string kind = "full";
        for (const StepRecordInfo& r : run_.schedule())
            if (r.step == cur.step) kind = r.kind;
        provenance_.push_back({{"step", cur.step}, {"block", cur.block}, {"kind", kind},
                               {"recomputed_rows", {cur.query_begin, cur.query_end}}, {"cached_keys", cached},
                               {"cache_age_mean", cached ? json_number(age_sum / cached) : ojson(nullptr)},
                               {"cache_age_max", cached ? ojson(age_max) : ojson(nullptr)}});
    }
    for (auto& c : masked_mass_) c.emplace_back(layer_idx_.size(), kNaN);
    for (auto* c : {&g2p_stats_, &p2g_stats_, &g2p_maps_, &p2g_maps_}) c->emplace_back(layer_idx_.size(), kNaN);

    // Row entropies of every stored map and, against the previous captured step, the row JS
    // divergences (JS = H(mean) − mean of the two H): the costly part, in parallel.
    const int Hs = has_maps ? cur.stored_heads : 0, nx = static_cast<int>(layer_idx_.size()) * Hs;
    std::vector<std::vector<double>> ent(nx), js(nx);
    const bool pairs = has_maps && prev && !prev->maps.empty() && static_cast<int>(prev_ent_.size()) == nx;
#pragma omp parallel for schedule(dynamic)
    for (int x = 0; x < nx; ++x) {
        const int li = layer_idx_[x / Hs], sh = x % Hs;
        const ProbView A{cur.map(li, sh), R, L_, rb_};
        ent[x] = row_entropies(A);
        if (pairs) js[x] = row_js_divergences(A, {prev->map(li, sh), R, L_, rb_}, ent[x], prev_ent_[x]);
    }
    prev_ent_ = std::move(ent);

    std::vector<std::array<MetricValues, kNumRowSets>> head(H_);
    for (size_t k = 0; k < layer_idx_.size(); ++k) {
        const int li = layer_idx_[k], layer = layers_[k];

        // Per-head metrics: from the capture's statistics, or recomputed from the maps.
        for (int h = 0; h < H_; ++h)
            for (int rs = 0; rs < kNumRowSets; ++rs)
                head[h][rs] = recompute_ ? map_metrics({cur.map(li, h), R, L_, rb_}, cls, rows[rs])
                                         : metrics_from_stats(cur.stats_of(li, h, rs), L_);

        // Step change against the previous captured step, per stored head (or of the head mean).
        std::array<double, kNumRowSets> mean_change;
        mean_change.fill(kNaN);
        if (Hs > 0 && !js[k * Hs].empty()) {
            for (int rs = 0; rs < kNumRowSets; ++rs) {
                std::vector<double> per;
                for (int sh = 0; sh < Hs; ++sh) {
                    // Rows recomputed at both steps (a row the previous step reused has no map there).
                    const std::vector<double>& d = js[k * Hs + sh];
                    double sum = 0.0;
                    int n = 0;
                    for (int r : rows[rs])
                        if (std::isfinite(d[r])) sum += d[r], ++n;
                    per.push_back(n ? sum / n : kNaN);
                    if (mh != MapHeads::mean) head[run_.map_head_list()[sh]][rs][kStepChange] = per.back();
                }
                if (mh != MapHeads::list) mean_change[rs] = finite_mean(per);  // mean: the one head-mean value
            }
        }

        std::array<MetricValues, kNumRowSets> mean_row;  // the head = mean rows: mean over heads of per-head values
        for (int rs = 0; rs < kNumRowSets; ++rs) {
            for (int mi = 0; mi < kNumMetrics; ++mi) {
                std::vector<double> col(H_);
                for (int h = 0; h < H_; ++h) col[h] = head[h][rs][mi];
                mean_row[rs][mi] = finite_mean(col);
            }
            mean_row[rs][kStepChange] = mean_change[rs];
            for (int h = 0; h < H_; ++h) {
                csv_->row(cur.step, layer, h, rs, head[h][rs]);
                per_head_[k * (H_ + 1) + h][rs].add(head[h][rs]);
            }
            csv_->row(cur.step, layer, -1, rs, mean_row[rs]);
            per_head_[k * (H_ + 1) + H_][rs].add(mean_row[rs]);
            masked_mass_[rs].back()[k] = mean_row[rs][kMassMasked];
        }
        // Cross-attention from the statistics: generated→prompt is mass_prompt over generated rows;
        // prompt→generated (mass on keys ≥ P = generated + masked keys) is the prompt rows' mean,
        // recovered from the all-row and generated-row means as (L·all − G·generated) / P.
        if (stats_use_P_ && cur.query_begin == 0 && cur.query_end == L_) {
            const auto beyond_prompt = [](const MetricValues& v) { return v[kMassGenerated] + v[kMassMasked]; };
            g2p_stats_.back()[k] = mean_row[kRowsGenerated][kMassPrompt];
            p2g_stats_.back()[k] =
                (L_ * beyond_prompt(mean_row[kRowsAll]) - (L_ - P_) * beyond_prompt(mean_row[kRowsGenerated])) / P_;
        }

        // Head-mean map views: token influence, cross-attention, rollout.
        if (has_maps && mean_maps_) {
            const float* M = mean_map(cur, li);
            const ProbView V{M, R, L_, rb_};
            const std::vector<double> col = token_influence(V, rows[kRowsAll]);
            for (int j = 0; j < L_; ++j) {
                infl_sum_[j] += col[j];
                if (cur.canvas[j] != run_.mask_id()) infl_c_sum_[j] += col[j], ++infl_c_n_[j];
            }
            ++infl_n_;
            g2p_maps_.back()[k] = mean_block_mass(V, rows[kRowsGenerated], 0, P_);
            p2g_maps_.back()[k] = mean_block_mass(V, prompt_rows, P_, L_);
        }
    }

    if (has_maps && rollout_steps_.count(cur.step)) {
        std::vector<std::vector<double>> A;
        for (size_t k = 0; k < layer_idx_.size(); ++k) {
            const float* M = mean_map(cur, layer_idx_[k]);
            A.emplace_back(M, M + static_cast<size_t>(L_) * L_);
        }
        const std::vector<double> roll = attention_rollout(A, L_);
        rollout_data_.insert(rollout_data_.end(), roll.begin(), roll.end());
        std::vector<int> gen, prm;
        for (int i = 0; i < L_; ++i) (i < P_ ? prm : gen).push_back(i);
        std::vector<float> rf(roll.begin(), roll.end());
        const ProbView V{rf.data(), L_, L_, 0};
        const std::vector<double> recv = token_influence(V, gen);
        std::vector<int> order = prm;
        std::sort(order.begin(), order.end(), [&](int a, int b) { return recv[a] > recv[b] || (recv[a] == recv[b] && a < b); });
        ojson top = ojson::array();
        for (size_t t = 0; t < order.size() && static_cast<int>(t) < opt_.max_tokens; ++t)
            top.push_back({{"rank", t + 1}, {"position", order[t]}, {"token_id", final_ids_[order[t]]}, {"text", text_of(order[t])},
                           {"rollout", json_number(recv[order[t]])}});
        rollout_entries_.push_back({{"index", rollout_entries_.size()},
                                    {"step", cur.step},
                                    {"block", cur.block},
                                    {"step_in_block", cur.step_in_block},
                                    {"generated_to_prompt", json_number(mean_block_mass(V, gen, 0, P_))},
                                    {"prompt_to_generated", json_number(mean_block_mass(V, prm, P_, L_))},
                                    {"prompt_tokens", std::move(top)}});
    }
    verbose(fmt::format("step {} (block {}): {} layers × {} heads, {} masked, maps {} — {:.1f} ms", cur.step, cur.block,
                        layer_idx_.size(), H_, masked, has_maps ? run_.map_heads_label() : "none",
                        1e3 * std::chrono::duration<double>(Clock::now() - t_step).count()));
}

AnalyzeResult Analysis::run() {
    setup();
    StepCapture prev;
    bool have_prev = false;
    // Step k + 1 is read and decoded on another thread while step k is analysed: three steps in
    // memory at most (previous, current, next).
    const size_t n = run_.steps().size();
    std::future<StepCapture> next = std::async(std::launch::async, [this] { return run_.load_step(0); });
    for (size_t k = 0; k < n; ++k) {
        StepCapture cur = next.get();
        if (k + 1 < n) next = std::async(std::launch::async, [this, k] { return run_.load_step(k + 1); });
        learn_commits(cur, have_prev ? &prev : nullptr);
        if (have_prev) commit_rows(prev);
        process(cur, have_prev ? &prev : nullptr);
        prev = std::move(cur);
        have_prev = true;
    }
    if (have_prev) commit_rows(prev);
    csv_->close();
    result_.csv_rows = csv_->rows();
    result_.steps = static_cast<int>(steps_.size());

    if (rollout_entries_.empty()) {
        std::error_code ec;  // never leave an earlier analysis's rollout beside this report
        fs::remove(fs::path(opt_.output) / "rollout.npy", ec);
    } else {
        result_.rollout_path = (fs::path(opt_.output) / "rollout.npy").string();
        write_npy(result_.rollout_path, "<f4", {static_cast<int64_t>(rollout_entries_.size()), L_, L_}, rollout_data_.data(),
                  rollout_data_.size() * sizeof(float));
    }
    result_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    write_report(result_.report_path, build_report());
    return result_;
}

// The "cache" section: the mode, each block's steps, each captured step's provenance and, with an
// audit, the drift over steps (also written as cache_drift.csv, one row per audited step and layer).
ojson Analysis::cache_section() {
    const json& m = run_.manifest();
    const json params = m.value("params", json::object());
    ojson out = {{"mode", run_.cache_mode()},
                 {"parallel_threshold", ojson(params.value("parallel_threshold", json(nullptr)))},
                 {"cache_refresh", ojson(params.value("cache_refresh", json(0)))},
                 {"block_steps", ojson(m.value("block_steps", json(nullptr)))},
                 {"captured_steps", provenance_}};
    if (!run_.has_cache_drift()) {
        out["drift"] = {{"available", false},
                        {"reason", run_.cache_mode() == "none" ? "the run used no cache" : "generated without --cache-audit"}};
        return out;
    }
    const CacheDrift d = run_.load_cache_drift();
    const std::string csv_path = (fs::path(opt_.output) / "cache_drift.csv").string();
    std::string csv = "step,layer,l1_mean,l1_max,js_mean,logits_max_abs,argmax_agreement\n";
    ojson rows = ojson::array();
    std::vector<double> js_all, l1_all;
    for (size_t k = 0; k < d.steps.size(); ++k) {
        const double agree = d.argmax_rows[k] > 0 ? static_cast<double>(d.argmax_agree[k]) / d.argmax_rows[k] : kNaN;
        ojson layers = ojson::array();
        for (int l = 0; l < d.n_layers; ++l) {
            double l1 = 0.0, l1_max = 0.0, js = 0.0;
            for (int h = 0; h < d.n_heads; ++h) {
                l1 += d.at(k, l, h, kDriftL1Mean);
                l1_max = std::max(l1_max, static_cast<double>(d.at(k, l, h, kDriftL1Max)));
                js += d.at(k, l, h, kDriftJsMean);
            }
            l1 /= d.n_heads;
            js /= d.n_heads;
            js_all.push_back(js);
            l1_all.push_back(l1);
            layers.push_back({{"layer", l}, {"l1_mean", json_number(l1)}, {"l1_max", json_number(l1_max)}, {"js_mean", json_number(js)}});
            csv += fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g}\n", d.steps[k], l, l1, l1_max, js, d.logits_max_abs[k], agree);
        }
        rows.push_back({{"step", d.steps[k]}, {"logits_max_abs", json_number(d.logits_max_abs[k])},
                        {"argmax_agreement", json_number(agree)}, {"layers", std::move(layers)}});
    }
    write_file_atomic(csv_path, {{reinterpret_cast<const uint8_t*>(csv.data()), csv.size()}});
    out["drift"] = {{"available", true},
                    {"file", "cache_drift.csv"},
                    {"definition", "per audited (cached) step and layer, over heads: l1_mean = mean over recomputed rows of "
                                   "Σ|cached − exact|, l1_max its maximum over rows and heads, js_mean the Jensen–Shannon "
                                   "divergence in bits; logits over the rows whose logits were used"},
                    {"audited_steps", d.steps.size()},
                    {"js_mean_over_steps_and_layers", json_number(aggregate(js_all).mean)},
                    {"js_mean_max", json_number(aggregate(js_all).max)},
                    {"l1_mean_over_steps_and_layers", json_number(aggregate(l1_all).mean)},
                    {"steps", std::move(rows)}};
    return out;
}

// report.json, section by section (docs/metrics.md describes the fields).
ojson Analysis::build_report() {
    ojson report;
    report["schema"] = kReportSchema;
    report["schema_version"] = kReportSchemaVersion;
    report["generator"] = "dlmscope 0.1.0";
    report["input"] = input_section();
    report["metadata"] = metadata_section();
    report["options"] = options_section();
    report["analysis"] = analysis_section();
    report["statistics"] = statistics_section();
    report["metrics"] = metrics_section();
    report["cross_attention"] = cross_attention_section();
    report["token_influence"] = token_influence_section();
    report["rollout"] = rollout_section();
    report["cache"] = cache_section();
    report["diffusion"] = diffusion_section();
    return report;
}

ojson Analysis::input_section() const {
    const json& m = run_.manifest();
    return {{"manifest", fs::absolute(run_.manifest_path()).lexically_normal().string()},
            {"complete", run_.complete()},
            {"error", ojson(m.value("error", json(nullptr)))}};
}

ojson Analysis::metadata_section() const {
    const json& m = run_.manifest();
    return {{"model", ojson(m.value("model", json::object()))},
            {"params", ojson(m.value("params", json::object()))},
            {"prompt", ojson(m.value("prompt", json(nullptr)))},
            {"prompt_text", ojson(m.value("prompt_text", json(nullptr)))},
            {"text", ojson(m.value("text", json(nullptr)))},
            {"prompt_length", P_},
            {"prompt_length_manifest", P0_},
            {"canvas_length", L_},
            {"gen_length", L_ - P_},
            {"num_blocks", ojson(m.value("num_blocks", json(nullptr)))},
            {"steps_per_block", run_.steps_per_block() > 0 ? ojson(run_.steps_per_block()) : ojson(nullptr)},
            {"block_steps", ojson(m.value("block_steps", json(nullptr)))},
            {"cache", run_.cache_mode()},
            {"steps", run_.total_steps()},
            {"n_layers", run_.n_layers()},
            {"n_heads", H_},
            {"mask_id", run_.mask_id()}};
}

ojson Analysis::options_section() const {
    const int ncl = static_cast<int>(run_.captured_layers().size());
    return {{"max_layers", opt_.max_layers > 0 ? ojson(opt_.max_layers) : ojson(nullptr)},
            {"layer_selection", opt_.max_layers > 0 && opt_.max_layers < ncl ? "evenly spaced" : "all captured"},
            {"prompt_length", opt_.prompt_length > 0 ? ojson(opt_.prompt_length) : ojson(nullptr)},
            {"max_tokens", opt_.max_tokens},
            {"top_keys", opt_.top_keys},
            {"visualizations", opt_.visualizations ? "enabled" : "disabled"}};
}

ojson Analysis::analysis_section() const {
    return {{"seconds", result_.seconds}, {"peak_rss_bytes", peak_rss_bytes()}, {"warnings", result_.warnings},
            {"files", {{"report", "report.json"}, {"metrics", "metrics.csv"},
                       {"rollout", result_.rollout_path.empty() ? ojson(nullptr) : ojson("rollout.npy")}}},
            {"csv_rows", result_.csv_rows}};
}

// Captures, coverage, bytes, overhead.
ojson Analysis::statistics_section() const {
    const json& m = run_.manifest();
    const json capture = m.value("capture", json::object());
    const json timings = m.value("timings", json::object());
    const int T = run_.total_steps(), NL = run_.n_layers(), n = static_cast<int>(steps_.size());
    const int ncl = static_cast<int>(run_.captured_layers().size());
    const int stored = run_.stored_heads();
    std::vector<int> captured_steps;
    for (const StepIndex& s : run_.steps()) captured_steps.push_back(s.step);
    return {
        {"captures", {{"steps", n}, {"step_layer_pairs", n * ncl}, {"head_statistics", static_cast<int64_t>(n) * ncl * H_},
                      {"maps", run_.map_heads_label()}, {"map_dtype", run_.map_dtype()}, {"stored_heads", stored}}},
        {"coverage", {{"steps", {{"captured", n}, {"total", T}, {"list", captured_steps}}},
                      {"layers", {{"captured", run_.captured_layers()}, {"analysed", layers_}, {"total", NL}}},
                      {"heads", {{"statistics", H_}, {"maps", run_.map_heads_label()}, {"stored", stored}, {"total", H_}}},
                      {"rows", {rb_, re_}},
                      {"statistics_fraction", json_number(double(n) * ncl / (double(T) * NL))},
                      {"maps_fraction", json_number(double(n) * ncl * (run_.map_heads() == MapHeads::mean ? H_ : stored) *
                                                    (re_ - rb_) / (double(T) * NL * H_ * L_))}}},
        {"bytes", bytes_statistics()},
        {"capture_overhead", {{"tap_seconds", num_or_null(capture, "tap_seconds")},
                              {"write_seconds", num_or_null(capture, "write_seconds")},
                              {"generate_seconds", num_or_null(timings, "generate_s")},
                              {"tap_fraction", ratio(num_or_null(capture, "tap_seconds"), num_or_null(timings, "generate_s"))}}}};
}

// The run's arrays on disk against what the capture wrote and what every full f32 map would take.
ojson Analysis::bytes_statistics() const {
    const json& m = run_.manifest();
    const json capture = m.value("capture", json::object());
    uint64_t on_disk = 0;
    std::set<std::string> files;
    for (const json& a : m["arrays"])
        if (a.contains("file") && a["file"].is_string()) files.insert(a["file"].get<std::string>());
    std::error_code ec;
    for (const std::string& f : files) {
        const auto sz = fs::file_size(fs::path(run_.root()) / f, ec);
        if (!ec) on_disk += sz;
    }
    const uint64_t manifest_bytes = fs::file_size(run_.manifest_path(), ec);
    const double full_f32 = 4.0 * run_.total_steps() * run_.n_layers() * H_ * static_cast<double>(L_) * L_;
    ojson bytes = {{"arrays_on_disk", on_disk},
                   {"manifest", ec ? ojson(nullptr) : ojson(manifest_bytes)},
                   {"files", files.size()},
                   {"capture_bytes_written", num_or_null(capture, "bytes_written")},
                   {"capture_raw_bytes", num_or_null(capture, "raw_bytes")},
                   {"full_maps_f32_bytes", full_f32}};
    bytes["on_disk_over_raw"] = ratio(ojson(on_disk), bytes["capture_raw_bytes"]);
    bytes["on_disk_over_full_maps_f32"] = json_number(on_disk / full_f32);
    return bytes;
}

// Per-layer summaries over steps, aggregated over heads.
ojson Analysis::metrics_section() const {
    ojson layers = ojson::array();
    for (size_t k = 0; k < layer_idx_.size(); ++k) {
        ojson by_rows = ojson::object();
        for (int rs = 0; rs < kNumRowSets; ++rs) by_rows[kRowSetNames[rs]] = layer_metrics(k, rs);
        layers.push_back({{"layer", layers_[k]}, {"rows", std::move(by_rows)}});
    }
    return {{"names", kMetricNames},
            {"row_sets", kRowSetNames},
            {"keys", L_},
            {"local_window", kLocalWindow},
            {"source", recompute_ ? "maps" : "statistics"},
            {"step_change", {{"source", step_change_source_}, {"pairs", "consecutive captured steps"},
                             {"note", step_change_note_.empty() ? ojson(nullptr) : ojson(step_change_note_)}}},
            {"layers", std::move(layers)}};
}

// Every metric of analysed layer k over row set rs: its aggregate over heads, each head's mean.
ojson Analysis::layer_metrics(size_t k, int rs) const {
    ojson metrics = ojson::object();
    for (int mi = 0; mi < kNumMetrics; ++mi) {
        std::vector<double> per(H_);
        for (int h = 0; h < H_; ++h) per[h] = per_head_[k * (H_ + 1) + h][rs].mean(mi);
        const Aggregate a = aggregate(per);
        ojson ph = ojson::array();
        for (double v : per) ph.push_back(json_number(v));
        metrics[kMetricNames[mi]] = {{"mean", json_number(a.mean)}, {"min", json_number(a.min)}, {"max", json_number(a.max)},
                                     {"std", json_number(a.std)},
                                     {"argmin_head", a.argmin >= 0 ? ojson(a.argmin) : ojson(nullptr)},
                                     {"argmax_head", a.argmax >= 0 ? ojson(a.argmax) : ojson(nullptr)},
                                     {"head_mean", json_number(per_head_[k * (H_ + 1) + H_][rs].mean(mi))},
                                     {"per_head", std::move(ph)}};
    }
    return metrics;
}

ojson Analysis::cross_attention_section() const {
    return {{"steps", steps_},
            {"layers", layers_},
            {"definition", "mean over query rows of the head-mean attention mass on the other region's keys, averaged over "
                           "captured steps and layers"},
            {"map_rows", {rb_, re_}},
            {"generated_to_prompt", cross_attention(g2p_maps_, g2p_stats_)},
            {"prompt_to_generated", cross_attention(p2g_maps_, p2g_stats_)}};
}

// The mean over captured steps of each analysed layer's curve, and their mean.
std::pair<ojson, ojson> Analysis::layer_means(const std::vector<std::vector<double>>& v) const {
    ojson out = ojson::array();
    std::vector<double> overall;
    for (size_t k = 0; k < layer_idx_.size(); ++k) {
        std::vector<double> col;
        for (const auto& row : v) col.push_back(row[k]);
        const double mean = finite_mean(col);
        overall.push_back(mean);
        out.push_back(json_number(mean));
    }
    return std::make_pair(json_number(finite_mean(overall)), out);
}

// One direction of cross-attention, from the maps and from the statistics, and how far they differ.
ojson Analysis::cross_attention(const std::vector<std::vector<double>>& maps, const std::vector<std::vector<double>>& stats) const {
    auto [mo, ml] = layer_means(maps);
    auto [so, sl] = layer_means(stats);
    double diff = kNaN;
    for (size_t s = 0; s < maps.size(); ++s)
        for (size_t k = 0; k < layer_idx_.size(); ++k)
            if (std::isfinite(maps[s][k]) && std::isfinite(stats[s][k]))
                diff = std::isfinite(diff) ? std::max(diff, std::abs(maps[s][k] - stats[s][k])) : std::abs(maps[s][k] - stats[s][k]);
    return ojson{{"maps", mo}, {"statistics", so}, {"by_layer", {{"maps", ml}, {"statistics", sl}}},
                 {"max_abs_difference", json_number(diff)}, {"by_step", {{"maps", json_matrix(maps)}, {"statistics", json_matrix(stats)}}}};
}

ojson Analysis::token_influence_section() const {
    ojson influence = {{"available", infl_n_ > 0}};
    if (infl_n_ == 0) {
        influence["reason"] = mean_maps_ ? "no maps in the captured steps"
                                         : fmt::format("needs head-mean or all-head maps; the run stores '{}'", run_.map_heads_label());
        return influence;
    }
    influence["definition"] = "attention received by key j: mean over stored query rows of the head-mean p_ij, averaged "
                              "over captured steps and analysed layers";
    influence["averaged_over"] = {{"steps", static_cast<int>(steps_.size())}, {"layers", layers_.size()}, {"rows", {rb_, re_}}};
    influence["prompt"] = influence_ranking(0, P_);
    influence["generated"] = influence_ranking(P_, L_);
    return influence;
}

// Positions [begin, end) by the attention they received, the most first (up to --max-tokens).
ojson Analysis::influence_ranking(int begin, int end) const {
    std::vector<int> order;
    for (int j = begin; j < end; ++j) order.push_back(j);
    std::vector<double> v(L_);
    for (int j = 0; j < L_; ++j) v[j] = infl_sum_[j] / infl_n_;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return v[a] > v[b]; });
    ojson out = ojson::array();
    for (size_t t = 0; t < order.size() && static_cast<int>(t) < opt_.max_tokens; ++t) {
        const int j = order[t];
        out.push_back({{"rank", t + 1}, {"position", j}, {"token_id", final_ids_[j]}, {"text", text_of(j)},
                       {"influence", json_number(v[j])},
                       {"influence_committed", infl_c_n_[j] ? json_number(infl_c_sum_[j] / infl_c_n_[j]) : ojson(nullptr)},
                       {"commit_step", commit_step_[j] == kUnknownStep ? ojson(nullptr) : ojson(commit_step_[j])}});
    }
    return out;
}

ojson Analysis::rollout_section() const {
    ojson rollout = {{"available", !rollout_entries_.empty()}};
    if (rollout_entries_.empty()) {
        rollout["reason"] = !rollout_reason_.empty() ? rollout_reason_ : "no maps at the chosen steps";
        return rollout;
    }
    rollout["file"] = "rollout.npy";
    rollout["shape"] = {rollout_entries_.size(), L_, L_};
    rollout["definition"] = "Abnar & Zuidema: per layer the head-mean map A becomes 0.5·A + 0.5·I with rows "
                            "renormalised; rollout = Â_last · … · Â_first; row i = query, column j = input token";
    rollout["chosen_steps"] = "the last step of each block (the last captured step when none is captured)";
    rollout["steps"] = rollout_entries_;
    return rollout;
}

ojson Analysis::diffusion_section() const {
    return {{"commit_source", commit_source_},
            {"decode_order", decode_order()},
            {"commit_attention", commit_attention()},
            {"masked_mass", masked_mass_curves()}};
}

// The generated positions in the order they were committed, with block, step in block and confidence.
ojson Analysis::decode_order() const {
    ojson decode = ojson::array();
    std::vector<int> pos;
    for (int i = P_; i < L_; ++i)
        if (commit_step_[i] >= 0) pos.push_back(i);
    std::stable_sort(pos.begin(), pos.end(), [&](int a, int b) { return commit_step_[a] < commit_step_[b]; });
    // Block and step in block from the steps' records (the schedule may vary per block).
    std::map<int, std::pair<int, int>> where;
    for (const StepRecordInfo& r : run_.schedule()) where[r.step] = {r.block, r.step_in_block};
    const int spb = std::max(1, run_.steps_per_block());
    for (size_t o = 0; o < pos.size(); ++o) {
        const int i = pos[o], s = commit_step_[i];
        const auto it = where.find(s);
        const auto [b, sib] = it != where.end() ? it->second : std::pair<int, int>{s / spb, s % spb};
        decode.push_back({{"order", o}, {"position", i}, {"token_id", final_ids_[i]}, {"text", text_of(i)}, {"step", s},
                          {"block", b}, {"step_in_block", sib}, {"confidence", json_number(confidence_[i])}});
    }
    return decode;
}

ojson Analysis::commit_attention() const {
    ojson commit = {{"available", mean_maps_}};
    if (!mean_maps_) {
        commit["reason"] = fmt::format("needs head-mean or all-head maps; the run stores '{}'", run_.map_heads_label());
        return commit;
    }
    commit["heads"] = run_.map_heads() == MapHeads::all ? "metrics per head, then mean; top keys of the head-mean row"
                                                        : "head-mean row";
    commit["positions_outside_stored_rows"] = commit_rows_skipped_;
    commit["rows"] = commit_rows_;
    return commit;
}

// The head-mean mass on masked keys over the captured steps (per layer and row set), with the
// share of masked keys (what a uniform row would give).
ojson Analysis::masked_mass_curves() const {
    ojson uniform = ojson::array();
    for (int c : masked_keys_) uniform.push_back(double(c) / L_);
    ojson mm_rows = ojson::object();
    for (int rs = 0; rs < kNumRowSets; ++rs) mm_rows[kRowSetNames[rs]] = json_matrix(masked_mass_[rs]);
    return {{"steps", steps_}, {"layers", layers_}, {"masked_keys", masked_keys_}, {"uniform", uniform}, {"rows", mm_rows}};
}

}  // namespace

AnalyzeResult analyze_run(const AnalyzeOptions& opt, const AnalyzeLog& log) {
    if (opt.output.empty()) fail("no output directory given (--output DIR)");
    Analysis a(opt, log);
    try {
        return a.run();
    } catch (const json::exception& e) {  // a manifest field of the wrong type (tokens, steps, …)
        fail("{}: unexpected manifest content: {}", a.manifest_path(), e.what());
    }
}

}  // namespace dlmscope::analysis
