#include "capture/capture.h"

#include "capture/npz.h"
#include "capture/stats.h"
#include "core/error.h"
#include "core/file.h"
#include "core/half.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <type_traits>

namespace dlmscope {

namespace {
using clock = std::chrono::steady_clock;
double since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }
}  // namespace

CaptureTap::CaptureTap(const CaptureSelection& sel, const CaptureLayout& layout, RunWriter& run, size_t queue_capacity)
    : sel_(sel), layout_(layout), run_(run), capacity_(std::max<size_t>(1, queue_capacity)) {
    sel_.validate(layout.n_layers, layout.n_heads, layout.steps, layout.canvas_length);
    layers_ = sel_.layers(layout.n_layers);
    stored_heads_ = sel_.stored_heads(layout.n_heads);
    std::tie(row_begin_, row_end_) = sel_.row_range(layout.prompt_length, layout.canvas_length);
    writer_ = std::thread([this] { writer_loop(); });
}

CaptureTap::~CaptureTap() { finish_quietly(); }

void CaptureTap::on_forward_begin(const TapContext& ctx) {
    current_.reset();
    if (ctx.batch_row != 0 || ctx.step < 0) return;  // the conditional canvas of sampler steps only
    // A held candidate was its block's last step exactly when this forward starts another block.
    if (held_) {
        if (ctx.block != held_->block) enqueue(std::move(held_));
        held_.reset();
    }
    bool provisional = false;
    if (!sel_.wants_step(ctx.step, ctx.step_in_block, ctx.steps_per_block)) {
        if (sel_.steps != CaptureSelection::Steps::block_ends || ctx.steps_per_block > 0) return;
        provisional = true;  // variable schedule: maybe the block's last step
    }
    rethrow_writer_error();
    const auto t0 = clock::now();
    auto p = std::make_unique<StepPacket>();
    p->step = ctx.step;
    p->block = ctx.block;
    p->step_in_block = ctx.step_in_block;
    p->provisional = provisional;
    p->canvas.assign(ctx.canvas.begin(), ctx.canvas.end());
    p->query_begin = ctx.query_begin;
    p->query_end = ctx.query_begin + ctx.n_queries;
    if (ctx.key_step.size() == ctx.canvas.size()) p->key_step.assign(ctx.key_step.begin(), ctx.key_step.end());
    else p->key_step.assign(ctx.canvas.size(), ctx.step);
    p->row_begin = std::max(row_begin_, p->query_begin);
    p->row_end = std::max(p->row_begin, std::min(row_end_, p->query_end));
    p->stats.reserve(layers_.size() * layout_.n_heads * kNumRowSets * kNumStats);
    p->maps.reserve(layers_.size() * stored_heads_ * static_cast<size_t>(p->row_end - p->row_begin) * layout_.canvas_length);
    key_class_ = key_classes(ctx.canvas, ctx.prompt_length, ctx.mask_id);
    current_ = std::move(p);
    tap_seconds_ += since(t0);
}

bool CaptureTap::wants(const TapContext&, int layer) { return current_ && sel_.wants_layer(layer); }

namespace {

// f(i) for every i < n: on the forward's threads when the context offers them, else here.
template <typename F>
void for_each_index(const TapContext& ctx, int64_t n, F&& f) {
    if (!ctx.parallel_for) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    ctx.parallel_for(n, [](void* arg, int64_t i) { (*static_cast<std::remove_reference_t<F>*>(arg))(i); }, &f);
}

}  // namespace

