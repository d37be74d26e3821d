#include "analysis/run-reader.h"

#include "capture/npz.h"
#include "capture/run-writer.h"
#include "capture/stats.h"
#include "core/error.h"
#include "core/file.h"
#include "core/dtype.h"
#include "core/npy.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

namespace fs = std::filesystem;

namespace dlmscope::analysis {

namespace {

constexpr const char* kDefaultManifest = "generation_with_attention.json";

// manifest[key], or an Error naming the manifest and the key.
const json& need(const json& obj, const std::string& key, const std::string& path, const std::string& where = "") {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        fail("{}: the manifest lacks \"{}{}\" (docs/run-format.md lists the fields)", path, where, key);
    return *it;
}

// An integer that fits an int. (nlohmann's get<int>() casts whatever number it holds: a float out of
// range is undefined behaviour, so every int read from the manifest goes through this check.)
bool is_int(const json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int>::max());
    return v.is_number_integer() && v.get<int64_t>() >= std::numeric_limits<int>::min() &&
           v.get<int64_t>() <= std::numeric_limits<int>::max();
}

int need_int(const json& obj, const std::string& key, const std::string& path, const std::string& where = "") {
    const json& v = need(obj, key, path, where);
    if (!is_int(v)) fail("{}: \"{}{}\" is {}, expected an integer", path, where, key, v.dump());
    return v.get<int>();
}

// Like need_int, but an absent or null key gives `fallback`.
int opt_int(const json& obj, const std::string& key, int fallback, const std::string& path, const std::string& where = "") {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? fallback : need_int(obj, key, path, where);
}

std::vector<int> int_list(const json& v, const std::string& what, const std::string& path) {
    if (!v.is_array()) fail("{}: {} is {}, expected a list of integers", path, what, v.dump());
    std::vector<int> out;
    for (const json& x : v) {
        if (!is_int(x)) fail("{}: {} holds {}, expected integers", path, what, x.dump());
        out.push_back(x.get<int>());
    }
    return out;
}

std::vector<int64_t> shape_of(const json& entry, const std::string& path) {
    std::vector<int64_t> s;
    for (int v : int_list(need(entry, "shape", path, "arrays[].") , "an arrays entry's \"shape\"", path)) s.push_back(v);
    return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// Finds the manifest of a run directory.
std::string find_manifest(const fs::path& dir) {
    // The error_code overloads throughout: a path the system refuses is an Error, not a throw.
    std::error_code ec, ignored;
    if (fs::is_regular_file(dir / kDefaultManifest, ignored)) return (dir / kDefaultManifest).string();
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file(ignored) || e.path().extension() != ".json") continue;
        try {
            const json j = read_json_file(e.path().string());
            if (j.is_object() && j.contains("format") && j["format"] == kRunFormat) found.push_back(e.path().string());
        } catch (const Error&) {
            // Not JSON, or not ours: skip it.
        }
    }
    if (ec) fail("cannot list {}: {}", dir.string(), ec.message());
    std::sort(found.begin(), found.end());
    if (found.empty())
        fail("{} holds no dlmscope run manifest (looked for {} and any *.json with \"format\": \"{}\")", dir.string(),
             kDefaultManifest, kRunFormat);
    if (found.size() > 1) {
        std::string names;
        for (const auto& f : found) names += (names.empty() ? "" : ", ") + fs::path(f).filename().string();
        fail("{} holds several run manifests ({}): pass one of them with --input", dir.string(), names);
    }
    return found[0];
}

// Maps names in the file's order to the canonical order `want`; missing names are an Error.
template <size_t N>
std::vector<int> name_index(const json& names, const std::array<const char*, N>& want, const std::string& key,
                            const std::string& path) {
    if (!names.is_array()) fail("{}: \"capture.{}\" is {}, expected a list of names", path, key, names.dump());
    std::vector<int> idx;
    for (const char* w : want) {
        int at = -1;
        for (size_t k = 0; k < names.size(); ++k)
            if (names[k].is_string() && names[k].get<std::string>() == w) at = static_cast<int>(k);
        if (at < 0) fail("{}: \"capture.{}\" lacks \"{}\" (found {})", path, key, w, names.dump());
        idx.push_back(at);
    }
    return idx;
}

