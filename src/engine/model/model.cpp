#include "engine/model/model.h"

#include "core/error.h"
#include "core/mmap.h"
#include "engine/checkpoint/llada-tensors.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>

namespace dlmscope {

void Weight::row_to_f32(int64_t r, float* out) const {
    to_f32(dtype, static_cast<const uint8_t*>(data) + r * cols * static_cast<int64_t>(dtype_size(dtype)), cols, out);
}

namespace {

// Binds a checkpoint tensor after checking its shape.
Weight bind_tensor(const SafetensorsCheckpoint& ck, const std::string& name, std::vector<int64_t> shape) {
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

// Calls f on every weight (matrices and vectors), or on the 2-D ones the matmul reads.
template <typename W, typename F>
void for_each_weight(W& w, F&& f) {
    for (auto* x : {&w.embed, &w.final_norm, &w.head}) f(*x);
    for (auto& l : w.layers)
        for (auto* x : {&l.attn_norm, &l.q, &l.k, &l.v, &l.attn_out, &l.ff_norm, &l.gate, &l.up, &l.down}) f(*x);
}
template <typename W, typename F>
void for_each_matrix(W& w, F&& f) {
    f(w.head);
    for (auto& l : w.layers)
        for (auto* x : {&l.q, &l.k, &l.v, &l.attn_out, &l.gate, &l.up, &l.down}) f(*x);
}

}  // namespace

size_t physical_memory() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

WeightMemory plan_weight_memory(const ModelConfig& c, size_t stored_bytes, const LoadOptions& opts, const kernels::Backend& b) {
    const size_t f32_bytes = static_cast<size_t>(c.n_params()) * 4;
    WeightMemory m;
    m.widen = opts.weights == WeightPrecision::f32 ||
              (opts.weights == WeightPrecision::automatic && b.prefers_f32_weights() && opts.precision == kernels::Precision::f32 &&
               f32_bytes <= physical_memory() / 3);
    m.bytes = m.widen ? f32_bytes : stored_bytes;
    return m;
}

namespace {
std::string gib(size_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0)); }
}  // namespace

void check_weight_memory(const std::string& dir, const ModelConfig& c, size_t stored_bytes, const LoadOptions& opts,
                         const kernels::Backend& b, size_t phys) {
    constexpr size_t kHeadroom = size_t(1) << 30;  // activations, capture buffers, the rest of the process
    const WeightMemory plan = plan_weight_memory(c, stored_bytes, opts, b);
    if (phys == 0 || plan.bytes + kHeadroom <= phys) return;
    if (plan.widen && stored_bytes + kHeadroom <= phys)
        fail("{}: widening the weights to f32 needs {} of memory, this machine has {}; use --weights native (keeps the stored "
             "weights, {})",
             dir, gib(plan.bytes), gib(phys), gib(stored_bytes));
    fail("{}: the weights need {} of memory ({} parameters as stored) and 1 GiB beside them; this machine has {}", dir, gib(plan.bytes),
         c.n_params(), gib(phys));
}

std::unique_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts, bool prepare) {
    std::unique_ptr<Model> m(new Model());
    m->dir_ = dir;
    m->config_ = load_model_config(dir);
    m->backend_ = &kernels::select_backend(opts.backend);
    m->precision_ = opts.precision;
    m->ckpt_ = std::make_unique<SafetensorsCheckpoint>(dir);
    const ModelConfig& c = m->config_;
    const SafetensorsCheckpoint& ck = *m->ckpt_;
    const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim, f = c.mlp_hidden, V = c.output_width;
    using llada::Tensor;
    const llada::Sizes sizes{d, kv, f, V};
    auto get = [&](Tensor t, int layer) { return bind_tensor(ck, llada::tensor_name(t, layer), llada::tensor_shape(t, sizes)); };
    ModelWeights& w = m->weights_;
    w.embed = get(Tensor::wte, 0);
    w.final_norm = get(Tensor::ln_f, 0);
    w.head = get(Tensor::head, 0);
    for (int i = 0; i < c.n_layers; ++i) {
        LayerWeights l;
        l.attn_norm = get(Tensor::attn_norm, i);
        l.q = get(Tensor::q_proj, i);
        l.k = get(Tensor::k_proj, i);
        l.v = get(Tensor::v_proj, i);
        l.attn_out = get(Tensor::attn_out, i);
        l.ff_norm = get(Tensor::ff_norm, i);
        l.gate = get(Tensor::ff_proj, i);
        l.up = get(Tensor::up_proj, i);
        l.down = get(Tensor::ff_out, i);
        w.layers.push_back(std::move(l));
    }
    size_t stored = 0;
    for_each_weight(w, [&](const Weight& x) { stored += static_cast<size_t>(x.rows * x.cols) * dtype_size(x.dtype); });
    if (!prepare) return m;
    check_weight_memory(dir, c, stored, opts, *m->backend_, physical_memory());

    const bool wide = plan_weight_memory(c, stored, opts, *m->backend_).widen;
    if (wide) for_each_weight(w, [](Weight& x) { widen(x); });
    m->widened_ = wide;
    if (wide) {
        // Every weight now lives in its own f32 buffer unless it was stored as f32 (then it still
        // points into the mapping): only when none does can the mapped pages go, halving RSS.
        bool all_owned = true;
        for_each_weight(w, [&](const Weight& x) { all_owned = all_owned && !x.owned.empty(); });
        if (all_owned) ck.release_pages();
    }
    // The backend's own layout of every matrix. A weight it copied gives back its source: mapped
    // pages are dropped, an f32 copy freed.
    for_each_matrix(w, [&](Weight& x) {
        x.prep = m->backend_->prepare({x.dtype, x.data, x.rows, x.cols}, opts.precision);
        const bool copied = x.prep.layout != 0 || x.prep.src.data != x.data;
        if (!copied) return;
        if (x.prep.layout != 0) x.prep.src.data = nullptr;  // read only through the packed copy
        if (x.owned.empty()) {
            release_mapped_range(x.data, static_cast<size_t>(x.rows * x.cols) * dtype_size(x.dtype));
        } else if (x.prep.src.data != x.owned.data()) {
            std::vector<float>().swap(x.owned);
            x.data = nullptr;
        }
    });
    return m;
}

size_t Model::weight_bytes_resident() const {
    size_t n = 0;
    for_each_weight(weights_, [&](const Weight& x) {
        if (x.prep.storage)
            n += x.prep.packed_bytes;
        else if (x.data)
            n += static_cast<size_t>(x.rows * x.cols) * dtype_size(x.dtype);
    });
    return n;
}

WeightPrecision parse_weight_precision(const std::string& s) {
    if (s == "auto") return WeightPrecision::automatic;
    if (s == "f32") return WeightPrecision::f32;
    if (s == "native") return WeightPrecision::native;
    fail("unknown weight precision '{}' (expected auto, f32 or native)", s);
}

}  // namespace dlmscope
