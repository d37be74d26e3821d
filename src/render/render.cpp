// dlmscope render: the entry points — one figure on request, or the default set of a run.
#include "render/render.h"

#include "analysis/analyze.h"
#include "core/error.h"
#include "render/plot/colormap.h"
#include "render/plot/kinds.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace fs = std::filesystem;

namespace dlmscope::render {

namespace {

std::string file_name(const FigureRequest& r, int step, int layer, const RenderOptions& opt) {
    const std::string head = r.head < 0 ? "mean" : fmt::format("head{:02d}", r.head);
    const char* window = r.window == MapWindow::canvas ? "_canvas" : "";
    switch (r.kind) {
        case Kind::heatmap:
            return fmt::format("heatmap_step{:03d}_layer{:02d}_{}{}.{}", step, layer, head, window, extension(opt.format));
        case Kind::grid: return fmt::format("grid_step{:03d}.{}", step, extension(opt.format));
        case Kind::evolution: return fmt::format("evolution_layer{:02d}_{}.{}", layer, head, extension(opt.format));
        case Kind::decode_order: return fmt::format("decode_order.{}", extension(opt.format));
        case Kind::drift: return fmt::format("cache_drift.{}", extension(opt.format));
    }
    return "figure";
}

// The evolution curves' layers: up to max_layers captured layers, evenly spaced.
std::vector<int> curve_layers(const analysis::RunReader& run, const RenderOptions& opt) {
    return analysis::pick_layers(static_cast<int>(run.captured_layers().size()), opt.max_layers);
}

// The step of the prompt-and-answer heatmap: the last captured step whose forward recomputed every
// row (a cached step has no attention in the rows it reused), else the last captured step.
size_t canvas_step_index(const analysis::RunReader& run) {
    const auto& steps = run.steps();
    for (size_t k = steps.size(); k-- > 0;)
        if (steps[k].query_begin == 0 && steps[k].query_end == run.canvas_length()) return k;
    return steps.size() - 1;
}

// Draws figures on a few worker threads while the caller reads the next steps. submit() blocks
// while 2 × threads jobs are pending (memory stays bounded by a few steps); wait() rethrows the
// first job's error. Each figure owns its cairo surface and pango layout; nothing is shared.
class FigurePool {
public:
    explicit FigurePool(int threads) {
        for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { loop(); });
    }
    ~FigurePool() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
    }
    void submit(std::function<void()> job) {
        if (workers_.empty()) return job();
        std::unique_lock lock(mu_);
        space_.wait(lock, [&] { return jobs_.size() < 2 * workers_.size() || error_; });
        if (error_) return;
        jobs_.push_back(std::move(job));
        cv_.notify_one();
    }
    void wait() {
        std::unique_lock lock(mu_);
        idle_.wait(lock, [&] { return (jobs_.empty() && busy_ == 0) || error_; });
        if (error_) {
            idle_.wait(lock, [&] { return busy_ == 0; });
            std::rethrow_exception(error_);
        }
    }

private:
    void loop() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
                if (jobs_.empty()) return;
                job = std::move(jobs_.front());
                jobs_.pop_front();
                ++busy_;
            }
            space_.notify_one();
            std::exception_ptr err;
            try {
                if (!error_) job();
            } catch (...) {
                err = std::current_exception();
            }
            {
                std::lock_guard lock(mu_);
                --busy_;
                if (err && !error_) error_ = err;
            }
            idle_.notify_all();
            space_.notify_all();
        }
    }
    std::mutex mu_;
    std::condition_variable cv_, space_, idle_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> workers_;
    int busy_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

int pool_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return static_cast<int>(std::clamp(hw == 0 ? 2u : hw, 1u, 4u));
}

void check_options(const RenderOptions& opt) {
    if (opt.max_tokens < 2) fail("--max-tokens must be at least 2 (got {})", opt.max_tokens);
    if (opt.max_layers < 1) fail("--max-layers must be at least 1 (got {})", opt.max_layers);
    if (!(opt.dpi >= 10 && opt.dpi <= 1200)) fail("--dpi must be between 10 and 1200 (got {})", opt.dpi);
    (void)Colormap::by_name(opt.colormap);
}

}  // namespace

