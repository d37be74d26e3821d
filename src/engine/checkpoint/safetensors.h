// dlmscope engine: safetensors checkpoints (one file, or shards behind model.safetensors.index.json).
//
// Format (spec 3.2): u64 little-endian header length N, N bytes of JSON
//   {name: {"dtype": "BF16"|"F16"|"F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}
// then the data section; offsets are relative to its start. Every file is memory-mapped and every
// header field is bounds-checked: a lying length, offset or shape is an Error naming file and tensor.
#pragma once

#include "core/dtype.h"
#include "core/mmap.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dlmscope {

// A tensor inside a mapped file (no copy).
struct TensorView {
    std::string name;
    DType dtype = DType::f32;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;
    size_t nbytes = 0;
    std::string file;  // the file it lives in, for error messages

    int64_t numel() const;
    std::string shape_str() const;  // "[64, 192]"
};

// One mapped .safetensors file with its parsed, validated header.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string& path);
    const std::map<std::string, TensorView>& tensors() const { return tensors_; }
    const std::string& path() const { return file_.path(); }
    void release_pages() const { file_.release_pages(); }

private:
    MappedFile file_;
    std::map<std::string, TensorView> tensors_;
};

// All shards of a checkpoint directory. With model.safetensors.index.json the index's weight_map
// decides which file holds each tensor (never the shard order); without it, every *.safetensors
// file in the directory is read.
class SafetensorsCheckpoint {
public:
    explicit SafetensorsCheckpoint(const std::string& dir);

    // The tensor, or Error "missing tensor NAME in DIR" (naming the shard the index points to).
    const TensorView& get(const std::string& name) const;
    bool has(const std::string& name) const;
    const std::map<std::string, const TensorView*>& all() const { return by_name_; }
    const std::vector<std::string>& files() const { return files_; }
    size_t total_bytes() const;
    // Drops every shard's mapped pages from memory (see MappedFile::release_pages).
    void release_pages() const {
        for (const auto& s : shards_) s->release_pages();
    }

private:
    std::string dir_;
    std::vector<std::unique_ptr<SafetensorsFile>> shards_;
    std::vector<std::string> files_;
    std::map<std::string, const TensorView*> by_name_;
    std::map<std::string, std::string> index_;  // name -> file, from the index (empty without one)
};

}  // namespace dlmscope
