#include "capture/run-writer.h"

#include "core/error.h"
#include "core/npy.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace dlmscope {

RunWriter::RunWriter(const std::string& out_dir, const std::string& manifest_name, json fields) {
    if (manifest_name.empty() || manifest_name.find('/') != std::string::npos)
        fail("manifest name '{}' must be a plain file name", manifest_name);
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) fail("cannot create output directory {}: {}", out_dir, ec.message());
    manifest_path_ = (fs::path(out_dir) / manifest_name).string();
    array_rel_ = fs::path(manifest_name).stem().string();
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
