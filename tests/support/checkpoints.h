// Test support: a temporary directory, byte/JSON/safetensors file helpers and edits of a copy of the
// tiny checkpoint, so that every corrupt checkpoint is built at test time from the good one — shared
// by the checkpoint, config, model and sampler tests.
#pragma once

#include "core/error.h"
#include "core/json.h"
#include "engine/model/model.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>

#include <stdlib.h>  // mkdtemp

#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace dlmscope::test {

// The tiny checkpoint's two shards and index, and three of its tensors.
inline const std::string kShard1 = "model-00001-of-00002.safetensors";
inline const std::string kShard2 = "model-00002-of-00002.safetensors";
inline const std::string kIndex = "model.safetensors.index.json";
inline const std::string kQ0 = "model.transformer.blocks.0.q_proj.weight";  // in shard 1, [64, 64]
inline const std::string kK1 = "model.transformer.blocks.1.k_proj.weight";  // in shard 2, [64, 64]
inline const std::string kHead = "model.transformer.ff_out.weight";         // in shard 2, [320, 64]

// A fresh directory under the test temp dir, removed at the end of the test.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "dlmscope-ckpt-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

private:
    std::string path_;
};

inline std::string read_bytes(const std::string& path) {
    std::string bytes(static_cast<size_t>(std::filesystem::file_size(path)), '\0');
    std::ifstream in(path, std::ios::binary);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    return bytes;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline json read_json(const std::string& path) { return json::parse(read_bytes(path)); }
inline void write_json(const std::string& path, const json& j) { write_bytes(path, j.dump(2)); }

// A safetensors file split into its parsed header and its data section.
struct StFile {
    json header;
    std::string data;
};

inline StFile read_st(const std::string& path) {
    const std::string b = read_bytes(path);
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    return {json::parse(b.substr(8, n)), b.substr(8 + n)};
}

// Writes HEADER (space-padded so the data starts 8-byte aligned, as Hugging Face does) and DATA.
// `length_delta` makes the 8-byte length field lie by that many bytes.
inline void write_st(const std::string& path, const json& header, const std::string& data, int64_t length_delta = 0) {
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0) h += ' ';
    const uint64_t n = static_cast<uint64_t>(static_cast<int64_t>(h.size()) + length_delta);
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    write_bytes(path, out + h + data);
}

// Copies the good tiny checkpoint (config, shards, index, tokenizer files) into DIR.
inline void copy_tiny(const std::string& dir) {
    namespace fs = std::filesystem;
    for (const auto& e : fs::directory_iterator(tiny_checkpoint()))
        fs::copy_file(e.path(), fs::path(dir) / e.path().filename(), fs::copy_options::overwrite_existing);
}

// Edits config.json of a copied checkpoint.
inline void edit_config(const std::string& dir, const std::function<void(json&)>& edit) {
    const std::string p = (std::filesystem::path(dir) / "config.json").string();
    json c = read_json(p);
    edit(c);
    write_json(p, c);
}

// Edits one shard's header (and optionally its data) of a copied checkpoint.
inline void edit_shard(const std::string& dir, const std::string& shard, const std::function<void(StFile&)>& edit) {
    const std::string p = (std::filesystem::path(dir) / shard).string();
    StFile f = read_st(p);
    edit(f);
    write_st(p, f.header, f.data);
}

// The message of the dlmscope::Error that `fn` throws ("" and a test failure when it does not).
inline std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw a non-dlmscope exception: " << e.what();
        return e.what();
    }
    ADD_FAILURE() << "did not throw";
    return "";
}

inline std::string load_error(const std::string& dir) {
    return error_of([&] { Model::load(dir); });
}

// The tiny checkpoint's config.json.
inline json tiny_config() { return read_json(tiny_checkpoint() + "/config.json"); }

}  // namespace dlmscope::test
