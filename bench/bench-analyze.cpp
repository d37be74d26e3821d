// dlmscope-bench-analyze: `dlmscope analyze` on a synthetic capture shaped like the 8B model
// (32 layers × 32 heads, canvas 160 = prompt 32 + 128 generated, 128 steps, statistics of every
// head plus head-mean f16 maps), timed as a separate process: wall time and peak RSS (wait4).
//
//   dlmscope-bench-analyze                       # writes the run to a temp dir, analyses it 3 times
//   dlmscope-bench-analyze --heads all --dtype f32 --steps 32 --repeat 1
//
// Analysis streams one step at a time, so the peak RSS should stay near one step's arrays whatever
// the number of steps; compare --steps 32 with --steps 128 to see it.
#include "synthetic-run.h"

#include "core/error.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#ifndef DLMSCOPE_BINARY
#define DLMSCOPE_BINARY "dlmscope"
#endif

namespace fs = std::filesystem;

namespace {

struct Measure {
    double wall_s = 0.0;
    double peak_rss_mib = 0.0;
    double cpu_s = 0.0;  // user + system time of the child (all its threads)
    int status = -1;
};

// Runs argv as a child process with stdout/stderr sent to `log`; returns wall time and peak RSS.
Measure run_child(const std::vector<std::string>& args, const std::string& log) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid < 0) dlmscope::fail("fork failed");
    if (pid == 0) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    Measure m;
    m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.peak_rss_mib = ru.ru_maxrss / 1024.0;  // KiB on Linux
    m.cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    m.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return m;
}

uint64_t dir_bytes(const fs::path& p) {
    uint64_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) n += e.file_size();
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace dlmscope;
    CLI::App app{"Benchmark `dlmscope analyze` on a synthetic 8B-shaped capture (wall time, peak RSS)"};
    tools::SyntheticRunSpec s;
    std::string dir, dtype = "f16", binary = DLMSCOPE_BINARY;
    int repeat = 3;
    bool keep = false;
    app.add_option("--dir", dir, "Where to write the run and the analysis (default: a temp dir, removed after)");
    app.add_option("--binary", binary, "The dlmscope binary to time")->capture_default_str();
    app.add_option("--layers", s.n_layers, "Layers")->capture_default_str();
    app.add_option("--heads-per-layer", s.n_heads, "Heads")->capture_default_str();
    app.add_option("--prompt", s.prompt_length, "Prompt length")->capture_default_str();
    app.add_option("--gen", s.gen_length, "Generated positions")->capture_default_str();
    app.add_option("--block", s.block_length, "Block length")->capture_default_str();
    app.add_option("--steps", s.steps, "Steps (all captured)")->capture_default_str();
    app.add_option("--heads", s.heads, "Maps stored: mean, all or none")->capture_default_str()
        ->check(CLI::IsMember({"mean", "all", "none"}));
    app.add_option("--dtype", dtype, "Map precision")->capture_default_str()->check(CLI::IsMember({"f16", "f32"}));
    app.add_option("--repeat", repeat, "Timed analyses")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("--keep", keep, "Keep the temp dir");
    CLI11_PARSE(app, argc, argv);
    s.f16 = dtype == "f16";

    const bool temp = dir.empty();
    if (temp) dir = (fs::temp_directory_path() / fmt::format("dlmscope-bench-analyze-{}", getpid())).string();
    try {
        const fs::path run_dir = fs::path(dir) / "run", out_dir = fs::path(dir) / "analysis";
        fs::remove_all(run_dir);
        const auto t0 = std::chrono::steady_clock::now();
        const std::string manifest = tools::write_synthetic_run(run_dir.string(), s);
        const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int L = s.prompt_length + s.gen_length;
        fmt::print("synthetic run: {} layers x {} heads, canvas {}, {} steps, statistics + {} {} maps\n", s.n_layers, s.n_heads, L,
                   s.steps, s.heads, dtype);
        fmt::print("  written in {:.1f}s, {:.1f} MiB on disk ({})\n", write_s, dir_bytes(run_dir) / 1048576.0, run_dir.string());
        const std::vector<std::string> cmd = {binary, "analyze", "--input", run_dir.string(), "--output", out_dir.string()};
        fmt::print("command: {}\n", fmt::join(cmd, " "));
        std::vector<Measure> ms;
        for (int r = 0; r < repeat; ++r) {
            const Measure m = run_child(cmd, (fs::path(dir) / "analyze.log").string());
            if (m.status != 0) fail("{} exited with status {} (see {}/analyze.log)", binary, m.status, dir);
            fmt::print("  run {}: wall {:.3f}s, cpu {:.3f}s, peak RSS {:.1f} MiB\n", r + 1, m.wall_s, m.cpu_s, m.peak_rss_mib);
            ms.push_back(m);
        }
        std::sort(ms.begin(), ms.end(), [](const Measure& a, const Measure& b) { return a.wall_s < b.wall_s; });
        double rss = 0.0;
        for (const Measure& m : ms) rss = std::max(rss, m.peak_rss_mib);
        fmt::print("analyze: wall best {:.3f}s, median {:.3f}s; cpu {:.3f}s; peak RSS {:.1f} MiB; outputs {:.1f} MiB ({}); "
                   "{} hardware threads\n",
                   ms.front().wall_s, ms[ms.size() / 2].wall_s, ms.front().cpu_s, rss, dir_bytes(out_dir) / 1048576.0,
                   out_dir.string(), std::thread::hardware_concurrency());
    } catch (const Error& e) {
        fmt::print(stderr, "dlmscope-bench-analyze: error: {}\n", e.what());
        return 1;
    }
    if (temp && !keep) fs::remove_all(dir);
    return 0;
}
