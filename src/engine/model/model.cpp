#include "engine/model/model.h"

#include "core/error.h"
#include "core/half.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>

namespace dlmscope {

void Weight::row_to_f32(int64_t r, float* out) const {
    const int64_t off = r * cols;
    switch (dtype) {
        case DType::f32: std::memcpy(out, static_cast<const float*>(data) + off, cols * sizeof(float)); break;
        case DType::bf16: {
            const uint16_t* p = static_cast<const uint16_t*>(data) + off;
            for (int64_t i = 0; i < cols; ++i) out[i] = bf16_to_f32(p[i]);
            break;
        }
        case DType::f16: {
            const uint16_t* p = static_cast<const uint16_t*>(data) + off;
            for (int64_t i = 0; i < cols; ++i) out[i] = f16_to_f32(p[i]);
            break;
        }
    }
}

WeightPrecision parse_weight_precision(const std::string& s) {
    if (s == "auto") return WeightPrecision::automatic;
    if (s == "f32") return WeightPrecision::f32;
    if (s == "native") return WeightPrecision::native;
    fail("unknown weight precision '{}' (expected auto, f32 or native)", s);
}

namespace {

// Binds a checkpoint tensor after checking its shape.
Weight bind(const SafetensorsCheckpoint& ck, const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = ck.get(name);
    if (t.shape != shape) {
        TensorView want;
        want.shape = shape;
        fail("{}: tensor '{}' has shape {}, expected {} from config.json", t.file, name, t.shape_str(), want.shape_str());
    }
    Weight w;
    w.dtype = t.dtype;
    w.data = t.data;
    w.rows = shape.size() == 2 ? shape[0] : 1;
    w.cols = shape.back();
    if (t.dtype == DType::f32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) != 0) {
        // Misaligned f32 data in the file: keep an aligned copy.
        w.owned.resize(static_cast<size_t>(w.rows * w.cols));
        std::memcpy(w.owned.data(), t.data, t.nbytes);
        w.data = w.owned.data();
    }
    return w;
}

void widen(Weight& w) {
    if (w.dtype == DType::f32) return;
    std::vector<float> buf(static_cast<size_t>(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r) w.row_to_f32(r, buf.data() + r * w.cols);
    w.owned = std::move(buf);
    w.data = w.owned.data();
    w.dtype = DType::f32;
}

size_t physical_memory() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts) {
    std::unique_ptr<Model> m(new Model());
    m->dir_ = dir;
    m->config_ = load_model_config(dir);
    m->ckpt_ = std::make_unique<SafetensorsCheckpoint>(dir);
    const ModelConfig& c = m->config_;
    const SafetensorsCheckpoint& ck = *m->ckpt_;
    const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim, f = c.mlp_hidden, V = c.output_width;
    const std::string p = "model.transformer.";
    ModelWeights& w = m->weights_;
    w.embed = bind(ck, p + "wte.weight", {V, d});
    w.final_norm = bind(ck, p + "ln_f.weight", {d});
    w.head = bind(ck, p + "ff_out.weight", {V, d});
    for (int i = 0; i < c.n_layers; ++i) {
        const std::string b = fmt::format("{}blocks.{}.", p, i);
        LayerWeights l;
        l.attn_norm = bind(ck, b + "attn_norm.weight", {d});
        l.q = bind(ck, b + "q_proj.weight", {d, d});
        l.k = bind(ck, b + "k_proj.weight", {kv, d});
        l.v = bind(ck, b + "v_proj.weight", {kv, d});
        l.attn_out = bind(ck, b + "attn_out.weight", {d, d});
        l.ff_norm = bind(ck, b + "ff_norm.weight", {d});
        l.gate = bind(ck, b + "ff_proj.weight", {f, d});
        l.up = bind(ck, b + "up_proj.weight", {f, d});
        l.down = bind(ck, b + "ff_out.weight", {d, f});
        w.layers.push_back(std::move(l));
    }

    bool wide = opts.precision == WeightPrecision::f32;
    if (opts.precision == WeightPrecision::automatic) {
        const size_t f32_bytes = static_cast<size_t>(c.n_params()) * 4;
        wide = f32_bytes <= physical_memory() / 3;
    }
    if (wide) {
        widen(w.embed);
        widen(w.final_norm);
        widen(w.head);
        for (auto& l : w.layers)
            for (Weight* x : {&l.attn_norm, &l.q, &l.k, &l.v, &l.attn_out, &l.ff_norm, &l.gate, &l.up, &l.down}) widen(*x);
    }
    m->widened_ = wide;
    if (wide) {
        // Every weight now lives in its own f32 buffer unless it was stored as f32 (then it still
        // points into the mapping): only when none does can the mapped pages go, halving RSS.
        bool all_owned = !w.embed.owned.empty() && !w.final_norm.owned.empty() && !w.head.owned.empty();
        for (const auto& l : w.layers)
            for (const Weight* x : {&l.attn_norm, &l.q, &l.k, &l.v, &l.attn_out, &l.ff_norm, &l.gate, &l.up, &l.down})
                all_owned = all_owned && !x->owned.empty();
        if (all_owned) ck.release_pages();
    }
    return m;
}

size_t Model::weight_bytes_resident() const {
    auto bytes = [](const Weight& x) { return static_cast<size_t>(x.rows * x.cols) * dtype_size(x.dtype); };
    size_t n = bytes(weights_.embed) + bytes(weights_.final_norm) + bytes(weights_.head);
    for (const auto& l : weights_.layers)
        for (const Weight* x : {&l.attn_norm, &l.q, &l.k, &l.v, &l.attn_out, &l.ff_norm, &l.gate, &l.up, &l.down}) n += bytes(*x);
    return n;
}

}  // namespace dlmscope
