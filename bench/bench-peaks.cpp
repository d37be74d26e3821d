// dlmscope-bench-peaks: this machine's hardware peaks (f32 FMA, AVX512-BF16 dot, AMX-BF16, memory
// read), on 1 thread and on all of them.
//
//   dlmscope-bench-peaks                          # 1 thread, then every hardware thread, 1 s per peak
//   dlmscope-bench-peaks --threads 8 --seconds 0.5 --json
//
// Other load on the cores lowers every figure, so the 1-minute load average is printed with them.
#include "engine/kernels/cpu-features.h"
#include "peaks.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using dlmscope::bench::Peak;

struct Run {
    int threads = 0;
    std::vector<Peak> peaks;
};

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

void print_text(const std::string& cpu, const std::string& flags, double load, double seconds,
                const std::vector<Run>& runs) {
    fmt::print("cpu      {}\nflags    {}\nload     {:.2f} (1-minute average)\n", cpu, flags, load);
    for (const Run& run : runs) {
        fmt::print("\n{} thread{}, {} s per peak\n", run.threads, run.threads == 1 ? "" : "s", seconds);
        for (const Peak& peak : run.peaks) {
            if (peak.available) {
                fmt::print("  {:<12} {:<18} {:>10.1f} {}\n", peak.what, peak.isa, peak.value, peak.unit);
            } else {
                fmt::print("  {:<12} {:<18} {:>10} ({})\n", peak.what, peak.isa, "n/a", peak.why_not);
            }
        }
    }
}

void print_json(const std::string& cpu, const std::string& flags, double load, double seconds,
                const std::vector<Run>& runs) {
    fmt::print("{{\n  \"cpu\": {},\n  \"flags\": {},\n  \"load_average_1min\": {:.2f},\n  \"seconds_each\": {},\n"
               "  \"runs\": [",
               json_string(cpu), json_string(flags), load, seconds);
    for (std::size_t r = 0; r < runs.size(); ++r) {
        fmt::print("{}\n    {{\"threads\": {}, \"peaks\": [", r == 0 ? "" : ",", runs[r].threads);
        const std::vector<Peak>& peaks = runs[r].peaks;
        for (std::size_t p = 0; p < peaks.size(); ++p) {
            const Peak& peak = peaks[p];
            fmt::print("{}\n      {{\"what\": {}, \"isa\": {}, \"available\": {}, \"value\": {}, \"unit\": {}, "
                       "\"why_not\": {}}}",
                       p == 0 ? "" : ",", json_string(peak.what), json_string(peak.isa), peak.available,
                       peak.available ? fmt::format("{:.2f}", peak.value) : std::string("null"),
                       json_string(peak.unit), json_string(peak.why_not));
        }
        fmt::print("\n    ]}}");
    }
    fmt::print("\n  ]\n}}\n");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"dlmscope-bench-peaks: this machine's f32 FMA, bf16 dot, AMX bf16 and memory read peaks"};
    int threads = 0;
    double seconds = 1.0;
    bool json = false;
    app.add_option("--threads", threads, "threads for the second run (0: every hardware thread)")
        ->check(CLI::Range(0, 4096));
    app.add_option("--seconds", seconds, "seconds per peak and thread count")->check(CLI::Range(0.01, 3600.0));
    app.add_flag("--json", json, "print JSON instead of a table");
    CLI11_PARSE(app, argc, argv);

    if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<int> thread_counts = {1};
    if (threads != 1) thread_counts.push_back(threads);

    try {
        const std::string cpu = dlmscope::kernels::cpu_features().model;
        const std::string flags = dlmscope::kernels::cpu_features().flags();
        const double load = dlmscope::bench::load_average();
        std::vector<Run> runs;
        for (const int count : thread_counts) runs.push_back({count, dlmscope::bench::measure_peaks(count, seconds)});
        if (json) {
            print_json(cpu, flags, load, seconds, runs);
        } else {
            print_text(cpu, flags, load, seconds, runs);
        }
    } catch (const std::exception& error) {
        fmt::print(stderr, "dlmscope-bench-peaks: {}\n", error.what());
        return 1;
    }
    return 0;
}