Format parse_format(const std::string& s) {
    if (s == "png") return Format::png;
    if (s == "svg") return Format::svg;
    if (s == "pdf") return Format::pdf;
    fail("unknown figure format '{}' (expected png, svg or pdf)", s);
}

Kind parse_kind(const std::string& s) {
    if (s == "heatmap") return Kind::heatmap;
    if (s == "grid") return Kind::grid;
    if (s == "evolution") return Kind::evolution;
    if (s == "decode-order" || s == "decode_order") return Kind::decode_order;
    if (s == "drift") return Kind::drift;
    fail("unknown figure kind '{}' (expected heatmap, grid, evolution, decode-order or drift)", s);
}

ScaleKind parse_scale(const std::string& s) {
    if (s == "linear") return ScaleKind::linear;
    if (s == "log") return ScaleKind::log;
    fail("unknown colour scale '{}' (expected linear or log)", s);
}

MapWindow parse_window(const std::string& s) {
    if (s == "step") return MapWindow::step;
    if (s == "canvas") return MapWindow::canvas;
    fail("unknown heatmap window '{}' (expected step or canvas)", s);
}

const char* extension(Format f) {
    switch (f) {
        case Format::png: return "png";
        case Format::svg: return "svg";
        case Format::pdf: return "pdf";
    }
    return "png";
}

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::heatmap: return "heatmap";
        case Kind::grid: return "grid";
        case Kind::evolution: return "evolution";
        case Kind::decode_order: return "decode-order";
        case Kind::drift: return "drift";
    }
    return "heatmap";
}

std::string render_one(const analysis::RunReader& run, const RenderOptions& opt, const FigureRequest& req,
                       const std::string& output) {
    check_options(opt);
    const RunInfo info = read_run_info(run);
    // Resolve what the file name needs before drawing.
    int step = -1, layer = -1;
    if (req.kind == Kind::heatmap || req.kind == Kind::grid) {
        require_maps(run, req.kind == Kind::heatmap ? "heatmaps" : "layer grids");
        step = run.steps()[step_index_of(run, req.step)].step;
    }
    if (req.kind == Kind::heatmap || req.kind == Kind::evolution) {
        layer = run.captured_layers()[layer_index_of(run, req.layer)];
        if (req.kind == Kind::heatmap || run.stored_heads() > 0) check_head(run, req.head);
    }
    if (req.kind == Kind::decode_order && info.commits.empty())
        fail("{} has no per-step commits (\"steps\" is missing: the run is incomplete), so it has no decode order",
             run.manifest_path());
    if (req.kind == Kind::drift) require_cache_drift(run);

    std::string path = output;
    const bool is_dir = output.empty() || output.back() == '/' || fs::is_directory(output) || fs::path(output).extension().empty();
    if (is_dir) {
        fs::create_directories(output.empty() ? "." : output);
        path = (fs::path(output) / file_name(req, step, layer, opt)).string();
    } else if (fs::path(output).has_parent_path()) {
        fs::create_directories(fs::path(output).parent_path());
    }

    switch (req.kind) {
        case Kind::heatmap: {
            const analysis::StepCapture s = run.load_step(step_index_of(run, req.step));
            draw_heatmap_figure(run, info, s, layer_index_of(run, req.layer), req.head, req.window, opt, path);
            break;
        }
        case Kind::grid: {
            const analysis::StepCapture s = run.load_step(step_index_of(run, req.step));
            draw_grid_figure(run, info, s, curve_layers(run, opt), opt, path);
            break;
        }
        case Kind::evolution: {
            EvolutionCollector c(run, info, curve_layers(run, opt), layer_index_of(run, req.layer), req.head, opt);
            for (size_t k = 0; k < run.steps().size(); ++k) c.add(run.load_step(k));
            draw_evolution_figure(run, info, c.data(), opt, path);
            break;
        }
        case Kind::decode_order: draw_decode_order_figure(run, info, opt, path); break;
        case Kind::drift: draw_drift_figure(run, info, opt, path); break;
    }
    return path;
}

