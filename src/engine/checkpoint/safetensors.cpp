#include "engine/checkpoint/safetensors.h"

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace dlmscope {

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

std::string TensorView::shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
    const size_t size = file_.size();
    if (size < 8) fail("{}: truncated safetensors file ({} bytes, the 8-byte header length is missing)", path, size);
    uint64_t n = 0;
    std::memcpy(&n, file_.data(), 8);  // little-endian on every platform we build for
    if (n > size - 8)
        fail("{}: safetensors header length {} exceeds the file size {} (truncated file or corrupt header)", path, n, size);
    const size_t data_start = 8 + n;
    const size_t data_size = size - data_start;
    json header;
    try {
        header = json::parse(file_.data() + 8, file_.data() + data_start);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number too large for a double
        fail("{}: safetensors header is not valid JSON: {}", path, e.what());
    }
    if (!header.is_object()) fail("{}: safetensors header is not a JSON object", path);

    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const auto& [name, info] : header.items()) {
        if (name == "__metadata__") continue;
        if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
            fail("{}: tensor '{}' lacks dtype, shape or data_offsets", path, name);
        TensorView t;
        t.name = name;
        t.file = path;
        const std::string dt = info["dtype"].is_string() ? info["dtype"].get<std::string>() : info["dtype"].dump();
        if (dt == "F32") t.dtype = DType::f32;
        else if (dt == "F16") t.dtype = DType::f16;
        else if (dt == "BF16") t.dtype = DType::bf16;
        else fail("{}: tensor '{}' has dtype {}, which dlmscope does not support (BF16, F16, F32)", path, name, dt);
        if (!info["shape"].is_array()) fail("{}: tensor '{}' has a bad shape {}", path, name, info["shape"].dump());
        uint64_t numel = 1;  // checked for overflow: a lying shape must not wrap around to the byte count
        for (const auto& d : info["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0) fail("{}: tensor '{}' has a bad shape {}", path, name, info["shape"].dump());
            const uint64_t n_d = static_cast<uint64_t>(d.get<int64_t>());
            if (n_d != 0 && numel > data_size / n_d)
                fail("{}: tensor '{}' has shape {}, larger than the whole data section ({} bytes)", path, name, info["shape"].dump(),
                     data_size);
            numel *= n_d;
            t.shape.push_back(d.get<int64_t>());
        }
        const auto& off = info["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            fail("{}: tensor '{}' has bad data_offsets {}", path, name, off.dump());
        const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
        if (b > e || e > data_size)
            fail("{}: tensor '{}' data_offsets [{}, {}] lie outside the data section ({} bytes; truncated file?)", path, name, b, e,
                 data_size);
        const uint64_t want = numel * dtype_size(t.dtype);  // numel <= data_size, so this cannot overflow
        if (e - b != want)
            fail("{}: tensor '{}' has {} bytes but shape {} of {} needs {}", path, name, e - b, t.shape_str(), dt, want);
        t.data = file_.data() + data_start + b;
        t.nbytes = e - b;
        ranges.emplace_back(b, e);
        tensors_.emplace(name, std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].first < ranges[i - 1].second) fail("{}: tensors overlap in the data section (corrupt header)", path);
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir) : dir_(dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail("model path {} is not a readable directory", dir);
    const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
    std::vector<std::string> names;
    if (fs::exists(index_path, ec)) {
        const json idx = read_json_file(index_path.string());
        if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
            fail("{}: missing key 'weight_map'", index_path.string());
        for (const auto& [tensor, file] : idx["weight_map"].items()) {
            if (!file.is_string()) fail("{}: weight_map['{}'] is not a file name", index_path.string(), tensor);
            path_inside(dir, file.get<std::string>(), index_path.string(), fmt::format("weight_map['{}']", tensor));
            index_[tensor] = file.get<std::string>();
            if (std::find(names.begin(), names.end(), file.get<std::string>()) == names.end()) names.push_back(file.get<std::string>());
        }
    } else {
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().extension() == ".safetensors") names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        if (names.empty()) fail("{}: no *.safetensors file and no model.safetensors.index.json", dir);
    }
    for (const auto& name : names) {
        const std::string p = (fs::path(dir) / name).string();
        // The error_code overload: a name the system refuses (too long, say) is a missing shard, not a throw.
        if (!fs::exists(p, ec))
            fail("{}: shard {} named by model.safetensors.index.json does not exist{}", dir, name,
                 ec ? " (" + ec.message() + ")" : "");
        shards_.push_back(std::make_unique<SafetensorsFile>(p));
        files_.push_back(p);
        for (const auto& [tname, view] : shards_.back()->tensors()) {
            if (!index_.empty()) {
                auto it = index_.find(tname);
                if (it == index_.end() || it->second != name) continue;  // the index decides
            }
            if (by_name_.count(tname)) fail("{}: tensor '{}' appears in more than one shard", dir, tname);
            by_name_[tname] = &view;
        }
    }
}

bool SafetensorsCheckpoint::has(const std::string& name) const { return by_name_.count(name) != 0; }

const TensorView& SafetensorsCheckpoint::get(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it != by_name_.end()) return *it->second;
    auto idx = index_.find(name);
    if (idx != index_.end())
        fail("{}: missing tensor '{}' (model.safetensors.index.json places it in {}, which does not hold it)", dir_, name, idx->second);
    if (!index_.empty()) fail("{}: missing tensor '{}' (model.safetensors.index.json does not list it)", dir_, name);
    fail("{}: missing tensor '{}'", dir_, name);
}

size_t SafetensorsCheckpoint::total_bytes() const {
    size_t n = 0;
    for (const auto& [name, t] : by_name_) n += t->nbytes;
    return n;
}

}  // namespace dlmscope
