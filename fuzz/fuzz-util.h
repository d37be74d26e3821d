// dlmscope fuzz: what the harnesses share.
//
// Policy: a parser must answer any input with a result or a dlmscope::Error. Harnesses catch Error
// only, so any other exception (json::type_error, std::out_of_range, std::bad_alloc, ...) escapes,
// terminates the process and counts as a crash, like a sanitizer report or a failed DLM_ASSERT.
#pragma once

#include "core/error.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace dlmscope::fuzz {

// Called with the Error an input was refused with: silent, unless DLMSCOPE_FUZZ_VERBOSE is set (to
// see what a seed or a regression input exercises: `DLMSCOPE_FUZZ_VERBOSE=1 build/fuzz/replay-npz DIR`).
inline void rejected(const Error& e) {
    static const bool verbose = std::getenv("DLMSCOPE_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "rejected: %s\n", e.what());
}

// A directory of this process's own under the system temp dir, reused across inputs and removed at
// exit, for parsers that read from a path.
class ScratchDir {
public:
    explicit ScratchDir(const std::string& name)
        : dir_(std::filesystem::temp_directory_path() / ("dlmscope-fuzz-" + name + "-" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::filesystem::path& path() const { return dir_; }

    // Writes the bytes to DIR/name (replacing it) and returns the file's path.
    std::string write(const std::string& name, const uint8_t* data, size_t size) const {
        const std::string p = (dir_ / name).string();
        FILE* f = std::fopen(p.c_str(), "wb");
        DLM_ASSERT(f != nullptr);
        DLM_ASSERT(size == 0 || std::fwrite(data, 1, size, f) == size);
        DLM_ASSERT(std::fclose(f) == 0);
        return p;
    }

private:
    std::filesystem::path dir_;
};

}  // namespace dlmscope::fuzz
