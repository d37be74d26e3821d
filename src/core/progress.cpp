#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace dlmscope {

Progress::Progress(std::string label, int total, bool enabled)
    : label_(std::move(label)), total_(total), active_(enabled && total > 0 && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::update(int done, const std::string& note) {
    if (!active_ || finished_) return;
    constexpr int width = 30;
    const int filled = total_ ? done * width / total_ : width;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = done > 0 ? secs * (total_ - done) / done : 0.0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    fmt::print(stderr, "\r{} [{}] {}/{} {:.1f}s eta {:.1f}s {}\x1b[K", label_, bar, done, total_, secs, eta, note);
    std::fflush(stderr);
}

void Progress::finish() {
    if (!active_ || finished_) return;
    finished_ = true;
    fmt::print(stderr, "\r\x1b[K");
    std::fflush(stderr);
}

}  // namespace dlmscope
