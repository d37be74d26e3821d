// dlmscope-make-synthetic-run: writes a synthetic captured run in the real run-directory format
// (see synthetic-run.h), shaped like the 8B model by default, for `dlmscope analyze` benchmarks.
//
//   dlmscope-make-synthetic-run /tmp/run8b                       # 32 layers × 32 heads, L 160, 128 steps
//   dlmscope-make-synthetic-run --heads all --dtype f32 --layers 4 --steps 16 --gen 32 --block 16 DIR
#include "synthetic-run.h"

#include "core/error.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>

int main(int argc, char** argv) {
    using namespace dlmscope;
    CLI::App app{"Write a synthetic captured run (manifest + step_SSSSS.npz) shaped like a real capture"};
    tools::SyntheticRunSpec s;
    std::string dir, dtype = "f16";
    bool incomplete = false;
    app.add_option("dir", dir, "Run directory (created)")->required();
    app.add_option("--layers", s.n_layers, "Layers (all captured)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--heads-per-layer", s.n_heads, "Attention heads")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--prompt", s.prompt_length, "Prompt length")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--gen", s.gen_length, "Generated positions")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--block", s.block_length, "Block length")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--steps", s.steps, "Diffusion steps (all captured)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--heads", s.heads, "Maps stored: mean, all or none")->capture_default_str()
        ->check(CLI::IsMember({"mean", "all", "none"}));
    app.add_option("--dtype", dtype, "Map precision")->capture_default_str()->check(CLI::IsMember({"f16", "f32"}));
    app.add_option("--seed", s.seed, "Seed")->capture_default_str();
    app.add_flag("--incomplete", incomplete, "Stop half-way and mark the run incomplete, as a killed run");
    CLI11_PARSE(app, argc, argv);
    s.f16 = dtype == "f16";
    s.complete = !incomplete;
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string manifest = tools::write_synthetic_run(dir, s);
        fmt::print("{}: {} layers × {} heads, canvas {}, {} steps, maps {} {} ({:.1f}s)\n", manifest, s.n_layers, s.n_heads,
                   s.prompt_length + s.gen_length, s.steps, s.heads, dtype,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const Error& e) {
        fmt::print(stderr, "dlmscope-make-synthetic-run: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
