// dlmscope render: the offline HTML viewer (see viewer.h for the pipeline, docs/viewer.md for the page).
//
// [SECTION] encoding helpers: log quantisation, PNG row filter (+ absent rows), zlib, base64
// [SECTION] the run as the page sees it: tokens, commit steps, confidences, parameters, the steps'
//           records (kind, recomputed rows, blocks), the cache audit (meta JSON)
// [SECTION] choosing what fits --max-mb: sampling the encoded size, then steps / layers / heads
// [SECTION] the writer: write() step by step (what the run holds, what fits, the pass, the page)
// [SECTION] the pass over the run: stats of every step, maps of the selected steps
// [SECTION] assembling the file: template + CSS + JS + meta + blobs
#include "render/html/viewer.h"

#include "capture/stats.h"
#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "core/npy.h"
#include "render/html/viewer-assets.h"  // generated at build time from assets/ (embed-assets.cmake)

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace fs = std::filesystem;

namespace dlmscope::render {

// ============================================================================================
// [SECTION] encoding helpers
// ============================================================================================
namespace detail {

namespace {
// ln(max) is rounded to 5 decimals so that the value written to the page is the one used here.
double round5(double x) { return std::round(x * 1e5) / 1e5; }
}  // namespace

float quantise_log(const float* p, size_t n, uint8_t* q) {
    float mx = 0.0f;
    for (size_t i = 0; i < n; ++i)
        if (p[i] > mx) mx = p[i];  // NaN compares false and is skipped
    if (!(mx > 0.0f) || !std::isfinite(mx)) {
        std::memset(q, 0, n);
        return -std::numeric_limits<float>::infinity();
    }
    const double log_max = round5(std::log(static_cast<double>(mx)));
    const float lo = static_cast<float>(log_max - kLogRange);
    const float floor_p = std::exp(lo);
    const float scale = static_cast<float>(254.0 / kLogRange);
    for (size_t i = 0; i < n; ++i) {
        const float v = p[i];
        if (!(v > floor_p)) {
            q[i] = 0;
            continue;
        }
        const int k = 1 + static_cast<int>(std::lround((std::log(v) - lo) * scale));
        q[i] = static_cast<uint8_t>(std::clamp(k, 1, 255));
    }
    return static_cast<float>(log_max);
}

float dequantise_log(uint8_t q, float log_max) {
    if (q == 0 || !std::isfinite(log_max)) return 0.0f;
    return static_cast<float>(std::exp(log_max - kLogRange + (q - 1) * kLogRange / 254.0));
}

std::vector<uint8_t> filter_rows(const uint8_t* q, int rows, int cols, const uint8_t* absent) {
    std::vector<uint8_t> out(static_cast<size_t>(rows) * (cols + 1));
    const auto cost = [](uint8_t b) { return std::abs(static_cast<int>(static_cast<int8_t>(b))); };
    for (int r = 0; r < rows; ++r) {
        if (absent && absent[r]) {  // no codes: the row stays zero after its marker
            out[static_cast<size_t>(r) * (cols + 1)] = kAbsentRow;
            continue;
        }
        const uint8_t* x = q + static_cast<size_t>(r) * cols;
        const uint8_t* up = r ? x - cols : nullptr;
        long c_none = 0, c_sub = 0, c_up = up ? 0 : std::numeric_limits<long>::max();
        for (int j = 0; j < cols; ++j) {
            c_none += cost(x[j]);
            c_sub += cost(static_cast<uint8_t>(x[j] - (j ? x[j - 1] : 0)));
            if (up) c_up += cost(static_cast<uint8_t>(x[j] - up[j]));
        }
        const int f = c_up < std::min(c_none, c_sub) ? 2 : (c_sub < c_none ? 1 : 0);
        uint8_t* o = out.data() + static_cast<size_t>(r) * (cols + 1);
        o[0] = static_cast<uint8_t>(f);
        for (int j = 0; j < cols; ++j)
            o[1 + j] = f == 0 ? x[j] : f == 1 ? static_cast<uint8_t>(x[j] - (j ? x[j - 1] : 0)) : static_cast<uint8_t>(x[j] - up[j]);
    }
    return out;
}

std::vector<uint8_t> absent_rows(const float* p, int rows, int cols) {
    std::vector<uint8_t> out(static_cast<size_t>(rows), 0);
    for (int r = 0; r < rows; ++r) {
        const float* x = p + static_cast<size_t>(r) * cols;
        out[r] = cols > 0 && std::all_of(x, x + cols, [](float v) { return std::isnan(v); });
    }
    return out;
}

std::vector<uint8_t> deflate_zlib(const uint8_t* data, size_t n, int level) {
    uLongf len = compressBound(static_cast<uLong>(n));
    std::vector<uint8_t> out(len);
    const int rc = compress2(out.data(), &len, data, static_cast<uLong>(n), std::clamp(level, 1, 9));
    if (rc != Z_OK) fail("viewer: zlib compress2 failed (code {}) on {} bytes", rc, n);
    out.resize(len);
    return out;
}

std::string base64(const uint8_t* data, size_t n) {
    static constexpr char kAlpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((n + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
        out += kAlpha[v >> 18];
        out += kAlpha[(v >> 12) & 63];
        out += kAlpha[(v >> 6) & 63];
        out += kAlpha[v & 63];
    }
    if (i < n) {
        const uint32_t v = (uint32_t{data[i]} << 16) | (i + 1 < n ? uint32_t{data[i + 1]} << 8 : 0u);
        out += kAlpha[v >> 18];
        out += kAlpha[(v >> 12) & 63];
        out += i + 1 < n ? kAlpha[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kMB = 1e6;

// A map entry of the page: -1 = the mean over all heads, else a model head.
constexpr int kHeadMean = -1;

// One encoded map: base64 of zlib(filtered u8 codes), and ln(max).
struct MapBlob {
    std::string b64;
    float log_max = 0.0f;
};

// Base64 blobs laid out as <script type="text/plain" class="dlm-blob"> chunks.
struct BlobWriter {
    static constexpr size_t kChunk = 1 << 20;
    std::string html;
    std::vector<size_t> lengths;
    std::vector<int> chunk_counts;
    size_t in_chunk = 0;
    void add(const std::string& b64) {
        if (chunk_counts.empty() || (in_chunk > 0 && in_chunk + b64.size() > kChunk)) {
            if (!chunk_counts.empty()) html += "</script>\n";
            html += "<script type=\"text/plain\" class=\"dlm-blob\">";
            chunk_counts.push_back(0);
            in_chunk = 0;
        }
        html += b64;
        in_chunk += b64.size();
        ++chunk_counts.back();
        lengths.push_back(b64.size());
    }
    void finish() {
        if (!chunk_counts.empty()) html += "</script>";
    }
};

// Runs fn(i) for i in [0, n) on up to `threads` threads.
template <typename Fn>
void parallel_for(int n, int threads, Fn&& fn) {
    threads = std::max(1, std::min(threads, n));
    if (threads == 1) {
        for (int i = 0; i < n; ++i) fn(i);
        return;
    }
    std::atomic<int> next{0};
    std::exception_ptr error;
    std::mutex mu;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i; (i = next.fetch_add(1)) < n;) {
                try {
                    fn(i);
                } catch (...) {
                    std::lock_guard<std::mutex> lock(mu);
                    if (!error) error = std::current_exception();
                }
            }
        });
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

// JSON that is safe inside <script type="application/json">: '<' only occurs inside strings in
// JSON, where \u003c means the same, so "</script>" and "<!--" can never appear.
std::string script_json(const json& j) {
    const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string out;
    out.reserve(s.size() + 64);
    for (char c : s) {
        if (c == '<') out += "\\u003c";
        else out += c;
    }
    return out;
}

// Evenly spaced picks of n out of count (first and last included), ascending and unique.
std::vector<int> evenly_spaced(int count, int n) {
    std::vector<int> idx;
    if (n >= count) {
        for (int k = 0; k < count; ++k) idx.push_back(k);
        return idx;
    }
    if (n <= 0) return idx;
    if (n == 1) return {0};
    for (int k = 0; k < n; ++k) idx.push_back(static_cast<int>(std::lround(static_cast<double>(k) * (count - 1) / (n - 1))));
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    return idx;
}

// "2nd", "3rd", "4th", … for the page's notes.
std::string ordinal(int n) {
    const int t = n % 100;
    const char* suffix = (t >= 11 && t <= 13) ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
    return fmt::format("{}{}", n, suffix);
}

// The statistics and canvas of one step without its maps: reads only those two members of the
// step's .npz (the maps are most of the file). Returns false when the file is not laid out as
// expected; the caller then falls back on RunReader::load_step, whose errors name the problem.
uint32_t get_u16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t get_u32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

bool read_small_members(const std::string& path, std::map<std::string, NpyArray>& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    in.seekg(0, std::ios::end);
    const int64_t size = in.tellg();
    if (size < 22) return false;
    const int64_t tail_n = std::min<int64_t>(size, 22 + 65535);
    std::vector<uint8_t> tail(static_cast<size_t>(tail_n));
    in.seekg(size - tail_n);
    if (!in.read(reinterpret_cast<char*>(tail.data()), tail_n)) return false;
    int64_t eocd = -1;
    for (int64_t i = tail_n - 22; i >= 0; --i)
        if (get_u32(&tail[i]) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd < 0) return false;
    const uint32_t n = get_u16(&tail[eocd + 10]), cd_size = get_u32(&tail[eocd + 12]), cd_off = get_u32(&tail[eocd + 16]);
    if (static_cast<int64_t>(cd_off) + cd_size > size) return false;
    std::vector<uint8_t> cd(cd_size);
    in.seekg(cd_off);
    if (!in.read(reinterpret_cast<char*>(cd.data()), cd_size)) return false;
    size_t p = 0;
    for (uint32_t k = 0; k < n; ++k) {
        if (p + 46 > cd.size() || get_u32(&cd[p]) != 0x02014b50) return false;
        const uint32_t method = get_u16(&cd[p + 10]), crc = get_u32(&cd[p + 16]), csize = get_u32(&cd[p + 20]);
        const uint32_t nlen = get_u16(&cd[p + 28]), xlen = get_u16(&cd[p + 30]), clen = get_u16(&cd[p + 32]), loff = get_u32(&cd[p + 42]);
        if (p + 46 + nlen > cd.size()) return false;
        std::string name(reinterpret_cast<const char*>(&cd[p + 46]), nlen);
        p += 46 + nlen + xlen + clen;
        if (name != "stats.npy" && name != "canvas.npy" && name != "key_step.npy") continue;
        if (method != 0) return false;  // dlmscope stores members uncompressed
        uint8_t local[30];
        in.seekg(loff);
        if (!in.read(reinterpret_cast<char*>(local), 30) || get_u32(local) != 0x04034b50) return false;
        // The member must lie inside the file: a corrupt size never turns into a huge allocation.
        const int64_t data_off = static_cast<int64_t>(loff) + 30 + get_u16(local + 26) + get_u16(local + 28);
        if (data_off + static_cast<int64_t>(csize) > size) return false;
        std::vector<uint8_t> raw(csize);
        in.seekg(data_off);
        if (!in.read(reinterpret_cast<char*>(raw.data()), csize)) return false;
        if (crc32(crc32(0L, Z_NULL, 0), raw.data(), static_cast<uInt>(raw.size())) != crc) return false;
        name.resize(name.size() - 4);
        try {
            out.emplace(name, parse_npy(raw.data(), raw.size(), path + ":" + name));
        } catch (const Error&) {
            return false;
        }
    }
    return out.count("stats") && out.count("canvas");
}

// Positions of the canonical names (capture/stats.h) in the manifest's capture.stat_names or
// capture.row_sets; the canonical order when the manifest does not list them.
template <size_t N>
std::vector<int> file_order(const json& capture, const char* key, const std::array<const char*, N>& canonical, int& file_count) {
    std::vector<int> idx;
    const json names = capture.value(key, json());
    file_count = names.is_array() ? static_cast<int>(names.size()) : static_cast<int>(N);
    for (size_t k = 0; k < N; ++k) {
        int at = names.is_array() ? -1 : static_cast<int>(k);
        if (names.is_array())
            for (size_t f = 0; f < names.size(); ++f)
                if (names[f].is_string() && names[f].get<std::string>() == canonical[k]) at = static_cast<int>(f);
        idx.push_back(at);
    }
    return idx;
}

// Stats [nl, H, kNumRowSets, kNumStats] (canonical order), canvas and key_step of step k, maps not
// read. False when the fast path does not apply (the caller uses load_step).
bool load_step_stats(const analysis::RunReader& run, size_t k, std::vector<float>& stats, std::vector<int32_t>& canvas,
                     std::vector<int32_t>& key_step) {
    std::map<std::string, NpyArray> m;
    if (!read_small_members(run.steps()[k].file, m)) return false;
    const json capture = run.manifest().value("capture", json::object());
    int n_stats = 0, n_sets = 0;
    const std::vector<int> st = file_order(capture, "stat_names", kStatNames, n_stats);
    const std::vector<int> rs = file_order(capture, "row_sets", kRowSetNames, n_sets);
    if (std::find(st.begin(), st.end(), -1) != st.end() || std::find(rs.begin(), rs.end(), -1) != rs.end()) return false;
    const int nl = static_cast<int>(run.steps()[k].layers.size()), H = run.n_heads(), L = run.canvas_length();
    const NpyArray& a = m["stats"];
    if (a.shape != std::vector<int64_t>{nl, H, n_sets, n_stats} || (a.descr != "<f4" && a.descr != "<f2")) return false;
    const NpyArray& c = m["canvas"];
    if (c.shape != std::vector<int64_t>{L} || (c.descr != "<i4" && c.descr != "<i8")) return false;
    const std::vector<float> raw = a.as_f32();
    stats.resize(static_cast<size_t>(nl) * H * kNumRowSets * kNumStats);
    for (int l = 0; l < nl; ++l)
        for (int h = 0; h < H; ++h)
            for (int r = 0; r < kNumRowSets; ++r)
                for (int x = 0; x < kNumStats; ++x)
                    stats[((static_cast<size_t>(l) * H + h) * kNumRowSets + r) * kNumStats + x] =
                        raw[((static_cast<size_t>(l) * H + h) * n_sets + rs[r]) * n_stats + st[x]];
    canvas.clear();
    for (int64_t v : c.as_i64()) canvas.push_back(static_cast<int32_t>(v));
    key_step.clear();
    if (run.steps()[k].has_key_step) {
        const auto ks = m.find("key_step");
        if (ks == m.end() || ks->second.shape != std::vector<int64_t>{L} ||
            (ks->second.descr != "<i4" && ks->second.descr != "<i8"))
            return false;
        for (int64_t v : ks->second.as_i64()) key_step.push_back(static_cast<int32_t>(v));
    } else {
        key_step.assign(static_cast<size_t>(L), run.steps()[k].step);  // a run before cached decoding: every key fresh
    }
    return true;
}

// key_step [L] as change points [[j, step], …]: key j and those after it up to the next point were
// computed by `step`'s forward (a cached run has a handful of runs: prefix, block, suffix).
json key_step_runs(const std::vector<int32_t>& key_step) {
    json runs = json::array();
    for (size_t j = 0; j < key_step.size(); ++j)
        if (j == 0 || key_step[j] != key_step[j - 1]) runs.push_back({static_cast<int>(j), key_step[j]});
    return runs;
}

// ============================================================================================
// [SECTION] the run as the page sees it
// ============================================================================================

// Tokens, commit steps and confidences of every canvas position, from the manifest; an incomplete
// run (no "tokens"/"commit_step"/"steps") falls back on the captured canvases, read in the pass.
struct DecodeInfo {
    json tokens = json::array();       // [L] piece or null (unknown)
    std::vector<int> commit_step;      // [L] -1 prompt, -2 never committed (or unknown)
    std::vector<double> confidence;    // [L] NaN where unknown
    bool from_manifest = false;
};

DecodeInfo decode_info_from_manifest(const analysis::RunReader& run) {
    const json& m = run.manifest();
    const int L = run.canvas_length(), P = run.prompt_length();
    DecodeInfo d;
    d.commit_step.assign(static_cast<size_t>(L), -2);
    d.confidence.assign(static_cast<size_t>(L), std::nan(""));
    for (int i = 0; i < P; ++i) d.commit_step[i] = -1;
    const bool has_tokens = m.contains("tokens") && m["tokens"].is_array() && static_cast<int>(m["tokens"].size()) == L;
    const bool has_commit = m.contains("commit_step") && m["commit_step"].is_array() && static_cast<int>(m["commit_step"].size()) == L;
    for (int i = 0; i < L; ++i) d.tokens.push_back(has_tokens && m["tokens"][i].is_string() ? m["tokens"][i] : json());
    if (has_commit)
        for (int i = P; i < L; ++i)
            if (m["commit_step"][i].is_number_integer() && m["commit_step"][i].get<int>() >= 0)
                d.commit_step[i] = m["commit_step"][i].get<int>();
    if (m.contains("steps") && m["steps"].is_array()) {
        for (const json& s : m["steps"]) {
            if (!s.is_object() || !s.contains("positions") || !s["positions"].is_array()) continue;
            const int step = s.value("step", -1);
            const json& pos = s["positions"];
            const json conf = s.value("confidences", json::array());
            for (size_t k = 0; k < pos.size(); ++k) {
                if (!pos[k].is_number_integer()) continue;
                const int p = pos[k].get<int>();
                if (p < P || p >= L) continue;
                if (!has_commit && step >= 0) d.commit_step[p] = step;
                if (k < conf.size() && conf[k].is_number()) d.confidence[p] = conf[k].get<double>();
            }
        }
    }
    d.from_manifest = has_tokens && has_commit;
    return d;
}

json run_meta(const analysis::RunReader& run, const DecodeInfo& d, const std::string& title) {
    const json& m = run.manifest();
    const json params = m.value("params", json::object());
    json conf = json::array();
    for (double c : d.confidence) conf.push_back(std::isfinite(c) ? json(std::round(c * 1e4) / 1e4) : json());
    json model = m.value("model", json::object());
    json meta = {
        {"format", "dlmscope-viewer"},
        {"version", 1},
        {"title", title},
        {"manifest", run.manifest_path()},
        {"complete", run.complete()},
        {"error", m.value("error", "")},
        {"warnings", run.warnings()},
        {"created", m.value("created", "")},
        {"generator", m.value("generator", "")},
        {"model", model},
        {"params", params},
        {"prompt", m.value("prompt", "")},
        {"prompt_text", m.value("prompt_text", "")},
        {"text", m.value("text", "")},
        {"text_with_special", m.value("text_with_special", "")},
        {"timings", m.value("timings", json::object())},
        {"P", run.prompt_length()},
        {"L", run.canvas_length()},
        {"T", run.total_steps()},
        {"steps_per_block", run.steps_per_block() > 0 ? json(run.steps_per_block()) : json()},  // null: varies
        {"block_length", params.value("block_length", 0)},
        {"num_blocks", m.value("num_blocks", 0)},
        {"mask_id", run.mask_id()},
        {"tokens", d.tokens},
        {"commit_step", d.commit_step},
        {"confidence", conf},
        {"decode_from_manifest", d.from_manifest},
    };
    json capture = m.value("capture", json::object());
    json stat_names = json::array(), row_sets = json::array();
    for (const char* s : kStatNames) stat_names.push_back(s);
    for (const char* s : kRowSetNames) row_sets.push_back(s);
    json steps = json::array();
    for (const auto& s : run.steps()) steps.push_back(s.step);
    meta["capture"] = {
        {"selection", capture.value("selection", "")},
        {"layers", run.captured_layers()},
        {"n_heads", run.n_heads()},
        {"map_heads", run.map_heads_label()},
        {"rows", {run.map_rows().first, run.map_rows().second}},
        {"dtype", run.map_dtype()},
        {"steps", steps},
        {"stat_names", stat_names},
        {"row_sets", row_sets},
    };
    // The decoding schedule: every step's record (a forward's kind and the rows it recomputed), the
    // steps each block took, and the cache mode. Columns indexed like "step".
    json sched_step = json::array(), sched_block = json::array(), sched_in_block = json::array(), sched_kind = json::array(),
         sched_rows = json::array();
    std::vector<int> block_steps;
    for (const auto& r : run.schedule()) {
        sched_step.push_back(r.step);
        sched_block.push_back(r.block);
        sched_in_block.push_back(r.step_in_block);
        sched_kind.push_back(r.kind);
        sched_rows.push_back({r.row_begin, r.row_end});
        if (r.block >= 0) {
            if (static_cast<int>(block_steps.size()) <= r.block) block_steps.resize(static_cast<size_t>(r.block) + 1, 0);
            ++block_steps[r.block];
        }
    }
    meta["schedule"] = {{"step", sched_step}, {"block", sched_block}, {"step_in_block", sched_in_block},
                        {"kind", sched_kind}, {"rows", sched_rows}};
    // Steps per block: the manifest's (a complete run), else counted from the records.
    const json bs = m.value("block_steps", json());
    meta["block_steps"] = bs.is_array() ? bs : block_steps.empty() ? json() : json(block_steps);
    meta["cache"] = {
        {"mode", run.cache_mode()},
        {"parallel_threshold", params.value("parallel_threshold", json())},
        {"refresh", params.value("cache_refresh", 0)},
        {"audit", params.value("cache_audit", false)},
    };
    return meta;
}

// The cache audit (--cache-audit): cache_drift.npy [audited steps, n_layers, H, 3] and the steps it
// covers, with the logits' agreement from those steps' records. Null when the run has none.
struct DriftData {
    json meta;                  // shape, steps, stat names, records' audit columns
    std::vector<uint16_t> f16;  // the array in f16
};

// Throws Error naming the file when the arrays are malformed; nullopt when the run has none.
std::optional<DriftData> read_drift(const analysis::RunReader& run) {
    if (!run.has_cache_drift()) return std::nullopt;
    const analysis::CacheDrift cd = run.load_cache_drift();
    DriftData d;
    for (float v : cd.stats) d.f16.push_back(f32_to_f16(v));
    json max_abs = json::array(), agree = json::array(), rows = json::array();
    for (size_t k = 0; k < cd.steps.size(); ++k) {
        const bool known = cd.argmax_agree[k] >= 0;  // -1: the step's record has no audit
        max_abs.push_back(std::isfinite(cd.logits_max_abs[k]) ? json(static_cast<float>(cd.logits_max_abs[k])) : json());
        agree.push_back(known ? json(cd.argmax_agree[k]) : json());
        rows.push_back(known ? json(cd.argmax_rows[k]) : json());
    }
    const std::vector<int64_t> shape = {static_cast<int64_t>(cd.steps.size()), cd.n_layers, cd.n_heads, kNumDriftStats};
    d.meta = {{"dtype", "f16"}, {"shape", shape}, {"stat_names", kDriftStatNames}, {"steps", cd.steps},
              {"logits_max_abs", max_abs}, {"argmax_agree", agree}, {"argmax_rows", rows}};
    return d;
}

// ============================================================================================
// [SECTION] choosing what fits
// ============================================================================================

struct Selection {
    std::vector<int> layers;       // indices into captured_layers()
    std::vector<int> heads;        // page entries of every selected layer: kHeadMean or a model head
    std::vector<int> head_layers;  // layers that also get `extra_heads` (per-head maps of some layers)
    std::vector<int> extra_heads;
    std::vector<int> heads_for(int li) const {
        std::vector<int> h = heads;
        if (std::find(head_layers.begin(), head_layers.end(), li) != head_layers.end())
            h.insert(h.end(), extra_heads.begin(), extra_heads.end());
        return h;
    }
    int stride = 1;           // every stride-th step with maps (by rank), plus the last
    bool keep_last = true;
    int max_steps = -1;       // cap on the number of steps (ranks) kept, -1 = none
    bool keeps(int rank, int n) const {
        if (max_steps >= 0) {
            if (max_steps == 0) return false;
            const auto picks = evenly_spaced(n, max_steps);
            return std::find(picks.begin(), picks.end(), rank) != picks.end();
        }
        return rank % stride == 0 || (keep_last && rank == n - 1);
    }
    int steps_kept(int n) const {
        int c = 0;
        for (int r = 0; r < n; ++r) c += keeps(r, n);
        return c;
    }
};

// ============================================================================================
// [SECTION] the writer: write() step by step
// ============================================================================================

// What the pass over the run gathers: every step's statistics, the maps of the selected steps.
struct PassData {
    std::vector<uint16_t> stats_f16;                              // [captured step][nl][H][sets][stats]
    std::map<int, std::map<std::pair<int, int>, MapBlob>> blobs;  // rank → (layer index, entry) → blob
    double map_bytes = 0.0;
    std::vector<std::vector<int32_t>> canvases;  // only for runs whose manifest lacks commit steps
    json query_rows = json::array(), key_steps = json::array();  // per captured step
};

// Where the blobs went: the maps' steps and ln(max) in page order, the cache audit's blob.
struct BlobLayout {
    BlobWriter bw;
    json map_steps = json::array(), map_hi = json::array();
    uint64_t embedded = 0;
    int drift_blob = -1;
};

// write() runs the steps below in order: what the run holds, what fits --max-mb, the pass over the
// steps, then the page (blobs, notes, metadata, template).
class ViewerWriter {
public:
    ViewerWriter(const analysis::RunReader& run, const ViewerOptions& opt) : run_(run), opt_(opt) {}
    ViewerResult write(const std::string& path);

private:
    void log(const std::string& s) const {
        if (opt_.verbose) opt_.verbose(s);
    }
    int n_captured() const { return static_cast<int>(run_.steps().size()); }
    int n_layers() const { return static_cast<int>(run_.captured_layers().size()); }

    // What the run holds.
    void find_map_entries();
    std::string page_title() const;
    void read_cache_audit();
    // What fits.
    double stats_raw_bytes() const;
    double fixed_bytes() const;
    void plan_maps();
    double estimate_map_bytes(const std::vector<int>& ranks_with_maps);
    void choose(double budget_bytes, double per_map, int n_steps);
    // The pass.
    void read_steps();
    bool read_stats_only(int k);
    void add_step(const std::vector<float>& stats, const std::vector<int32_t>& canvas, const std::vector<int32_t>& key_step);
    // The stored head of `entry` in a step's maps, or -1 when it is the mean over all stored heads.
    int stored_index(int entry) const;
    // Encodes the (layer index, entry) maps of a loaded step.
    std::vector<MapBlob> encode_step(const analysis::StepCapture& s, const std::vector<std::pair<int, int>>& which) const;
    void embed_maps(int rank, const analysis::StepCapture& s);
    void thin_selection();
    void drop_unselected_maps();
    void commits_from_canvases();
    // The page.
    BlobLayout lay_out_blobs();
    void add_notes(int kept_steps);
    int max_layer_heads(int kept_steps) const;
    json page_meta(const BlobLayout& b, int kept_steps) const;
    void write_page(const std::string& path, const std::string& meta_s, const std::string& blobs_html) const;
    ViewerResult result(const std::string& path, Clock::time_point t0, const BlobLayout& b, int kept_steps) const;

    const analysis::RunReader& run_;
    const ViewerOptions& opt_;
    int threads_ = 1;
    int R_ = 0, L_ = 0;
    bool has_maps_ = false;           // the run stores maps the page can show
    std::vector<int> entries_;        // every page head entry the run can give
    std::vector<int> ranks_with_maps_;  // indices into steps() that hold maps
    int n_map_steps_ = 0;
    uint64_t maps_available_ = 0;
    DecodeInfo decode_;
    std::string title_;
    std::optional<DriftData> drift_;
    std::string drift_error_;
    double map_budget_ = 0.0;
    Selection sel_;
    PassData pass_;
    std::vector<std::string> notes_;
};

ViewerResult ViewerWriter::write(const std::string& path) {
    const auto t0 = Clock::now();
    threads_ = opt_.threads > 0 ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
    L_ = run_.canvas_length();
    R_ = run_.map_rows().second - run_.map_rows().first;
    find_map_entries();
    decode_ = decode_info_from_manifest(run_);
    title_ = page_title();
    read_cache_audit();
    plan_maps();
    read_steps();
    commits_from_canvases();
    const BlobLayout blobs = lay_out_blobs();
    const int kept_steps = static_cast<int>(pass_.blobs.size());
    add_notes(kept_steps);
    write_page(path, script_json(page_meta(blobs, kept_steps)), blobs.bw.html);
    return result(path, t0, blobs, kept_steps);
}

// ---- what the run holds ----------------------------------------------------------------------

// Which page entries the run can give: the head mean (stored or derived from all heads), heads.
void ViewerWriter::find_map_entries() {
    const auto& steps = run_.steps();
    has_maps_ = run_.map_heads() != analysis::MapHeads::none && n_captured() > 0 && steps.front().has_attn;
    if (has_maps_) {
        switch (run_.map_heads()) {
            case analysis::MapHeads::mean: entries_ = {kHeadMean}; break;
            case analysis::MapHeads::all:
                entries_ = {kHeadMean};
                for (int h = 0; h < run_.n_heads(); ++h) entries_.push_back(h);
                break;
            case analysis::MapHeads::list: entries_ = run_.map_head_list(); break;
            case analysis::MapHeads::none: break;
        }
    }
    for (int k = 0; k < n_captured(); ++k)
        if (steps[k].has_attn) ranks_with_maps_.push_back(k);
    n_map_steps_ = static_cast<int>(ranks_with_maps_.size());
    maps_available_ = static_cast<uint64_t>(n_map_steps_) * n_layers() * entries_.size();
}

std::string ViewerWriter::page_title() const {
    if (!opt_.title.empty()) return opt_.title;
    std::string prompt = run_.manifest().value("prompt", "");
    if (prompt.empty()) prompt = fs::path(run_.manifest_path()).stem().string();
    if (prompt.size() > 80) prompt = prompt.substr(0, 77) + "...";
    return "dlmscope · " + prompt;
}

// The cache audit, when the run has one; a malformed one is reported on the page, not fatal.
void ViewerWriter::read_cache_audit() {
    try {
        drift_ = read_drift(run_);
    } catch (const Error& e) {
        drift_error_ = fmt::format("the cache audit is not shown: {}", e.what());
    }
}

// ---- what fits -------------------------------------------------------------------------------

// The statistics of every captured step in f16, uncompressed.
double ViewerWriter::stats_raw_bytes() const {
    return static_cast<double>(n_captured()) * n_layers() * run_.n_heads() * kNumRowSets * kNumStats * 2;
}

// Fixed part: template + assets + metadata + statistics (upper bound: f16, uncompressed, base64),
// the cache audit likewise, and the steps' key provenance (a few change points per step).
double ViewerWriter::fixed_bytes() const {
    const double drift_raw = drift_ ? static_cast<double>(drift_->f16.size()) * 2 : 0.0;
    return static_cast<double>(assets::kViewerHtml.size() + assets::kViewerJs.size() + assets::kViewerCss.size()) +
           static_cast<double>(script_json(run_meta(run_, decode_, title_)).size()) +
           (stats_raw_bytes() + drift_raw) * 4.0 / 3.0 + static_cast<double>(n_captured()) * 64 + 8192;
}

// The bytes left for maps, and the selection of maps that fits them.
void ViewerWriter::plan_maps() {
    map_budget_ = opt_.max_mb * kMB - fixed_bytes();
    if (!has_maps_) return;
    // Upper bound of one encoded map (incompressible codes + filter bytes + zlib + base64 + index).
    const double bound = (static_cast<double>(R_) * (L_ + 1) * 1.001 + 64) * 4.0 / 3.0 + 32;
    double per_map = bound;
    if (bound * static_cast<double>(maps_available_) > map_budget_) {
        per_map = estimate_map_bytes(ranks_with_maps_) * 1.08 + 32;
        log(fmt::format("viewer: about {:.1f} kB per map (sampled); {} maps in the run, {:.1f} MB for maps", per_map / 1e3,
                        maps_available_, map_budget_ / kMB));
    }
    choose(std::max(map_budget_, 0.0), per_map, n_map_steps_);
}

// Mean base64 bytes of one map, measured on up to 3 steps × 8 maps spread over the run.
double ViewerWriter::estimate_map_bytes(const std::vector<int>& ranks_with_maps) {
    const int n = static_cast<int>(ranks_with_maps.size());
    std::vector<int> sample;
    for (double f : {1.0 / 6, 0.5, 5.0 / 6}) sample.push_back(ranks_with_maps[std::min(n - 1, static_cast<int>(f * n))]);
    sample.erase(std::unique(sample.begin(), sample.end()), sample.end());
    std::vector<std::pair<int, int>> pairs;
    for (size_t li = 0; li < run_.captured_layers().size(); ++li)
        for (int e : entries_) pairs.emplace_back(static_cast<int>(li), e);
    std::vector<std::pair<int, int>> which;
    for (int k : evenly_spaced(static_cast<int>(pairs.size()), 8)) which.push_back(pairs[k]);
    double bytes = 0.0;
    int count = 0;
    for (int k : sample) {
        const analysis::StepCapture s = run_.load_step(static_cast<size_t>(k));
        for (const MapBlob& b : encode_step(s, which)) bytes += static_cast<double>(b.b64.size()), ++count;
    }
    return count ? bytes / count : 0.0;
}

// Picks the selection so that n_steps × layers × heads maps of `per_map` bytes fit the budget:
// per-head maps go first (the head mean stays), then every k-th step (down to 16 steps), then
// layers (evenly spaced), then steps again.
void ViewerWriter::choose(double budget, double per_map, int n_steps) {
    const int nl = n_layers();
    sel_.layers = evenly_spaced(nl, nl);
    sel_.heads = entries_;
    auto cost = [&] { return static_cast<double>(sel_.steps_kept(n_steps)) * sel_.layers.size() * sel_.heads.size() * per_map; };
    if (cost() <= budget) return;
    if (sel_.heads.size() > 1 && sel_.heads.front() == kHeadMean) {
        sel_.extra_heads.assign(sel_.heads.begin() + 1, sel_.heads.end());
        sel_.heads = {kHeadMean};
        if (cost() <= budget) {
            // The head mean of every layer fits: spend the rest on every head of evenly spaced layers.
            const double per_layer = static_cast<double>(sel_.steps_kept(n_steps)) * sel_.extra_heads.size() * per_map;
            const int n = static_cast<int>((budget - cost()) / std::max(per_layer, 1.0));
            for (int k : evenly_spaced(nl, n)) sel_.head_layers.push_back(k);
            return;
        }
    }
    const int min_steps = std::min(n_steps, 16);
    while (cost() > budget && sel_.steps_kept(n_steps) > min_steps) ++sel_.stride;
    if (sel_.steps_kept(n_steps) < min_steps) --sel_.stride;  // the floor is reached: thin layers instead
    if (cost() <= budget) return;
    const double per_layer = static_cast<double>(sel_.steps_kept(n_steps)) * sel_.heads.size() * per_map;
    const int layers_fit = static_cast<int>(budget / std::max(per_layer, 1.0));
    if (layers_fit >= 1) {
        sel_.layers = evenly_spaced(nl, layers_fit);
        return;
    }
    sel_.layers = evenly_spaced(nl, 1);
    sel_.max_steps = static_cast<int>(budget / std::max(static_cast<double>(sel_.heads.size()) * per_map, 1.0));
}

// ============================================================================================
// [SECTION] the pass over the run
// ============================================================================================

// Statistics of every captured step; the maps of the selected ones.
void ViewerWriter::read_steps() {
    const auto& steps = run_.steps();
    pass_.stats_f16.reserve(static_cast<size_t>(stats_raw_bytes() / 2));
    int map_rank = 0;
    for (int k = 0; k < n_captured(); ++k) {
        const int rank = steps[k].has_attn && has_maps_ ? map_rank++ : -1;
        const bool embed = rank >= 0 && sel_.keeps(rank, n_map_steps_) && !sel_.layers.empty();
        pass_.query_rows.push_back({steps[k].query_begin, steps[k].query_end});
        if (!embed && read_stats_only(k)) continue;
        const analysis::StepCapture s = run_.load_step(static_cast<size_t>(k));
        add_step(s.stats, s.canvas, s.key_step);
        if (!s.maps.empty() && embed) embed_maps(rank, s);
        log(fmt::format("viewer: step {} ({}/{})", s.step, k + 1, n_captured()));
    }
}

// A step whose maps stay out: its statistics and canvas only (a fraction of the file). False when
// the fast path does not apply.
bool ViewerWriter::read_stats_only(int k) {
    std::vector<float> stats;
    std::vector<int32_t> canvas, keys;
    if (!load_step_stats(run_, static_cast<size_t>(k), stats, canvas, keys)) return false;
    add_step(stats, canvas, keys);
    log(fmt::format("viewer: step {} ({}/{}), statistics", run_.steps()[k].step, k + 1, n_captured()));
    return true;
}

void ViewerWriter::add_step(const std::vector<float>& stats, const std::vector<int32_t>& canvas,
                            const std::vector<int32_t>& key_step) {
    for (float v : stats) pass_.stats_f16.push_back(f32_to_f16(v));
    if (!decode_.from_manifest) pass_.canvases.push_back(canvas);
    pass_.key_steps.push_back(key_step_runs(key_step));
}

int ViewerWriter::stored_index(int entry) const {
    if (run_.map_heads() == analysis::MapHeads::mean) return 0;
    if (entry == kHeadMean) return -1;
    const auto& list = run_.map_head_list();
    const auto it = std::find(list.begin(), list.end(), entry);
    DLM_ASSERT(it != list.end());
    return static_cast<int>(it - list.begin());
}

std::vector<MapBlob> ViewerWriter::encode_step(const analysis::StepCapture& s, const std::vector<std::pair<int, int>>& which) const {
    std::vector<MapBlob> out(which.size());
    const size_t n = static_cast<size_t>(R_) * L_;
    parallel_for(static_cast<int>(which.size()), threads_, [&](int t) {
        const auto [li, entry] = which[t];
        const int stored = stored_index(entry);
        std::vector<float> mean;
        // A stored head, or the mean over all stored heads (the run stores every head).
        const float* src = stored >= 0 ? s.map(li, stored) : s.head_mean(li, mean);
        std::vector<uint8_t> q(n);
        out[t].log_max = detail::quantise_log(src, n, q.data());  // NaN (rows not recomputed) → code 0 …
        const std::vector<uint8_t> absent = detail::absent_rows(src, R_, L_);  // … marked absent by their filter byte
        const std::vector<uint8_t> f = detail::filter_rows(q.data(), R_, L_, absent.data());
        const std::vector<uint8_t> z = detail::deflate_zlib(f.data(), f.size(), opt_.zlib_level);
        out[t].b64 = detail::base64(z.data(), z.size());
    });
    return out;
}

// Encodes the selected maps of a loaded step; when the maps so far are over budget (the estimate
// was low), thins the selection until they fit.
void ViewerWriter::embed_maps(int rank, const analysis::StepCapture& s) {
    std::vector<std::pair<int, int>> which;
    for (int li : sel_.layers)
        for (int e : sel_.heads_for(li)) which.emplace_back(li, e);
    std::vector<MapBlob> enc = encode_step(s, which);
    auto& slot = pass_.blobs[rank];
    for (size_t t = 0; t < which.size(); ++t) {
        pass_.map_bytes += static_cast<double>(enc[t].b64.size()) + 24;
        slot[which[t]] = std::move(enc[t]);
    }
    while (pass_.map_bytes > map_budget_ && !pass_.blobs.empty()) {
        thin_selection();
        drop_unselected_maps();
    }
}

// One notch less: drop the per-head maps, then keep every other step, then halve the layers.
void ViewerWriter::thin_selection() {
    if (!sel_.head_layers.empty()) {
        sel_.head_layers.clear();
    } else if (sel_.max_steps < 0 && sel_.steps_kept(n_map_steps_) > 2) {
        sel_.stride *= 2;
    } else if (sel_.layers.size() > 1) {
        std::vector<int> keep;
        for (size_t i = 0; i < sel_.layers.size(); i += 2) keep.push_back(sel_.layers[i]);
        sel_.layers = keep;
    } else {
        sel_.layers.clear();
    }
}

// Forgets the encoded maps the selection no longer keeps, and recounts the bytes of the rest.
void ViewerWriter::drop_unselected_maps() {
    pass_.map_bytes = 0.0;
    for (auto it = pass_.blobs.begin(); it != pass_.blobs.end();) {
        if (!sel_.keeps(it->first, n_map_steps_) || sel_.layers.empty()) {
            it = pass_.blobs.erase(it);
            continue;
        }
        for (auto b = it->second.begin(); b != it->second.end();) {
            const std::vector<int> hs = sel_.heads_for(b->first.first);
            if (std::find(sel_.layers.begin(), sel_.layers.end(), b->first.first) == sel_.layers.end() ||
                std::find(hs.begin(), hs.end(), b->first.second) == hs.end()) {
                b = it->second.erase(b);
            } else {
                pass_.map_bytes += static_cast<double>(b->second.b64.size()) + 24;
                ++b;
            }
        }
        ++it;
    }
}

// Commit steps from the captured canvases when the manifest has none (an incomplete run).
void ViewerWriter::commits_from_canvases() {
    if (decode_.from_manifest || pass_.canvases.empty()) return;
    const auto& steps = run_.steps();
    const auto& canvases = pass_.canvases;
    const int32_t mask = run_.mask_id();
    for (int i = run_.prompt_length(); i < L_; ++i) {
        if (decode_.commit_step[i] >= 0) continue;
        for (size_t k = 1; k < canvases.size(); ++k)
            if (canvases[k][i] != mask && canvases[k - 1][i] == mask) {
                decode_.commit_step[i] = steps[k].step - 1;
                break;
            }
    }
    for (int i = 0; i < L_; ++i)
        if (decode_.tokens[i].is_null() && canvases.back()[i] != mask) decode_.tokens[i] = fmt::format("#{}", canvases.back()[i]);
}

// ============================================================================================
// [SECTION] assembling the file
// ============================================================================================

// Blobs in page order: the statistics, then the maps [step][layer][head], then the cache audit (so
// that the maps keep starting at blob 1). They go into <script type="text/plain"> chunks of about
// 1 MB (a blob never spans two), which Chromium parses faster than one huge element; the page
// reads a chunk's text when it first needs it.
BlobLayout ViewerWriter::lay_out_blobs() {
    BlobLayout out;
    BlobWriter& bw = out.bw;
    bw.html.reserve(static_cast<size_t>(pass_.map_bytes) + pass_.stats_f16.size() * 3 + 4096);
    const std::vector<uint8_t> stats_z = detail::deflate_zlib(reinterpret_cast<const uint8_t*>(pass_.stats_f16.data()),
                                                              pass_.stats_f16.size() * 2, opt_.zlib_level);
    bw.add(detail::base64(stats_z.data(), stats_z.size()));
    for (auto& [rank, slot] : pass_.blobs) {
        out.map_steps.push_back(run_.steps()[ranks_with_maps_[rank]].step);
        for (int li : sel_.layers)
            for (int e : sel_.heads_for(li)) {
                MapBlob& b = slot.at({li, e});
                out.map_hi.push_back(std::isfinite(b.log_max) ? json(b.log_max) : json());
                bw.add(b.b64);
                std::string().swap(b.b64);
                ++out.embedded;
            }
    }
    if (drift_) {
        const std::vector<uint8_t> z = detail::deflate_zlib(reinterpret_cast<const uint8_t*>(drift_->f16.data()),
                                                            drift_->f16.size() * 2, opt_.zlib_level);
        out.drift_blob = static_cast<int>(bw.lengths.size());
        bw.add(detail::base64(z.data(), z.size()));
    }
    bw.finish();
    return out;
}

// What the selection left out, as the page (and the CLI) says it.
void ViewerWriter::add_notes(int kept_steps) {
    if (!has_maps_) return;
    const int nl = n_layers();
    if (kept_steps < n_map_steps_ && kept_steps > 0) {
        const std::string how =
            sel_.max_steps >= 0 ? "evenly spaced" : fmt::format("every {} captured step, and the last", ordinal(sel_.stride));
        notes_.push_back(fmt::format("maps of {} of the {} captured steps are embedded ({}); the slider shows the nearest "
                                     "embedded step's map, while the tokens and metric curves cover every step",
                                     kept_steps, n_map_steps_, how));
    }
    if (kept_steps > 0 && !sel_.extra_heads.empty()) {
        if (sel_.head_layers.empty()) {
            notes_.insert(notes_.begin(), "per-head maps are left out (the head mean is embedded; the metric curves still "
                                          "cover every head)");
        } else if (sel_.head_layers.size() < sel_.layers.size()) {
            std::string names;
            for (int li : sel_.head_layers)
                names += (names.empty() ? "" : ", ") + std::to_string(run_.captured_layers()[li]);
            notes_.insert(notes_.begin(),
                          fmt::format("per-head maps of {} of the {} layers are embedded (layer{} {}, marked “all heads” "
                                      "in the layer list); the other layers have the head mean, and the metric curves "
                                      "cover every head",
                                      sel_.head_layers.size(), sel_.layers.size(), sel_.head_layers.size() == 1 ? "" : "s",
                                      names));
        }
    }
    if (kept_steps > 0 && static_cast<int>(sel_.layers.size()) < nl)
        notes_.push_back(fmt::format("maps of {} of the {} captured layers are embedded (evenly spaced); the metric "
                                     "curves cover every layer",
                                     sel_.layers.size(), nl));
    if (kept_steps == 0)
        notes_.push_back(fmt::format("no attention map fits in --max-mb {}; only the tokens and metric curves are embedded",
                                     opt_.max_mb));
    if (!notes_.empty())
        notes_.push_back(fmt::format("the selection keeps the file under --max-mb {} (the run holds {} maps); rerun "
                                     "`dlmscope view` with a larger --max-mb to embed more",
                                     opt_.max_mb, maps_available_));
}

// The most head entries an embedded layer has.
int ViewerWriter::max_layer_heads(int kept_steps) const {
    int max_heads = 0;
    if (kept_steps)
        for (int li : sel_.layers) max_heads = std::max(max_heads, static_cast<int>(sel_.heads_for(li).size()));
    return max_heads;
}

// The run's metadata plus where the page finds the statistics, the maps and the cache audit.
json ViewerWriter::page_meta(const BlobLayout& b, int kept_steps) const {
    json meta = run_meta(run_, decode_, title_);
    json layer_heads = json::array();
    if (kept_steps)
        for (int li : sel_.layers) layer_heads.push_back(sel_.heads_for(li));
    meta["blobs"] = {{"lengths", b.bw.lengths}, {"chunks", b.bw.chunk_counts}};
    meta["stats"] = {{"blob", 0}, {"dtype", "f16"}, {"shape", {n_captured(), n_layers(), run_.n_heads(), kNumRowSets, kNumStats}}};
    // Per captured step: the rows its forward recomputed, and which step computed each key column.
    meta["capture"]["query_rows"] = pass_.query_rows;
    meta["capture"]["key_step"] = pass_.key_steps;
    if (drift_) {
        meta["drift"] = drift_->meta;
        meta["drift"]["blob"] = b.drift_blob;
    } else {
        meta["drift"] = json();
    }
    if (!drift_error_.empty()) meta["warnings"].push_back(drift_error_);
    meta["maps"] = {
        {"available", has_maps_},
        {"entries", entries_},
        {"steps", b.map_steps},
        {"layers", kept_steps ? sel_.layers : std::vector<int>{}},
        {"layer_heads", layer_heads},  // per embedded layer, its head entries in blob order
        {"rows", R_},
        {"cols", L_},
        {"first_blob", 1},
        {"log_max", b.map_hi},
        {"log_range", detail::kLogRange},
        {"encoding", "u8 log codes, PNG row filter (none/sub/up), zlib, base64"},
    };
    meta["embed"] = {{"max_mb", opt_.max_mb}, {"notes", notes_}, {"maps_embedded", b.embedded}, {"maps_available", maps_available_}};
    return meta;
}

// The template's markers take the CSS, the JS, the title, the metadata and the blobs.
void ViewerWriter::write_page(const std::string& path, const std::string& meta_s, const std::string& blobs_html) const {
    const std::string title_s = html_escape(title_);
    std::string_view tpl = assets::kViewerHtml;
    // The inline JS and CSS must not close their own elements early.
    DLM_ASSERT(assets::kViewerJs.find("</script") == std::string_view::npos && assets::kViewerJs.find("<!--") == std::string_view::npos);
    DLM_ASSERT(assets::kViewerCss.find("</style") == std::string_view::npos);
    std::vector<ConstBuffer> parts;
    const std::pair<std::string_view, std::string_view> markers[] = {
        {"@TITLE@", title_s}, {"/*@CSS@*/", assets::kViewerCss}, {"@META@", meta_s}, {"@BLOBS@", blobs_html}, {"/*@JS@*/", assets::kViewerJs}};
    size_t at = 0;
    std::vector<std::pair<size_t, int>> found;
    for (int i = 0; i < 5; ++i) {
        const size_t pos = tpl.find(markers[i].first);
        if (pos == std::string_view::npos) fail("viewer: the built-in template lacks the marker {}", markers[i].first);
        found.emplace_back(pos, i);
    }
    std::sort(found.begin(), found.end());
    for (auto [pos, i] : found) {
        parts.push_back({tpl.data() + at, pos - at});
        parts.push_back({markers[i].second.data(), markers[i].second.size()});
        at = pos + markers[i].first.size();
    }
    parts.push_back({tpl.data() + at, tpl.size() - at});
    if (const fs::path dir = fs::path(path).parent_path(); !dir.empty()) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) fail("cannot create {} for {}: {}", dir.string(), path, ec.message());
    }
    // write_file_atomic takes an initializer list; the parts are 11 pieces.
    DLM_ASSERT(parts.size() == 11);
    write_file_atomic(path, {parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7], parts[8],
                             parts[9], parts[10]});
}

ViewerResult ViewerWriter::result(const std::string& path, Clock::time_point t0, const BlobLayout& b, int kept_steps) const {
    ViewerResult r;
    r.path = path;
    r.bytes = fs::file_size(path);
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.steps_captured = n_captured();
    r.map_steps = kept_steps;
    r.map_layers = kept_steps ? static_cast<int>(sel_.layers.size()) : 0;
    r.map_heads = max_layer_heads(kept_steps);
    r.maps_embedded = b.embedded;
    r.maps_available = maps_available_;
    r.notes = notes_;
    if (!drift_error_.empty()) r.notes.push_back(drift_error_);
    if (static_cast<double>(r.bytes) > opt_.max_mb * kMB)
        r.notes.push_back(fmt::format("the file is {:.1f} MB, over --max-mb {}: the tokens and statistics alone need that much",
                                      r.bytes / kMB, opt_.max_mb));
    return r;
}

}  // namespace

ViewerResult write_viewer(const analysis::RunReader& run, const ViewerOptions& opt, const std::string& path) {
    if (!(opt.max_mb > 0)) fail("--max-mb {} must be positive", opt.max_mb);
    ViewerWriter w(run, opt);
    return w.write(path);
}

std::string default_viewer_path(const analysis::RunReader& run) {
    const fs::path m(run.manifest_path());
    return (m.parent_path() / (m.stem().string() + ".html")).string();
}

}  // namespace dlmscope::render
