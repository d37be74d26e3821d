// dlmscope capture: the run directory — a JSON manifest plus .npy arrays that numpy reads directly.
//
//   OUT/NAME.json            the manifest ("format": "dlmscope-run"), rewritten atomically
//   OUT/NAME/<array>.npy     every array, indexed in the manifest's "arrays"
//
// The manifest is written first with "complete": false and rewritten after each array, so a run
// that dies leaves a readable manifest that says it is incomplete. docs/run-format.md has the schema.
#pragma once

#include "core/json.h"
#include "dlmscope/run.h"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace dlmscope {

inline constexpr const char* kRunFormat = "dlmscope-run";
inline constexpr int kRunFormatVersion = 1;

class RunWriter {
public:
    // Creates OUT (and OUT/NAME/) and writes the initial manifest from `fields` with
    // complete = false. `manifest_name` is a file name such as "generation_with_attention.json".
    // A run already there is refused, replaced or kept beside this one as `existing` says.
    RunWriter(const std::string& out_dir, const std::string& manifest_name, json fields,
              ExistingRun existing = ExistingRun::refuse);

    // Writes an array as OUT/NAME/<file> and indexes it. `entry` may carry kind/step/layer/heads.
    void write_array(const std::string& file, const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                     size_t nbytes, json entry);

    // Indexes arrays that were already written under array_dir() (thread-safe). The manifest is
    // rewritten at most every 0.5 s here (a long run would otherwise rewrite a growing index at
    // every step); update(), finish() and abort() always rewrite it, so nothing indexed is lost
    // on a clean stop, a signal or a write error. Each entry carries file, name, kind, shape, dtype.
    void index_arrays(const std::vector<json>& entries);

    // Merges `fields` into the manifest and rewrites it (still incomplete).
    void update(const json& fields);
    // Marks the run complete and rewrites the manifest.
    void finish(const json& fields);
    // Marks the run incomplete with a reason, merging `fields` (best effort, never throws).
    void abort(const std::string& reason, const json& fields = json::object()) noexcept;

    const std::string& manifest_path() const { return manifest_path_; }
    const std::string& array_dir() const { return array_dir_; }

private:
    void flush();  // callers hold mu_
    std::mutex mu_;
    std::chrono::steady_clock::time_point last_flush_;
    std::string manifest_path_;
    std::string array_dir_;
    std::string array_rel_;
    json manifest_;
};

}  // namespace dlmscope
