// dlmscope-bench-render: the default figure set (what `dlmscope analyze` draws) of a synthetic
// capture shaped like the 8B model — 32 layers × 32 heads, canvas 160 = prompt 32 + 128 generated,
// 128 steps, head-mean f16 maps — in PNG, SVG and PDF: wall time, files, bytes.
//
//   dlmscope-bench-render                         # writes the run to a temp dir, renders 3 times per format
//   dlmscope-bench-render --run DIR --repeat 1    # an existing run directory instead
//   dlmscope-bench-render --heads all --layers 8 --heads-per-layer 8
//
// It also times reading every step alone, the floor under the evolution figure (which needs every
// step's statistics).
#include "synthetic-run.h"

#include "analysis/run-reader.h"
#include "core/error.h"
#include "render/render.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// User + system CPU seconds of this process, every thread included (less sensitive to other load
// on the machine than wall time).
double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace dlmscope;
    CLI::App app{"Time the default figure set of a synthetic 8B-shaped capture"};
    tools::SyntheticRunSpec s;
    std::string run_dir, work;
    int repeat = 3;
    double dpi = 150;
    app.add_option("--run", run_dir, "Render this run directory instead of writing a synthetic one");
    app.add_option("--work", work, "Directory for the synthetic run and the figures (default: a temp dir)");
    app.add_option("--layers", s.n_layers, "Layers of the synthetic run")->capture_default_str();
    app.add_option("--heads-per-layer", s.n_heads, "Heads of the synthetic run")->capture_default_str();
    app.add_option("--steps", s.steps, "Steps of the synthetic run")->capture_default_str();
    app.add_option("--heads", s.heads, "Maps stored: mean, all or none")->capture_default_str()
        ->check(CLI::IsMember({"mean", "all", "none"}));
    app.add_option("--repeat", repeat, "Renders per format (the best is reported)")->capture_default_str();
    app.add_option("--dpi", dpi, "PNG resolution")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    try {
        if (work.empty()) work = (fs::temp_directory_path() / "dlmscope-bench-render").string();
        fs::create_directories(work);
        if (run_dir.empty()) {
            run_dir = (fs::path(work) / "run").string();
            const auto t0 = std::chrono::steady_clock::now();
            tools::write_synthetic_run(run_dir, s);
            fmt::print("synthetic run: {} layers × {} heads, canvas {}, {} steps, maps {} ({:.1f}s to write)\n", s.n_layers,
                       s.n_heads, s.prompt_length + s.gen_length, s.steps, s.heads, seconds_since(t0));
        }
        const analysis::RunReader run = analysis::RunReader::open(run_dir);
        {
            const auto t0 = std::chrono::steady_clock::now();
            const double c0 = cpu_seconds();
            for (size_t k = 0; k < run.steps().size(); ++k) (void)run.load_step(k);
            fmt::print("read every step alone: {:.2f}s wall, {:.2f}s CPU ({} steps)\n", seconds_since(t0), cpu_seconds() - c0,
                       run.steps().size());
        }
        for (const render::Format f : {render::Format::png, render::Format::svg, render::Format::pdf}) {
            render::RenderOptions opt;
            opt.format = f;
            opt.dpi = dpi;
            double best = 1e30, best_cpu = 1e30;
            std::vector<std::string> files;
            for (int r = 0; r < std::max(repeat, 1); ++r) {
                const std::string out = (fs::path(work) / fmt::format("figures-{}", render::extension(f))).string();
                fs::remove_all(out);
                const auto t0 = std::chrono::steady_clock::now();
                const double c0 = cpu_seconds();
                files = render::render_default_set(run, opt, out);
                best = std::min(best, seconds_since(t0));
                best_cpu = std::min(best_cpu, cpu_seconds() - c0);
            }
            uintmax_t bytes = 0;
            for (const auto& p : files) bytes += fs::file_size(p);
            fmt::print("default set {}: {} figures in {:.2f}s wall, {:.2f}s CPU (best of {}), {:.1f} MB\n",
                       render::extension(f), files.size(), best, best_cpu, std::max(repeat, 1), static_cast<double>(bytes) / 1e6);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "dlmscope-bench-render: {}\n", e.what());
        return 1;
    }
    return 0;
}
