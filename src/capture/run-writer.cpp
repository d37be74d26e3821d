#include "capture/run-writer.h"

#include "core/error.h"
#include "core/npy.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace dlmscope {

namespace {

bool path_exists(const fs::path& p) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(p, ec));
}

bool is_run_manifest(const fs::path& p) {
    try {
        const json j = read_json_file(p.string());
        return j.is_object() && j.value("format", "") == kRunFormat;
    } catch (const Error&) {
        return false;
    }
}

// Removes the old run at `manifest` / `arrays`: the manifest and the .npy/.npz files of its folder.
void remove_run(const fs::path& manifest, const fs::path& arrays) {
    if (path_exists(manifest) && !is_run_manifest(manifest))
        fail("{} is not a dlmscope run manifest; it is never overwritten (choose another --out or --manifest)", manifest.string());
    std::error_code ec;
    if (fs::is_directory(arrays, ec))
        for (const auto& e : fs::directory_iterator(arrays, ec)) {
            const auto ext = e.path().extension();
            if (e.is_regular_file() && (ext == ".npy" || ext == ".npz")) fs::remove(e.path(), ec);
            if (ec) fail("cannot remove {} of the old run: {}", e.path().string(), ec.message());
        }
    fs::remove(manifest, ec);
    if (ec) fail("cannot remove the old manifest {}: {}", manifest.string(), ec.message());
}

bool run_taken(const fs::path& out_dir, const fs::path& name) {
    return path_exists(out_dir / name) || path_exists(out_dir / name.stem());
}

[[noreturn]] void refuse_existing(const std::string& out_dir, const fs::path& name) {
    fail("{} already holds a run ({} or {}/); it is kept: choose another output directory or manifest name, or "
         "overwrite it (--overwrite)",
         out_dir, (fs::path(out_dir) / name).string(), (fs::path(out_dir) / name.stem()).string());
}

}  // namespace

void check_run_target(const RunOptions& opts) {
    if (opts.existing == ExistingRun::refuse && run_taken(opts.out_dir, opts.manifest)) refuse_existing(opts.out_dir, opts.manifest);
}

RunWriter::RunWriter(const std::string& out_dir, const std::string& manifest_name, json fields, ExistingRun existing) {
    if (manifest_name.empty() || manifest_name.find('/') != std::string::npos)
        fail("manifest name '{}' must be a plain file name", manifest_name);
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) fail("cannot create output directory {}: {}", out_dir, ec.message());
    fs::path name = manifest_name;
    if (run_taken(out_dir, name)) {
        switch (existing) {
            case ExistingRun::refuse: refuse_existing(out_dir, name);
            case ExistingRun::overwrite: remove_run(fs::path(out_dir) / name, fs::path(out_dir) / name.stem()); break;
            case ExistingRun::keep:
                for (int i = 2; run_taken(out_dir, name); ++i)
                    name = fmt::format("{}-{}{}", fs::path(manifest_name).stem().string(), i, fs::path(manifest_name).extension().string());
                break;
        }
    }
    manifest_path_ = (fs::path(out_dir) / name).string();
    array_rel_ = name.stem().string();
    array_dir_ = (fs::path(out_dir) / array_rel_).string();
    fs::create_directories(array_dir_, ec);
    if (ec) fail("cannot create array directory {}: {}", array_dir_, ec.message());
    manifest_ = json::object();
    manifest_["format"] = kRunFormat;
    manifest_["version"] = kRunFormatVersion;
    manifest_["complete"] = false;
    manifest_.update(fields);
    manifest_["arrays"] = json::array();
    flush();
}

void RunWriter::write_array(const std::string& file, const std::string& descr, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes, json entry) {
    write_npy((fs::path(array_dir_) / file).string(), descr, shape, data, nbytes);
    std::lock_guard lk(mu_);
    entry["file"] = array_rel_ + "/" + file;
    entry["shape"] = shape;
    entry["dtype"] = descr == "<i4" ? "int32" : descr == "<i8" ? "int64" : descr == "<f4" ? "float32" : descr == "<f2" ? "float16"
                   : descr == "<f8" ? "float64" : descr;
    manifest_["arrays"].push_back(std::move(entry));
    flush();
}

void RunWriter::index_arrays(const std::vector<json>& entries) {
    std::lock_guard lk(mu_);
    for (const json& e : entries) manifest_["arrays"].push_back(e);
    if (std::chrono::steady_clock::now() - last_flush_ > std::chrono::milliseconds(500)) flush();
}

void RunWriter::update(const json& fields) {
    std::lock_guard lk(mu_);
    manifest_.update(fields);
    flush();
}

void RunWriter::finish(const json& fields) {
    std::lock_guard lk(mu_);
    manifest_.update(fields);
    manifest_["complete"] = true;
    manifest_.erase("error");
    flush();
}

void RunWriter::abort(const std::string& reason, const json& fields) noexcept {
    try {
        std::lock_guard lk(mu_);
        manifest_.update(fields);
        manifest_["complete"] = false;
        manifest_["error"] = reason;
        flush();
    } catch (...) {
    }
}

void RunWriter::flush() {
    write_json_file(manifest_path_, manifest_);
    last_flush_ = std::chrono::steady_clock::now();
}

}  // namespace dlmscope