void CaptureTap::on_attention(const TapContext& ctx, int layer, const AttentionProbs& probs) {
    if (!current_) return;
    const auto t0 = clock::now();
    const int H = probs.n_heads, L = probs.n_keys;
    StepPacket& p = *current_;
    DLM_ASSERT(H == layout_.n_heads && L == layout_.canvas_length && probs.n_queries == p.query_end - p.query_begin);
    p.layers.push_back(layer);

    // Statistics of every head, whatever is stored; heads (and below, rows) are independent and
    // go to the forward's threads when it offers them.
    const size_t base = p.stats.size();
    p.stats.resize(base + static_cast<size_t>(H) * kNumRowSets * kNumStats);
    for_each_index(ctx, H, [&](int64_t h) {
        std::array<float, kNumRowSets * kNumStats> out;
        head_stats(probs.head(static_cast<int>(h)), p.query_begin, probs.n_queries, L, key_class_, ctx.prompt_length, out);
        std::copy(out.begin(), out.end(), p.stats.begin() + static_cast<std::ptrdiff_t>(base + static_cast<size_t>(h) * out.size()));
    });

    // Maps: head mean, all heads, or a list; the stored rows [p.row_begin, p.row_end), which are
    // probs rows from p.row_begin − query_begin.
    const int R = p.row_end - p.row_begin, src_row = p.row_begin - p.query_begin;
    if (stored_heads_ > 0 && R > 0) {
        const size_t per = static_cast<size_t>(R) * L;
        const size_t at = p.maps.size();
        p.maps.resize(at + static_cast<size_t>(stored_heads_) * per);
        float* dst = p.maps.data() + at;
        if (sel_.heads == CaptureSelection::Heads::mean) {
            const float inv = 1.0f / static_cast<float>(H);
            for_each_index(ctx, R, [&](int64_t i) {
                float* row = dst + static_cast<size_t>(i) * L;
                std::fill(row, row + L, 0.0f);
                for (int h = 0; h < H; ++h) {
                    const float* src = probs.head(h) + (src_row + i) * L;
                    for (int j = 0; j < L; ++j) row[j] += src[j];
                }
                for (int j = 0; j < L; ++j) row[j] *= inv;
            });
        } else {
            for (int k = 0; k < stored_heads_; ++k) {
                const int h = sel_.heads == CaptureSelection::Heads::all ? k : sel_.head_list[k];
                std::copy_n(probs.head(h) + static_cast<int64_t>(src_row) * L, per, dst + k * per);
            }
        }
    }
    tap_seconds_ += since(t0);
}

void CaptureTap::on_forward_end(const TapContext&) {
    if (!current_) return;
    if (current_->provisional) held_ = std::move(current_);
    else enqueue(std::move(current_));
}

void CaptureTap::enqueue(std::unique_ptr<StepPacket> p) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return queue_.size() < capacity_ || error_ || stop_; });
    if (error_) {
        lk.unlock();
        rethrow_writer_error();
    }
    queue_.push_back(std::move(p));
    cv_.notify_all();
}

void CaptureTap::writer_loop() {
    for (;;) {
        std::unique_ptr<StepPacket> p;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return !queue_.empty() || stop_; });
            if (queue_.empty()) return;  // stop_ and drained
            p = std::move(queue_.front());
        }
        try {
            if (!error_) write_packet(*p);
        } catch (...) {
            std::lock_guard lk(mu_);
            error_ = std::current_exception();
        }
        std::lock_guard lk(mu_);
        queue_.pop_front();
        cv_.notify_all();
    }
}