// Element-wise widening to f32 of a float16/float32 array.
std::vector<float> floats_of(const NpyArray& a, const std::string& what) {
    const size_t n = static_cast<size_t>(a.size());
    std::vector<float> out(n);
    if (a.descr != "<f4" && a.descr != "<f2") fail("{} has dtype '{}', expected float16 or float32", what, a.descr);
    to_f32(a.descr == "<f4" ? DType::f32 : DType::f16, a.data.data(), static_cast<int64_t>(n), out.data());
    return out;
}

}  // namespace

std::span<const float> StepCapture::stats_of(int layer_index, int head, int row_set) const {
    const size_t at = ((static_cast<size_t>(layer_index) * n_heads + head) * kNumRowSets + row_set) * kNumStats;
    return {stats.data() + at, static_cast<size_t>(kNumStats)};
}

const float* StepCapture::map(int layer_index, int stored_head) const {
    const size_t per = static_cast<size_t>(row_end - row_begin) * canvas_length;
    return maps.data() + (static_cast<size_t>(layer_index) * stored_heads + stored_head) * per;
}

const float* StepCapture::head_mean(int layer_index, std::vector<float>& buf) const {
    DLM_ASSERT(stored_heads > 0);
    if (stored_heads == 1) return map(layer_index, 0);
    const size_t per = static_cast<size_t>(row_end - row_begin) * canvas_length;
    buf.assign(per, 0.0f);
    for (int h = 0; h < stored_heads; ++h) {
        const float* src = map(layer_index, h);
        for (size_t x = 0; x < per; ++x) buf[x] += src[x];
    }
    const float inv = 1.0f / static_cast<float>(stored_heads);
    for (float& v : buf) v *= inv;
    return buf.data();
}

RunReader RunReader::open(const std::string& input) {
    const fs::path in(input);
    std::error_code ec;
    if (!fs::exists(in, ec))
        fail("input {} does not exist{} (pass a run manifest or the run directory that holds it)", input,
             ec ? " (" + ec.message() + ")" : "");
    const std::string path = fs::is_directory(in, ec) ? find_manifest(in) : in.string();
    try {
        return open_manifest(path);
    } catch (const json::exception& e) {  // a field of the wrong type
        fail("{}: unexpected manifest content: {}", path, e.what());
    }
}