std::vector<std::string> render_default_set(const analysis::RunReader& run, const RenderOptions& opt,
                                            const std::string& out_dir) {
    check_options(opt);
    fs::create_directories(out_dir);
    const RunInfo info = read_run_info(run);
    auto warn = [&](const std::string& m) {
        if (opt.warn) opt.warn(m);
    };
    std::vector<std::string> files;
    const bool maps = run.map_heads() != analysis::MapHeads::none && run.stored_heads() > 0;
    if (!maps)
        warn(fmt::format("{} stores no attention maps (--capture-heads none): drawing no heatmaps or layer grids, only the "
                         "evolution curves and the decode order",
                         run.manifest_path()));

    // Key steps: the first and last captured step of each block.
    std::set<size_t> key;
    const auto& steps = run.steps();
    for (size_t k = 0; k < steps.size(); ++k) {
        const int b = steps[k].block >= 0 ? steps[k].block : info.block_of_step(steps[k].step);
        const bool first = k == 0 || (steps[k - 1].block >= 0 ? steps[k - 1].block : info.block_of_step(steps[k - 1].step)) != b;
        const bool last = k + 1 == steps.size() ||
                          (steps[k + 1].block >= 0 ? steps[k + 1].block : info.block_of_step(steps[k + 1].step)) != b;
        if (first || last) key.insert(k);
    }

    const int map_layer = layer_index_of(run, -1);
    const std::vector<int> layers = curve_layers(run, opt);
    EvolutionCollector evo(run, info, layers, map_layer, -1, opt);
    const size_t canvas_k = canvas_step_index(run);
    std::shared_ptr<const analysis::StepCapture> canvas_step;
    FigurePool pool(pool_threads());
    for (size_t k = 0; k < steps.size(); ++k) {
        auto s = std::make_shared<const analysis::StepCapture>(run.load_step(k));
        evo.add(*s);
        if (!maps) continue;
        if (k == canvas_k) canvas_step = s;
        if (!key.count(k)) continue;
        const FigureRequest hreq{Kind::heatmap, s->step, run.captured_layers()[map_layer], -1};
        files.push_back((fs::path(out_dir) / file_name(hreq, s->step, hreq.layer, opt)).string());
        pool.submit([&run, &info, &opt, s, map_layer, path = files.back()] {
            draw_heatmap_figure(run, info, *s, map_layer, -1, MapWindow::step, opt, path);
        });
        const FigureRequest greq{Kind::grid, s->step, -1, -1};
        files.push_back((fs::path(out_dir) / file_name(greq, s->step, -1, opt)).string());
        pool.submit([&run, &info, &opt, &layers, s, path = files.back()] { draw_grid_figure(run, info, *s, layers, opt, path); });
    }
    if (canvas_step) {
        const FigureRequest creq{Kind::heatmap, canvas_step->step, run.captured_layers()[map_layer], -1, MapWindow::canvas};
        files.push_back((fs::path(out_dir) / file_name(creq, creq.step, creq.layer, opt)).string());
        pool.submit([&run, &info, &opt, s = canvas_step, map_layer, path = files.back()] {
            draw_heatmap_figure(run, info, *s, map_layer, -1, MapWindow::canvas, opt, path);
        });
    }
    const FigureRequest ereq{Kind::evolution, -1, run.captured_layers()[map_layer], -1};
    files.push_back((fs::path(out_dir) / file_name(ereq, -1, ereq.layer, opt)).string());
    pool.submit([&run, &info, &opt, &evo, path = files.back()] { draw_evolution_figure(run, info, evo.data(), opt, path); });
    if (info.commits.empty()) {
        warn(fmt::format("{} has no per-step commits (the run is incomplete): no decode-order figure", run.manifest_path()));
    } else {
        files.push_back((fs::path(out_dir) / file_name({Kind::decode_order}, -1, -1, opt)).string());
        pool.submit([&run, &info, &opt, path = files.back()] { draw_decode_order_figure(run, info, opt, path); });
    }
    if (run.has_cache_drift()) {
        files.push_back((fs::path(out_dir) / file_name({Kind::drift}, -1, -1, opt)).string());
        pool.submit([&run, &info, &opt, path = files.back()] { draw_drift_figure(run, info, opt, path); });
    }
    pool.wait();
    return files;
}

}  // namespace dlmscope::render