void CaptureTap::write_packet(StepPacket& p) {
    const auto t0 = clock::now();
    const int nl = static_cast<int>(p.layers.size()), H = layout_.n_heads, L = layout_.canvas_length, R = p.row_end - p.row_begin;
    const bool has_maps = stored_heads_ > 0 && R > 0;
    NpzBuilder npz;
    npz.add("canvas", "<i4", {L}, p.canvas.data(), p.canvas.size() * sizeof(int32_t));
    npz.add("key_step", "<i4", {L}, p.key_step.data(), p.key_step.size() * sizeof(int32_t));
    npz.add("stats", "<f4", {nl, H, kNumRowSets, kNumStats}, p.stats.data(), p.stats.size() * sizeof(float));
    const std::vector<int64_t> map_shape = {nl, stored_heads_, R, L};
    uint64_t raw = (p.canvas.size() + p.key_step.size() + p.stats.size()) * 4;
    if (has_maps) {
        if (sel_.f16) {
            std::vector<uint16_t> h(p.maps.size());
            for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_f16(p.maps[i]);
            npz.add("attn", "<f2", map_shape, h.data(), h.size() * 2);
            raw += h.size() * 2;
        } else {
            npz.add("attn", "<f4", map_shape, p.maps.data(), p.maps.size() * 4);
            raw += p.maps.size() * 4;
        }
    }
    const std::vector<uint8_t>& bytes = npz.finish();
    const std::string file = fmt::format("step_{:05d}.npz", p.step);
    const std::string path = (std::filesystem::path(run_.array_dir()) / file).string();
    try {
        write_file_atomic(path, {{bytes.data(), bytes.size()}});
    } catch (const Error& e) {
        fail("capture of step {} failed: {}", p.step, e.what());
    }
    json common = {{"step", p.step}, {"block", p.block}, {"step_in_block", p.step_in_block}, {"layers", p.layers},
                   {"query_rows", {p.query_begin, p.query_end}}};
    std::vector<json> entries;
    entries.push_back(json{{"name", "canvas"}, {"kind", "canvas"}, {"shape", {L}}, {"dtype", "int32"}});
    entries.push_back(json{{"name", "key_step"}, {"kind", "key_step"}, {"shape", {L}}, {"dtype", "int32"}});
    entries.push_back(json{{"name", "stats"}, {"kind", "stats"}, {"heads", "all"}, {"shape", {nl, H, kNumRowSets, kNumStats}},
                           {"dtype", "float32"}, {"axes", {"layer", "head", "row_set", "stat"}}});
    if (has_maps)
        entries.push_back(json{{"name", "attn"}, {"kind", "attention"}, {"heads", sel_.heads_label()}, {"shape", map_shape},
                               {"dtype", sel_.f16 ? "float16" : "float32"}, {"rows", {p.row_begin, p.row_end}},
                               {"axes", {"layer", "head", "query", "key"}}});
    for (json& e : entries) {
        e.update(common);
        e["file"] = std::filesystem::path(run_.array_dir()).filename().string() + "/" + file;
    }
    run_.index_arrays(entries);
    std::lock_guard lk(mu_);
    ++steps_written_;
    bytes_written_ += bytes.size();
    raw_bytes_ += raw;
    write_seconds_ += since(t0);
}

void CaptureTap::rethrow_writer_error() {
    std::exception_ptr e;
    {
        std::lock_guard lk(mu_);
        e = error_;
    }
    if (e) std::rethrow_exception(e);
}

void CaptureTap::finish() {
    if (held_) enqueue(std::move(held_));  // the run's last forward ended its block
    stop_writer();
    rethrow_writer_error();
}

void CaptureTap::stop_writer() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
        cv_.notify_all();
    }
    if (writer_.joinable()) writer_.join();
}

void CaptureTap::finish_quietly() noexcept {
    held_.reset();  // an interrupted run: the held step may not have been its block's last
    stop_writer();
}

json CaptureTap::summary() const {
    std::lock_guard lk(const_cast<std::mutex&>(mu_));
    return {{"selection", sel_.describe()},
            {"layers", layers_},
            {"heads", sel_.heads_label()},
            {"stored_heads", stored_heads_},
            {"rows", {row_begin_, row_end_}},
            {"dtype", stored_heads_ > 0 ? (sel_.f16 ? "float16" : "float32") : "none"},
            {"stat_names", kStatNames},
            {"row_sets", kRowSetNames},
            {"local_window", kLocalWindow},
            {"steps_written", steps_written_},
            {"bytes_written", bytes_written_},
            {"raw_bytes", raw_bytes_},
            {"tap_seconds", tap_seconds_},
            {"write_seconds", write_seconds_}};
}

}  // namespace dlmscope