RunReader RunReader::open_manifest(const std::string& manifest_path) {
    RunReader r;
    r.path_ = manifest_path;
    r.root_ = fs::path(r.path_).parent_path().string();
    if (r.root_.empty()) r.root_ = ".";
    r.m_ = read_json_file(r.path_);
    const std::string& p = r.path_;
    const json& m = r.m_;
    if (!m.is_object() || !m.contains("format") || !m["format"].is_string() || m["format"].get<std::string>() != kRunFormat)
        fail("{} is not a dlmscope run manifest (\"format\" is {}, expected \"{}\")", p,
             m.is_object() && m.contains("format") ? m["format"].dump() : "missing", kRunFormat);
    const json& version = need(m, "version", p);
    if (!is_int(version) || version.get<int>() != kRunFormatVersion)
        fail("{}: run format version {} is not supported (this dlmscope reads version {}); analyse it with the dlmscope "
             "that wrote it, or regenerate the run",
             p, version.dump(), kRunFormatVersion);

    r.complete_ = m.value("complete", false);
    r.prompt_length_ = need_int(m, "prompt_length", p);
    r.canvas_length_ = need_int(m, "canvas_length", p);
    if (r.prompt_length_ < 0 || r.canvas_length_ <= r.prompt_length_)
        fail("{}: prompt_length {} and canvas_length {} do not describe a canvas", p, r.prompt_length_, r.canvas_length_);
    const json& params = need(m, "params", p);
    r.mask_id_ = need_int(params, "mask_id", p, "params.");
    r.total_steps_ = m.contains("total_steps") ? need_int(m, "total_steps", p) : need_int(params, "steps", p, "params.");
    // null: the schedule varies (threshold or cached decoding); the steps' records say what it was.
    r.steps_per_block_ = !m.contains("steps_per_block") ? r.total_steps_ : m["steps_per_block"].is_null() ? 0 : need_int(m, "steps_per_block", p);
    if (params.contains("cache") && params["cache"].is_string()) r.cache_mode_ = params["cache"].get<std::string>();
    if (m.contains("steps") && m["steps"].is_array())
        for (const json& st : m["steps"]) {
            StepRecordInfo info;
            info.step = need_int(st, "step", p, "steps[].");
            info.block = opt_int(st, "block", -1, p, "steps[].");
            info.step_in_block = opt_int(st, "step_in_block", -1, p, "steps[].");
            info.kind = st.value("kind", "full");
            info.row_begin = 0;
            info.row_end = r.canvas_length_;
            if (st.contains("rows")) {
                const std::vector<int> rows = int_list(st["rows"], fmt::format("step {}'s \"rows\"", info.step), p);
                if (rows.size() != 2 || rows[0] < 0 || rows[0] >= rows[1] || rows[1] > r.canvas_length_)
                    fail("{}: step {}'s \"rows\" {} is not [begin, end) inside the canvas", p, info.step, st["rows"].dump());
                info.row_begin = rows[0];
                info.row_end = rows[1];
            }
            r.schedule_.push_back(info);
        }
    const json& config = need(need(m, "model", p), "config", p, "model.");
    r.n_layers_ = need_int(config, "n_layers", p, "model.config.");
    r.n_heads_ = need_int(config, "n_heads", p, "model.config.");

    // The capture summary is complete after finish() or abort(); a killed run has only the
    // selection, so every field below falls back on the arrays index and capture/stats.h.
    const json capture = m.value("capture", json::object());
    if (capture.contains("stat_names")) {
        r.stat_index_ = name_index(capture["stat_names"], kStatNames, "stat_names", p);
        r.file_stats_ = static_cast<int>(capture["stat_names"].size());
    } else {
        for (int k = 0; k < kNumStats; ++k) r.stat_index_.push_back(k);
        r.file_stats_ = kNumStats;
    }
    if (capture.contains("row_sets")) {
        r.row_set_index_ = name_index(capture["row_sets"], kRowSetNames, "row_sets", p);
        r.file_row_sets_ = static_cast<int>(capture["row_sets"].size());
    } else {
        for (int k = 0; k < kNumRowSets; ++k) r.row_set_index_.push_back(k);
        r.file_row_sets_ = kNumRowSets;
    }

    // Index the captured steps.
    const json& arrays = need(m, "arrays", p);
    if (!arrays.is_array()) fail("{}: \"arrays\" is not a list", p);
    std::map<int, StepIndex> by_step;
    std::map<int, json> attn_of;
    for (const json& e : arrays) {
        const std::string kind = e.value("kind", "");
        // Every indexed file must lie inside the run (whatever reads it later: steps, history, audit).
        if (e.is_object() && e.contains("file") && e["file"].is_string())
            path_inside(r.root_, e["file"].get<std::string>(), p, fmt::format("the \"file\" of an arrays entry (kind '{}')", kind));
        if (kind != "stats" && kind != "attention" && kind != "canvas" && kind != "key_step") continue;
        const int step = need_int(e, "step", p, "arrays[].");
        StepIndex& s = by_step[step];
        const std::string file = path_inside(r.root_, need(e, "file", p, "arrays[].").get<std::string>(), p,
                                             fmt::format("step {}'s \"file\"", step));
        if (!s.file.empty() && s.file != file)
            fail("{}: step {} is indexed in two files ({} and {})", p, step, s.file, file);
        s.file = file;
        s.step = step;
        s.block = opt_int(e, "block", -1, p, "arrays[].");
        s.step_in_block = opt_int(e, "step_in_block", -1, p, "arrays[].");
        if (e.contains("layers")) s.layers = int_list(e["layers"], fmt::format("step {}'s \"layers\"", step), p);
        s.query_begin = 0;
        s.query_end = r.canvas_length_;
        if (e.contains("query_rows")) {
            const std::vector<int> q = int_list(e["query_rows"], fmt::format("step {}'s \"query_rows\"", step), p);
            if (q.size() != 2 || q[0] < 0 || q[0] >= q[1] || q[1] > r.canvas_length_)
                fail("{}: step {}'s \"query_rows\" {} is not [begin, end) inside the canvas", p, step, e["query_rows"].dump());
            s.query_begin = q[0];
            s.query_end = q[1];
        }
        if (kind == "key_step") s.has_key_step = true;
        if (kind == "attention") {
            s.has_attn = true;
            attn_of[step] = e;
        }
    }
    if (by_step.empty())
        fail("{}: no captured step is indexed in \"arrays\"{} — generate with --visualize-attention (or --capture-*) to "
             "capture attention",
             p, r.complete_ ? "" : fmt::format(" (the run is incomplete: {})", m.value("error", "no reason given")));
    for (auto& [step, s] : by_step) {
        if (s.layers.empty()) fail("{}: step {} has no \"layers\" in its arrays entries", p, step);
        std::error_code ec;  // a name the system refuses (too long, say) is a missing file, not a throw
        const fs::file_status st = fs::status(s.file, ec);
        if (!fs::is_regular_file(st))
            fail("{}: step {}'s arrays file {} is missing{} (it is indexed in \"arrays\")", p, step, s.file,
                 ec && st.type() != fs::file_type::not_found ? " (" + ec.message() + ")" : "");
        if (r.steps_.empty()) {
            r.layers_ = s.layers;
        } else if (s.layers != r.layers_) {
            fail("{}: step {} captured layers {} but step {} captured {}; dlmscope analyses runs with one layer selection", p,
                 step, json(s.layers).dump(), r.steps_.front().step, json(r.layers_).dump());
        }
        for (int l : s.layers)
            if (l < 0 || l >= r.n_layers_) fail("{}: step {} lists layer {}, but the model has {} layers", p, step, l, r.n_layers_);
        r.steps_.push_back(s);
    }

    // Maps: the first step's attention entry says which heads every step stores; the run's rows are
    // the capture's (a cached step stores only the part of them it recomputed).
    if (!attn_of.empty()) {
        const json& e = attn_of.begin()->second;
        const std::vector<int64_t> shape = shape_of(e, p);
        if (shape.size() != 4 || shape[0] != static_cast<int64_t>(r.layers_.size()) || shape[1] < 1 || shape[3] != r.canvas_length_)
            fail("{}: step {}'s attention shape {} is not [layers {}, heads, rows, canvas_length {}]", p,
                 attn_of.begin()->first, shape_str(shape), r.layers_.size(), r.canvas_length_);
        r.stored_heads_ = static_cast<int>(shape[1]);
        const json heads = e.value("heads", json(""));
        r.map_heads_label_ = heads.is_string() ? heads.get<std::string>() : heads.dump();
        if (r.map_heads_label_ == "mean") {
            r.map_heads_ = MapHeads::mean;
        } else if (r.map_heads_label_ == "all") {
            r.map_heads_ = MapHeads::all;
            for (int h = 0; h < r.n_heads_; ++h) r.map_head_list_.push_back(h);
        } else {
            r.map_heads_ = MapHeads::list;
            std::string label = r.map_heads_label_;
            for (size_t pos = 0; pos <= label.size();) {
                const size_t comma = std::min(label.find(',', pos), label.size());
                try {
                    r.map_head_list_.push_back(std::stoi(label.substr(pos, comma - pos)));
                } catch (const std::exception&) {
                    fail("{}: attention \"heads\" is \"{}\", expected mean, all or a list of heads", p, label);
                }
                pos = comma + 1;
            }
        }
        // Analysis indexes its per-head tables by these: each must be a head of the model.
        for (int h : r.map_head_list_)
            if (h < 0 || h >= r.n_heads_)
                fail("{}: attention \"heads\" {} names head {}, but the model has {} heads", p, r.map_heads_label_, h, r.n_heads_);
        if (r.map_heads_ != MapHeads::mean && static_cast<int>(r.map_head_list_.size()) != r.stored_heads_)
            fail("{}: attention \"heads\" {} names {} heads but its shape {} stores {}", p, r.map_heads_label_,
                 r.map_head_list_.size(), shape_str(shape), r.stored_heads_);
        // Each step's stored rows, checked against its shape; the run's rows are the capture's, else
        // the union of the steps'.
        r.row_begin_ = r.canvas_length_;
        r.row_end_ = 0;
        for (auto& [step, ae] : attn_of) {
            const int at = step;  // clang (-fopenmp) cannot capture a structured binding in a lambda
            StepIndex& s = *std::find_if(r.steps_.begin(), r.steps_.end(), [&](const StepIndex& x) { return x.step == at; });
            const std::vector<int64_t> sh = shape_of(ae, p);
            s.attn_begin = 0;
            s.attn_end = r.canvas_length_;
            if (ae.contains("rows")) {
                const std::vector<int> rows = int_list(ae["rows"], "attention \"rows\"", p);
                if (rows.size() != 2) fail("{}: attention \"rows\" is {}, expected [begin, end]", p, ae["rows"].dump());
                s.attn_begin = rows[0];
                s.attn_end = rows[1];
            }
            if (sh.size() != 4 || s.attn_begin < 0 || s.attn_end > r.canvas_length_ || s.attn_end - s.attn_begin != sh[2])
                fail("{}: step {}'s attention rows [{}, {}) do not match its shape {}", p, step, s.attn_begin, s.attn_end, shape_str(sh));
            r.row_begin_ = std::min(r.row_begin_, s.attn_begin);
            r.row_end_ = std::max(r.row_end_, s.attn_end);
        }
        if (capture.contains("rows")) {
            const std::vector<int> rows = int_list(capture["rows"], "capture \"rows\"", p);
            if (rows.size() != 2 || rows[0] < 0 || rows[0] > r.row_begin_ || rows[1] < r.row_end_ || rows[1] > r.canvas_length_)
                fail("{}: capture \"rows\" {} does not hold every step's stored rows [{}, {})", p, capture["rows"].dump(),
                     r.row_begin_, r.row_end_);
            r.row_begin_ = rows[0];
            r.row_end_ = rows[1];
        }
        r.map_dtype_ = e.value("dtype", "");
    }

    if (!r.complete_) {
        const int shown = static_cast<int>(r.steps_.size());
        r.warnings_.push_back(fmt::format("{}: the run is incomplete ({}); analysing the {} captured step{} it indexed", p,
                                          m.value("error", "no reason given"), shown, shown == 1 ? "" : "s"));
    }
    return r;
}

StepCapture RunReader::load_step(size_t k) const {
    DLM_ASSERT(k < steps_.size());
    const StepIndex& idx = steps_[k];
    std::map<std::string, NpyArray> members;
    try {
        members = read_npz(idx.file);
    } catch (const Error& e) {
        fail("step {}: {}", idx.step, e.what());
    }
    auto member = [&](const char* name) -> const NpyArray& {
        const auto it = members.find(name);
        if (it == members.end()) fail("{}: member '{}' is missing (step {} is indexed in {})", idx.file, name, idx.step, path_);
        return it->second;
    };
    auto check_shape = [&](const NpyArray& a, const char* name, const std::vector<int64_t>& want) {
        if (a.shape != want)
            fail("{}: member '{}' has shape {}, expected {}", idx.file, name, shape_str(a.shape), shape_str(want));
    };

    StepCapture s;
    s.step = idx.step;
    s.block = idx.block;
    s.step_in_block = idx.step_in_block;
    s.layers = idx.layers;
    s.n_heads = n_heads_;
    s.canvas_length = canvas_length_;
    const int nl = static_cast<int>(idx.layers.size()), H = n_heads_, L = canvas_length_;

    const NpyArray& canvas = member("canvas");
    check_shape(canvas, "canvas", {L});
    if (canvas.descr != "<i4" && canvas.descr != "<i8")
        fail("{}: member 'canvas' has dtype '{}', expected int32", idx.file, canvas.descr);
    for (int64_t v : canvas.as_i64()) s.canvas.push_back(static_cast<int32_t>(v));

    const NpyArray& stats = member("stats");
    check_shape(stats, "stats", {nl, H, file_row_sets_, file_stats_});
    const std::vector<float> raw = floats_of(stats, idx.file + ": member 'stats'");
    s.stats.resize(static_cast<size_t>(nl) * H * kNumRowSets * kNumStats);
    for (int l = 0; l < nl; ++l)
        for (int h = 0; h < H; ++h)
            for (int r = 0; r < kNumRowSets; ++r)
                for (int st = 0; st < kNumStats; ++st)
                    s.stats[((static_cast<size_t>(l) * H + h) * kNumRowSets + r) * kNumStats + st] =
                        raw[((static_cast<size_t>(l) * H + h) * file_row_sets_ + row_set_index_[r]) * file_stats_ +
                            stat_index_[st]];

    s.query_begin = idx.query_begin;
    s.query_end = idx.query_end;
    s.recomputed.assign(static_cast<size_t>(L), 0);
    std::fill(s.recomputed.begin() + idx.query_begin, s.recomputed.begin() + idx.query_end, 1);
    if (idx.has_key_step) {
        const NpyArray& ks = member("key_step");
        check_shape(ks, "key_step", {L});
        for (int64_t v : ks.as_i64()) s.key_step.push_back(static_cast<int32_t>(v));
    } else {
        s.key_step.assign(static_cast<size_t>(L), idx.step);  // runs before cached decoding: every key fresh
    }

    // Maps over the run's rows [row_begin_, row_end_): the rows this step stored, NaN for the rows its
    // forward did not recompute (they have no attention at this step).
    if (stored_heads_ > 0) {
        const int R = row_end_ - row_begin_;
        s.maps.assign(static_cast<size_t>(nl) * stored_heads_ * R * L, std::numeric_limits<float>::quiet_NaN());
        s.stored_heads = stored_heads_;
        s.row_begin = row_begin_;
        s.row_end = row_end_;
        if (idx.has_attn) {
            const NpyArray& attn = member("attn");
            const int Rs = idx.attn_end - idx.attn_begin;
            check_shape(attn, "attn", {nl, stored_heads_, Rs, L});
            const std::vector<float> got = floats_of(attn, idx.file + ": member 'attn'");
            for (int64_t m = 0; m < static_cast<int64_t>(nl) * stored_heads_; ++m)
                std::copy_n(got.begin() + m * Rs * L, static_cast<int64_t>(Rs) * L,
                            s.maps.begin() + (m * R + (idx.attn_begin - row_begin_)) * L);
        }
    }
    return s;
}

namespace {

// The file of the first "arrays" entry of `kind`, or "" when none.
std::string indexed_file(const json& m, const std::string& root, const std::string& manifest, const std::string& kind) {
    for (const json& e : m.value("arrays", json::array()))
        if (e.value("kind", "") == kind && e.contains("file") && e["file"].is_string())
            return path_inside(root, e["file"].get<std::string>(), manifest, fmt::format("the {} array's \"file\"", kind));
    return "";
}

}  // namespace

bool RunReader::has_cache_drift() const { return !indexed_file(m_, root_, path_, "cache_drift").empty(); }

CacheDrift RunReader::load_cache_drift() const {
    const std::string file = indexed_file(m_, root_, path_, "cache_drift"), steps_file = indexed_file(m_, root_, path_, "cache_drift_steps");
    if (file.empty() || steps_file.empty())
        fail("{}: the run holds no cache audit (generate with --cache prefix|dual and --cache-audit)", path_);
    const NpyArray a = read_npy(file), st = read_npy(steps_file);
    if (a.shape.size() != 4 || a.shape[1] != n_layers_ || a.shape[2] != n_heads_ || a.shape[3] != kNumDriftStats)
        fail("{}: shape {} is not [audited steps, n_layers {}, n_heads {}, {}]", file, shape_str(a.shape), n_layers_, n_heads_,
             kNumDriftStats);
    if (st.shape != std::vector<int64_t>{a.shape[0]})
        fail("{}: shape {} does not match the {} audited steps of {}", steps_file, shape_str(st.shape), a.shape[0], file);
    CacheDrift d;
    d.n_layers = n_layers_;
    d.n_heads = n_heads_;
    d.stats = floats_of(a, file);
    for (int64_t v : st.as_i64()) d.steps.push_back(static_cast<int>(v));
    std::map<int, const json*> audit_of;  // points into m_
    if (m_.contains("steps") && m_["steps"].is_array())
        for (const json& r : m_["steps"])
            if (r.contains("audit") && r["audit"].is_object() && r.contains("step") && is_int(r["step"]))
                audit_of[r["step"].get<int>()] = &r["audit"];
    for (int s : d.steps) {
        const auto it = audit_of.find(s);
        const json* au = it == audit_of.end() ? nullptr : it->second;
        const bool has_max = au && au->contains("logits_max_abs") && (*au)["logits_max_abs"].is_number();
        d.logits_max_abs.push_back(has_max ? (*au)["logits_max_abs"].get<double>() : std::numeric_limits<double>::quiet_NaN());
        d.argmax_agree.push_back(au ? opt_int(*au, "argmax_agree", -1, path_, "steps[].audit.") : -1);
        d.argmax_rows.push_back(au ? opt_int(*au, "argmax_rows", 0, path_, "steps[].audit.") : 0);
    }
    return d;
}

bool RunReader::is_block_last(int step) const {
    for (size_t k = 0; k < schedule_.size(); ++k)
        if (schedule_[k].step == step) return k + 1 == schedule_.size() || schedule_[k + 1].block != schedule_[k].block;
    if (steps_per_block_ <= 0) return false;
    return step % steps_per_block_ == steps_per_block_ - 1;
}

}  // namespace dlmscope::analysis
