// Unit tests: the safetensors reader, the config parser, Model::load, validate_params and
// transfer_schedule.
//
// Sections:
//   [helpers]     a temp directory, and a reader/writer for safetensors files so that every
//                 corrupt checkpoint is built at test time from the good tiny one
//   [good]        the tiny checkpoint loads; shard order and sharding do not change a tensor
//   [safetensors] truncated files, lying header lengths and offsets, unknown dtypes
//   [index]       missing tensors and shards, a malformed index
//   [model]       shape mismatches, unreadable model paths, a malformed tokenizer.json
//   [config]      every unsupported config value (spec 2.2), malformed config.json
//   [params]      validate_params (spec 5.2) and the worked transfer schedules of spec 5.2
//
// Every bad-input test checks that loading throws dlmscope::Error and that the message names the
// file, the key or the value (product.md section 8).
#include "core/error.h"
#include "core/json.h"
#include "engine/checkpoint/config.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/model/model.h"
#include "engine/sampler/diffusion.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// ============================================================================ [helpers]

const std::string kShard1 = "model-00001-of-00002.safetensors";
const std::string kShard2 = "model-00002-of-00002.safetensors";
const std::string kIndex = "model.safetensors.index.json";
const std::string kQ0 = "model.transformer.blocks.0.q_proj.weight";    // in shard 1, [64, 64]
const std::string kK1 = "model.transformer.blocks.1.k_proj.weight";    // in shard 2, [64, 64]
const std::string kHead = "model.transformer.ff_out.weight";           // in shard 2, [320, 64]

// A fresh directory under the test temp dir, removed at the end of the test.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::path(::testing::TempDir()) / "dlmscope-ckpt-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return (fs::path(path_) / name).string(); }

private:
    std::string path_;
};

std::string read_bytes(const std::string& path) {
    std::string bytes(static_cast<size_t>(fs::file_size(path)), '\0');
    std::ifstream in(path, std::ios::binary);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    return bytes;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << path;
}

json read_json(const std::string& path) { return json::parse(read_bytes(path)); }
void write_json(const std::string& path, const json& j) { write_bytes(path, j.dump(2)); }

// A safetensors file split into its parsed header and its data section.
struct StFile {
    json header;
    std::string data;
};

StFile read_st(const std::string& path) {
    const std::string b = read_bytes(path);
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    return {json::parse(b.substr(8, n)), b.substr(8 + n)};
}

// Writes HEADER (space-padded so the data starts 8-byte aligned, as Hugging Face does) and DATA.
// `length_delta` makes the 8-byte length field lie by that many bytes.
void write_st(const std::string& path, const json& header, const std::string& data, int64_t length_delta = 0) {
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0) h += ' ';
    const uint64_t n = static_cast<uint64_t>(static_cast<int64_t>(h.size()) + length_delta);
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    write_bytes(path, out + h + data);
}

// Copies the good tiny checkpoint (config, shards, index, tokenizer files) into DIR.
void copy_tiny(const std::string& dir) {
    for (const auto& e : fs::directory_iterator(test::tiny_checkpoint()))
        fs::copy_file(e.path(), fs::path(dir) / e.path().filename(), fs::copy_options::overwrite_existing);
}

// Edits config.json of a copied checkpoint.
void edit_config(const std::string& dir, const std::function<void(json&)>& edit) {
    const std::string p = (fs::path(dir) / "config.json").string();
    json c = read_json(p);
    edit(c);
    write_json(p, c);
}

// Edits one shard's header (and optionally its data) of a copied checkpoint.
void edit_shard(const std::string& dir, const std::string& shard, const std::function<void(StFile&)>& edit) {
    const std::string p = (fs::path(dir) / shard).string();
    StFile f = read_st(p);
    edit(f);
    write_st(p, f.header, f.data);
}

// The message of the dlmscope::Error that `fn` throws ("" and a test failure when it does not).
std::string error_of(const std::function<void()>& fn) {
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

std::string load_error(const std::string& dir) {
    return error_of([&] { Model::load(dir); });
}

// Every tensor of a checkpoint as name -> (dtype, shape, raw bytes).
struct TensorBytes {
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
    bool operator==(const TensorBytes&) const = default;
};

std::map<std::string, TensorBytes> all_tensors(const SafetensorsCheckpoint& ck) {
    std::map<std::string, TensorBytes> m;
    for (const auto& [name, t] : ck.all())
        m[name] = {t->dtype, t->shape, std::string(reinterpret_cast<const char*>(t->data), t->nbytes)};
    return m;
}

// ============================================================================ [good]

TEST(Checkpoint, TinyLoads) {
    auto m = Model::load(test::tiny_checkpoint());
    const ModelConfig& c = m->config();
    EXPECT_EQ(c.model_type, "mmada");
    EXPECT_EQ(c.d_model, 64);
    EXPECT_EQ(c.n_layers, 2);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.head_dim, 16);
    EXPECT_EQ(c.mlp_hidden, 192);
    EXPECT_EQ(c.vocab_size, 320);
    EXPECT_EQ(c.output_width, 320);
    EXPECT_EQ(c.max_sequence_length, 4096);
    EXPECT_EQ(c.mask_token_id, 287);
    EXPECT_EQ(c.eos_token_id, 283);
    EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.n_params(), 147776);  // the fixture's meta.json n_params

    const SafetensorsCheckpoint& ck = m->checkpoint();
    EXPECT_EQ(ck.all().size(), 21u);  // 3 + 2 layers x 9
    EXPECT_EQ(ck.files().size(), 2u);
    EXPECT_EQ(ck.total_bytes(), 295552u);  // the index's total_size: every tensor is bf16
    int64_t numel = 0;
    for (const auto& [name, t] : ck.all()) {
        EXPECT_EQ(t->dtype, DType::bf16) << name;
        numel += t->numel();
    }
    EXPECT_EQ(numel, c.n_params());
    EXPECT_EQ(ck.get(kQ0).shape_str(), "[64, 64]");
    EXPECT_THAT(ck.get(kQ0).file, HasSubstr(kShard1));
    EXPECT_THAT(ck.get(kK1).file, HasSubstr(kShard2));
    EXPECT_EQ(m->weights().layers.size(), 2u);
    EXPECT_EQ(m->weights().head.rows, 320);
    EXPECT_EQ(m->weights().head.cols, 64);
}

TEST(Checkpoint, ShardHeaderParses) {
    SafetensorsFile f(test::tiny_checkpoint() + "/" + kShard1);
    EXPECT_EQ(f.tensors().size(), 12u);  // __metadata__ is not a tensor
    EXPECT_EQ(f.tensors().count("__metadata__"), 0u);
    const TensorView& q = f.tensors().at(kQ0);
    EXPECT_EQ(q.dtype, DType::bf16);
    EXPECT_EQ(q.numel(), 64 * 64);
    EXPECT_EQ(q.nbytes, 64u * 64u * 2u);
    EXPECT_EQ(q.name, kQ0);
}

TEST(Checkpoint, NativeAndWidenedWeightsAgree) {
    LoadOptions wide, native;
    wide.weights = WeightPrecision::f32;
    native.weights = WeightPrecision::native;
    wide.backend = native.backend = "openblas";  // keeps the weights as loaded (a packing backend would drop the source)
    auto a = Model::load(test::tiny_checkpoint(), wide);
    auto b = Model::load(test::tiny_checkpoint(), native);
    EXPECT_TRUE(a->widened());
    EXPECT_FALSE(b->widened());
    const Weight& wa = a->weights().layers[1].down;
    const Weight& wb = b->weights().layers[1].down;
    ASSERT_EQ(wa.rows, 64);
    ASSERT_EQ(wa.cols, 192);
    ASSERT_EQ(wb.dtype, DType::bf16);
    std::vector<float> ra(192), rb(192);
    for (int64_t r = 0; r < wa.rows; ++r) {
        wa.row_to_f32(r, ra.data());
        wb.row_to_f32(r, rb.data());
        ASSERT_EQ(ra, rb) << "row " << r;
    }
}

TEST(Checkpoint, IndexDecidesNotShardOrder) {
    // Swap the two shard files' names and rewrite the index to match: the shard that is read
    // first now holds the other half of the tensors. Every tensor must come out identical.
    TempDir dir;
    copy_tiny(dir.path());
    fs::rename(dir / kShard1, dir / "tmp.safetensors");
    fs::rename(dir / kShard2, dir / kShard1);
    fs::rename(dir / "tmp.safetensors", dir / kShard2);
    json idx = read_json(dir / kIndex);
    for (auto& [name, file] : idx["weight_map"].items()) file = file == kShard1 ? kShard2 : kShard1;
    write_json(dir / kIndex, idx);

    SafetensorsCheckpoint good(test::tiny_checkpoint()), swapped(dir.path());
    EXPECT_EQ(all_tensors(good), all_tensors(swapped));
    EXPECT_THAT(swapped.get(kQ0).file, HasSubstr(kShard2));
    EXPECT_NO_THROW(Model::load(dir.path()));
}

TEST(Checkpoint, IndexListingOrderDoesNotMatter) {
    // The index text lists shard 2's tensors first (and in reverse name order).
    TempDir dir;
    copy_tiny(dir.path());
    const json idx = read_json(dir / kIndex);
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (const std::string& shard : {kShard2, kShard1})
        for (auto it = idx["weight_map"].rbegin(); it != idx["weight_map"].rend(); ++it)
            if (*it == shard) map[it.key()] = shard;
    ASSERT_EQ(map.size(), 21u);
    nlohmann::ordered_json out = {{"weight_map", map}, {"metadata", idx["metadata"]}};
    write_bytes(dir / kIndex, out.dump(2));
    ASSERT_EQ(read_bytes(dir / kIndex).find(kShard2) < read_bytes(dir / kIndex).find(kShard1), true);

    SafetensorsCheckpoint good(test::tiny_checkpoint()), reordered(dir.path());
    EXPECT_EQ(all_tensors(good), all_tensors(reordered));
}

TEST(Checkpoint, SingleFileCheckpointMatchesShards) {
    // Merge both shards into one model.safetensors with no index.
    TempDir dir;
    fs::copy_file(test::tiny_checkpoint() + "/config.json", dir / "config.json");
    json header = {{"__metadata__", {{"format", "pt"}}}};
    std::string data;
    // Reverse order of the original shards, so data offsets differ from both of them.
    for (const std::string& shard : {kShard2, kShard1}) {
        StFile f = read_st(test::tiny_checkpoint() + "/" + shard);
        for (auto& [name, info] : f.header.items()) {
            if (name == "__metadata__") continue;
            const uint64_t b = info["data_offsets"][0], e = info["data_offsets"][1];
            json t = info;
            t["data_offsets"] = {data.size(), data.size() + (e - b)};
            data += f.data.substr(b, e - b);
            header[name] = t;
        }
    }
    write_st(dir / "model.safetensors", header, data);

    SafetensorsCheckpoint good(test::tiny_checkpoint()), single(dir.path());
    EXPECT_EQ(single.files().size(), 1u);
    EXPECT_EQ(all_tensors(good), all_tensors(single));
    auto m = Model::load(dir.path());
    EXPECT_EQ(m->config().n_params(), 147776);
}

TEST(Checkpoint, ShardsWithoutIndexAreAllRead) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::remove(dir / kIndex);
    SafetensorsCheckpoint good(test::tiny_checkpoint()), scanned(dir.path());
    EXPECT_EQ(scanned.files().size(), 2u);
    EXPECT_EQ(all_tensors(good), all_tensors(scanned));
}

TEST(Checkpoint, IndexChoosesBetweenDuplicateTensors) {
    // Shard 2 also carries a (zeroed) copy of q_proj.0; the index still points at shard 1.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard2, [](StFile& f) {
        const uint64_t at = f.data.size();
        f.header[kQ0] = {{"dtype", "BF16"}, {"shape", {64, 64}}, {"data_offsets", {at, at + 64 * 64 * 2}}};
        f.data += std::string(64 * 64 * 2, '\0');
    });
    SafetensorsCheckpoint good(test::tiny_checkpoint()), dup(dir.path());
    EXPECT_THAT(dup.get(kQ0).file, HasSubstr(kShard1));
    EXPECT_EQ(all_tensors(good), all_tensors(dup));
}

// ============================================================================ [safetensors]

TEST(Safetensors, TruncatedData) {
    TempDir dir;
    copy_tiny(dir.path());
    const std::string p = dir / kShard2;
    fs::resize_file(p, fs::file_size(p) - 1000);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard2));
    EXPECT_THAT(msg, HasSubstr("data_offsets"));
    EXPECT_THAT(msg, HasSubstr("truncated"));
}

TEST(Safetensors, TruncatedInsideHeader) {
    TempDir dir;
    copy_tiny(dir.path());
    const std::string p = dir / kShard1;
    fs::resize_file(p, 200);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr("header length 1272"));
    EXPECT_THAT(msg, HasSubstr("file size 200"));
}

TEST(Safetensors, TruncatedBeforeHeaderLength) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::resize_file(dir / kShard1, 5);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr("truncated"));
    EXPECT_THAT(msg, HasSubstr("5 bytes"));
}

TEST(Safetensors, EmptyFile) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::resize_file(dir / kShard2, 0);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard2));
    EXPECT_THAT(msg, HasSubstr("truncated"));
}

TEST(Safetensors, HeaderLengthTooLarge) {
    TempDir dir;
    copy_tiny(dir.path());
    StFile f = read_st(dir / kShard1);
    write_st(dir / kShard1, f.header, f.data, /*length_delta=*/1'000'000);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr("header length"));
    EXPECT_THAT(msg, HasSubstr("exceeds the file size"));
}

TEST(Safetensors, HeaderLengthHuge) {
    // A length near 2^64 must not overflow the bounds check.
    TempDir dir;
    copy_tiny(dir.path());
    std::string b = read_bytes(dir / kShard1);
    const uint64_t n = ~uint64_t{0} - 3;
    std::memcpy(b.data(), &n, 8);
    write_bytes(dir / kShard1, b);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(std::to_string(n)));
}

TEST(Safetensors, HeaderLengthTooSmall) {
    // The length cuts the JSON short: the header no longer parses.
    TempDir dir;
    copy_tiny(dir.path());
    StFile f = read_st(dir / kShard1);
    write_st(dir / kShard1, f.header, f.data, /*length_delta=*/-100);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr("not valid JSON"));
}

TEST(Safetensors, HeaderNotAnObject) {
    TempDir dir;
    copy_tiny(dir.path());
    write_st(dir / kShard1, json::array({1, 2}), "");
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr("not a JSON object"));
}

TEST(Safetensors, OffsetsPastTheData) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) {
        const uint64_t end = f.data.size() + 8192;
        f.header[kQ0]["data_offsets"] = {end - 8192, end};
    });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("data_offsets"));
    EXPECT_THAT(msg, HasSubstr("outside the data section"));
}

TEST(Safetensors, OffsetsReversed) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["data_offsets"] = {16512, 8320}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("[16512, 8320]"));
}

TEST(Safetensors, OffsetsDisagreeWithShape) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["data_offsets"] = {8320, 8320 + 4096}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("4096 bytes"));
    EXPECT_THAT(msg, HasSubstr("[64, 64]"));
    EXPECT_THAT(msg, HasSubstr("8192"));
}

TEST(Safetensors, OffsetsOverlap) {
    // Two tensors claim the same bytes.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) {
        f.header[kQ0]["data_offsets"] = f.header["model.transformer.blocks.0.attn_out.weight"]["data_offsets"];
    });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr("overlap"));
}

TEST(Safetensors, OffsetsNotNumbers) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["data_offsets"] = {-8, 8192}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("bad data_offsets"));
}

TEST(Safetensors, MissingField) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0].erase("dtype"); });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("dtype"));
}

TEST(Safetensors, NegativeShape) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["shape"] = {-64, -64}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("[-64,-64]"));
}

TEST(Safetensors, ShapeWhoseByteCountWrapsAround) {
    // (2^62 + 2048) x 2 bf16 elements = 2^64 + 8192 bytes, which wraps to the 8192 the offsets
    // hold: the reader must see that the shape cannot fit, not accept it.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["shape"] = {4611686018427389952LL, 2}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("[4611686018427389952,2]"));
    EXPECT_THAT(msg, HasSubstr("larger than the whole data section"));
}

TEST(Safetensors, ShapeNotAnArray) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["shape"] = 4096; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("bad shape 4096"));
}

class UnknownDtype : public ::testing::TestWithParam<const char*> {};

TEST_P(UnknownDtype, NamesFileTensorAndDtype) {
    TempDir dir;
    copy_tiny(dir.path());
    const std::string dt = GetParam();
    edit_shard(dir.path(), kShard2, [&](StFile& f) { f.header[kK1]["dtype"] = dt; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard2));
    EXPECT_THAT(msg, HasSubstr(kK1));
    EXPECT_THAT(msg, HasSubstr("dtype " + dt));
    EXPECT_THAT(msg, HasSubstr("BF16, F16, F32"));
}

INSTANTIATE_TEST_SUITE_P(Safetensors, UnknownDtype, ::testing::Values("I8", "F64", "U8", "bf16", "F8_E4M3"));

TEST(Safetensors, DtypeNotAString) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard2, [](StFile& f) { f.header[kK1]["dtype"] = 16; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard2));
    EXPECT_THAT(msg, HasSubstr(kK1));
    EXPECT_THAT(msg, HasSubstr("dtype 16"));
}

TEST(Safetensors, F32AndF16Supported) {
    // Rewrite the whole checkpoint as F32 (shard 1) and F16 (shard 2) copies with widened or
    // narrowed data: it still loads, and the widened values are what the bf16 values were.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) {
        std::string out;
        for (auto& [name, info] : f.header.items()) {
            if (name == "__metadata__") continue;
            const uint64_t b = info["data_offsets"][0], e = info["data_offsets"][1];
            const uint64_t at = out.size();
            for (uint64_t i = b; i < e; i += 2) {
                uint16_t h;
                std::memcpy(&h, f.data.data() + i, 2);
                const uint32_t w = static_cast<uint32_t>(h) << 16;  // bf16 -> f32 is exact
                out.append(reinterpret_cast<const char*>(&w), 4);
            }
            info["dtype"] = "F32";
            info["data_offsets"] = {at, out.size()};
        }
        f.data = out;
    });
    auto wide = Model::load(dir.path());
    auto good = Model::load(test::tiny_checkpoint());
    EXPECT_EQ(wide->checkpoint().get(kQ0).dtype, DType::f32);
    std::vector<float> ra(64), rb(64);
    for (int64_t r = 0; r < 64; ++r) {
        wide->weights().layers[0].q.row_to_f32(r, ra.data());
        good->weights().layers[0].q.row_to_f32(r, rb.data());
        ASSERT_EQ(ra, rb) << "row " << r;
    }
}

// ============================================================================ [index]

TEST(Index, TensorDroppedFromIndex) {
    TempDir dir;
    copy_tiny(dir.path());
    json idx = read_json(dir / kIndex);
    idx["weight_map"].erase(kK1);
    write_json(dir / kIndex, idx);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("missing tensor '" + kK1 + "'"));
    EXPECT_THAT(msg, HasSubstr(dir.path()));
    EXPECT_THAT(msg, HasSubstr(kIndex + " does not list it"));
}

TEST(Index, TensorDroppedFromShard) {
    // The index still places the tensor in shard 2, which no longer holds it.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard2, [](StFile& f) { f.header.erase(kK1); });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("missing tensor '" + kK1 + "'"));
    EXPECT_THAT(msg, HasSubstr(kShard2));
}

TEST(Index, TensorMissingWithoutIndex) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::remove(dir / kIndex);
    edit_shard(dir.path(), kShard2, [](StFile& f) { f.header.erase(kHead); });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("missing tensor '" + kHead + "'"));
    EXPECT_THAT(msg, HasSubstr(dir.path()));
}

TEST(Index, ShardFileMissing) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::remove(dir / kShard2);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard2));
    EXPECT_THAT(msg, HasSubstr("does not exist"));
}

TEST(Index, MalformedIndex) {
    TempDir dir;
    copy_tiny(dir.path());
    write_bytes(dir / kIndex, "{\"weight_map\": {\"a\": ");
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kIndex));
    EXPECT_THAT(msg, HasSubstr("malformed JSON"));
}

TEST(Index, IndexWithoutWeightMap) {
    TempDir dir;
    copy_tiny(dir.path());
    write_json(dir / kIndex, {{"metadata", {{"total_size", 295552}}}});
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kIndex));
    EXPECT_THAT(msg, HasSubstr("weight_map"));
}

TEST(Index, TensorInTwoShardsWithoutIndex) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::remove(dir / kIndex);
    edit_shard(dir.path(), kShard2, [](StFile& f) {
        const uint64_t at = f.data.size();
        f.header[kQ0] = {{"dtype", "BF16"}, {"shape", {64, 64}}, {"data_offsets", {at, at + 64 * 64 * 2}}};
        f.data += std::string(64 * 64 * 2, '\0');
    });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("more than one shard"));
}

TEST(Index, NoWeightsAtAll) {
    TempDir dir;
    fs::copy_file(test::tiny_checkpoint() + "/config.json", dir / "config.json");
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir.path()));
    EXPECT_THAT(msg, HasSubstr("no *.safetensors"));
}

// ============================================================================ [model]

TEST(Model, ShapeMismatch) {
    // Same byte count, wrong shape: only the config can tell.
    TempDir dir;
    copy_tiny(dir.path());
    edit_shard(dir.path(), kShard1, [](StFile& f) { f.header[kQ0]["shape"] = {32, 128}; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(kShard1));
    EXPECT_THAT(msg, HasSubstr(kQ0));
    EXPECT_THAT(msg, HasSubstr("[32, 128]"));
    EXPECT_THAT(msg, HasSubstr("expected [64, 64]"));
}

TEST(Model, ConfigDisagreesWithWeights) {
    // mlp_hidden_size 256 in config.json, 192 in the shards.
    TempDir dir;
    copy_tiny(dir.path());
    edit_config(dir.path(), [](json& c) { c["mlp_hidden_size"] = 256; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("[192, 64]"));
    EXPECT_THAT(msg, HasSubstr("expected [256, 64]"));
}

TEST(Model, MoreLayersThanTheCheckpoint) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_config(dir.path(), [](json& c) { c["n_layers"] = 3; });
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr("missing tensor 'model.transformer.blocks.2."));
}

TEST(Model, ModelPathDoesNotExist) {
    const std::string p = "/nonexistent/dlmscope-model-dir";
    const std::string msg = load_error(p);
    EXPECT_THAT(msg, HasSubstr("model path " + p + " does not exist"));
}

TEST(Model, ModelPathIsAFile) {
    const std::string p = test::tiny_checkpoint() + "/config.json";
    const std::string msg = load_error(p);
    EXPECT_THAT(msg, HasSubstr("model path " + p + " is not a directory"));
}

TEST(Model, ModelPathWithoutConfig) {
    TempDir dir;
    copy_tiny(dir.path());
    fs::remove(dir / "config.json");
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir.path()));
    EXPECT_THAT(msg, HasSubstr("config.json"));
}

TEST(Model, ModelPathUnreadable) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads every directory";
    TempDir dir;
    copy_tiny(dir.path());
    const std::string sub = dir / "locked";
    fs::create_directory(sub);
    fs::copy_file(dir / "config.json", fs::path(sub) / "config.json");
    fs::permissions(sub, fs::perms::none);
    const std::string msg = load_error(sub);
    fs::permissions(sub, fs::perms::owner_all);
    EXPECT_THAT(msg, HasSubstr(sub));
}

TEST(Model, UnreadableShard) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
    TempDir dir;
    copy_tiny(dir.path());
    fs::permissions(dir / kShard1, fs::perms::none);
    const std::string msg = load_error(dir.path());
    fs::permissions(dir / kShard1, fs::perms::owner_all);
    EXPECT_THAT(msg, HasSubstr(kShard1));
}

TEST(Model, ParseWeightPrecision) {
    EXPECT_EQ(parse_weight_precision("auto"), WeightPrecision::automatic);
    EXPECT_EQ(parse_weight_precision("f32"), WeightPrecision::f32);
    EXPECT_EQ(parse_weight_precision("native"), WeightPrecision::native);
    EXPECT_THAT(error_of([] { parse_weight_precision("bf16"); }), HasSubstr("'bf16'"));
}

TEST(Model, MalformedTokenizerJson) {
    // The tokenizer lives next to the weights; a cut-off tokenizer.json names its path.
    TempDir dir;
    copy_tiny(dir.path());
    const std::string text = read_bytes(dir / "tokenizer.json");
    write_bytes(dir / "tokenizer.json", text.substr(0, text.size() / 2));
    EXPECT_NO_THROW(Model::load(dir.path()));
    const std::string msg = error_of([&] { Tokenizer::load(dir.path()); });
    EXPECT_THAT(msg, HasSubstr(dir / "tokenizer.json"));
}

// ============================================================================ [config]

// One unsupported config edit and what its message must contain.
struct ConfigCase {
    const char* name;
    std::function<void(json&)> edit;
    std::vector<std::string> expect;  // substrings of the message
};

void PrintTo(const ConfigCase& c, std::ostream* os) { *os << c.name; }

json tiny_config() { return read_json(test::tiny_checkpoint() + "/config.json"); }

class BadConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(BadConfig, ParseNamesKeyAndValue) {
    json c = tiny_config();
    GetParam().edit(c);
    const std::string msg = error_of([&] { parse_model_config(c, "some/config.json"); });
    EXPECT_THAT(msg, HasSubstr("some/config.json"));
    for (const std::string& s : GetParam().expect) EXPECT_THAT(msg, HasSubstr(s));
}

TEST_P(BadConfig, ModelLoadNamesFileKeyAndValue) {
    TempDir dir;
    copy_tiny(dir.path());
    edit_config(dir.path(), GetParam().edit);
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir / "config.json"));
    for (const std::string& s : GetParam().expect) EXPECT_THAT(msg, HasSubstr(s));
}

const ConfigCase kBadConfigs[] = {
    {"block_type", [](json& c) { c["block_type"] = "sequential"; }, {"block_type", "\"sequential\"", "\"llama\""}},
    {"block_type_missing", [](json& c) { c.erase("block_type"); }, {"missing key 'block_type'"}},
    {"layer_norm_type", [](json& c) { c["layer_norm_type"] = "default"; }, {"layer_norm_type", "\"default\""}},
    {"activation_type", [](json& c) { c["activation_type"] = "gelu"; }, {"activation_type", "\"gelu\""}},
    {"rope", [](json& c) { c["rope"] = false; }, {"rope = false"}},
    {"alibi", [](json& c) { c["alibi"] = true; }, {"alibi = true"}},
    {"include_bias", [](json& c) { c["include_bias"] = true; }, {"include_bias = true"}},
    {"include_qkv_bias", [](json& c) { c["include_qkv_bias"] = true; }, {"include_qkv_bias = true"}},
    {"bias_for_layer_norm", [](json& c) { c["bias_for_layer_norm"] = true; }, {"bias_for_layer_norm = true"}},
    {"attention_layer_norm", [](json& c) { c["attention_layer_norm"] = true; }, {"attention_layer_norm = true"}},
    {"input_emb_norm", [](json& c) { c["input_emb_norm"] = true; }, {"input_emb_norm = true"}},
    {"scale_logits", [](json& c) { c["scale_logits"] = true; }, {"scale_logits = true"}},
    {"weight_tying", [](json& c) { c["weight_tying"] = true; }, {"weight_tying = true"}},
    {"weight_tying_string", [](json& c) { c["weight_tying"] = "no"; }, {"weight_tying = \"no\""}},
    {"block_group_size", [](json& c) { c["block_group_size"] = 2; }, {"block_group_size = 2"}},
    {"layer_norm_with_affine", [](json& c) { c["layer_norm_with_affine"] = false; }, {"layer_norm_with_affine = false"}},
    {"clip_qkv", [](json& c) { c["clip_qkv"] = 8.0; }, {"clip_qkv = 8.0"}},
    {"d_model_missing", [](json& c) { c.erase("d_model"); }, {"missing key 'd_model'"}},
    {"d_model_string", [](json& c) { c["d_model"] = "64"; }, {"'d_model'", "\"64\""}},
    {"d_model_negative", [](json& c) { c["d_model"] = -64; }, {"'d_model'", "-64"}},
    {"d_model_float", [](json& c) { c["d_model"] = 64.5; }, {"'d_model'", "64.5"}},
    {"n_layers_zero", [](json& c) { c["n_layers"] = 0; }, {"n_layers must be positive, got 0"}},
    {"heads_indivisible", [](json& c) { c["n_heads"] = 5; }, {"d_model = 64", "n_heads = 5"}},
    {"kv_heads_indivisible", [](json& c) { c["n_kv_heads"] = 3; }, {"n_heads = 4", "n_kv_heads = 3"}},
    {"head_dim_odd", [](json& c) { c["d_model"] = 60; }, {"head dimension 15"}},
    {"embedding_size_small", [](json& c) { c["embedding_size"] = 256; }, {"embedding_size = 256", "vocab_size = 320"}},
    {"vocab_size_missing", [](json& c) { c.erase("vocab_size"); }, {"missing key 'vocab_size'"}},
    {"mlp_hidden_zero", [](json& c) { c["mlp_hidden_size"] = 0; }, {"mlp_hidden_size"}},
    {"rope_theta_zero", [](json& c) { c["rope_theta"] = 0.0; }, {"rope_theta"}},
    {"rms_norm_eps_string", [](json& c) { c["rms_norm_eps"] = "1e-5"; }, {"'rms_norm_eps'", "\"1e-5\""}},
    {"mask_token_id_negative", [](json& c) { c["mask_token_id"] = -1; }, {"'mask_token_id'", "-1"}},
    {"max_sequence_length_huge", [](json& c) { c["max_sequence_length"] = 1LL << 40; },
     {"'max_sequence_length'", "1099511627776"}},
};

INSTANTIATE_TEST_SUITE_P(Config, BadConfig, ::testing::ValuesIn(kBadConfigs),
                         [](const ::testing::TestParamInfo<ConfigCase>& i) { return std::string(i.param.name); });

TEST(Config, NotAnObject) {
    EXPECT_THAT(error_of([] { parse_model_config(json::array(), "x/config.json"); }), HasSubstr("x/config.json"));
}

TEST(Config, MalformedConfigJson) {
    TempDir dir;
    copy_tiny(dir.path());
    std::string text = read_bytes(dir / "config.json");
    write_bytes(dir / "config.json", text.substr(0, text.size() / 2));
    const std::string msg = load_error(dir.path());
    EXPECT_THAT(msg, HasSubstr(dir / "config.json"));
    EXPECT_THAT(msg, HasSubstr("malformed JSON"));
}

TEST(Config, DefaultsForAbsentKeys) {
    // Keys the engine does not need may be absent: LLaDA defaults apply.
    json c = tiny_config();
    for (const char* k : {"alibi", "include_bias", "weight_tying", "n_kv_heads", "embedding_size", "max_sequence_length",
                          "mask_token_id", "rope_theta", "mlp_hidden_size"})
        c.erase(k);
    const ModelConfig m = parse_model_config(c, "config.json");
    EXPECT_EQ(m.n_kv_heads, 4);
    EXPECT_EQ(m.output_width, 320);
    EXPECT_EQ(m.max_sequence_length, 4096);
    EXPECT_EQ(m.mask_token_id, -1);
    EXPECT_EQ(m.mlp_hidden, 4 * 64);  // mlp_ratio * d_model
    EXPECT_DOUBLE_EQ(m.rope_theta, 10000.0);
}

TEST(Config, NullKeysAreAbsent) {
    json c = tiny_config();
    c["multi_query_attention"] = nullptr;
    c["clip_qkv"] = nullptr;
    c["weight_tying"] = nullptr;
    EXPECT_NO_THROW(parse_model_config(c, "config.json"));
}

TEST(Config, MultiQueryAttentionMeansOneKvHead) {
    json c = tiny_config();
    c["multi_query_attention"] = true;
    EXPECT_EQ(parse_model_config(c, "config.json").n_kv_heads, 1);
}

TEST(Config, LLaDA8BSizes) {
    // Spec 2.3: the published LLaDA-8B config has 8 015 581 184 parameters.
    json c = tiny_config();
    c["model_type"] = "llada";
    c["d_model"] = 4096;
    c["n_layers"] = 32;
    c["n_heads"] = 32;
    c["n_kv_heads"] = 32;
    c["mlp_hidden_size"] = 12288;
    c["vocab_size"] = 126464;
    c["embedding_size"] = 126464;
    EXPECT_EQ(parse_model_config(c, "config.json").n_params(), 8015581184LL);
    c["vocab_size"] = 134656;
    c["embedding_size"] = 134656;
    EXPECT_EQ(parse_model_config(c, "config.json").n_params(), 8082690048LL);  // MMaDA
}

// ============================================================================ [params]

ModelConfig tiny_model_config() { return parse_model_config(tiny_config(), "config.json"); }

GenerateParams t0_params() {
    GenerateParams p;
    p.gen_length = 64;
    p.block_length = 16;
    p.steps = 32;
    p.mask_id = 287;
    return p;
}

std::string params_error(const GenerateParams& p, int prompt_length, const ModelConfig& c) {
    return error_of([&] { validate_params(p, prompt_length, c); });
}

TEST(Params, T0IsValid) { EXPECT_NO_THROW(validate_params(t0_params(), 39, tiny_model_config())); }

TEST(Params, GenLengthNotMultipleOfBlockLength) {
    GenerateParams p = t0_params();
    p.gen_length = 60;
    const std::string msg = params_error(p, 39, tiny_model_config());
    EXPECT_THAT(msg, HasSubstr("gen_length 60"));
    EXPECT_THAT(msg, HasSubstr("block_length 16"));
}

TEST(Params, StepsNotMultipleOfBlocks) {
    GenerateParams p = t0_params();
    p.steps = 30;
    const std::string msg = params_error(p, 39, tiny_model_config());
    EXPECT_THAT(msg, HasSubstr("steps 30"));
    EXPECT_THAT(msg, HasSubstr("number of blocks 4"));
}

TEST(Params, PromptLongerThanModelAllows) {
    ModelConfig c = tiny_model_config();
    c.max_sequence_length = 40;
    const std::string msg = params_error(t0_params(), 39, c);
    EXPECT_THAT(msg, HasSubstr("39 tokens"));
    EXPECT_THAT(msg, HasSubstr("gen_length (64)"));
    EXPECT_THAT(msg, HasSubstr("103"));
    EXPECT_THAT(msg, HasSubstr("max_sequence_length 40"));
    // Exactly at the limit is fine.
    c.max_sequence_length = 103;
    EXPECT_NO_THROW(validate_params(t0_params(), 39, c));
}

TEST(Params, NonPositiveValues) {
    const ModelConfig c = tiny_model_config();
    GenerateParams p = t0_params();
    p.gen_length = 0;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("gen_length must be positive, got 0"));
    p = t0_params();
    p.block_length = -16;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("block_length must be positive, got -16"));
    p = t0_params();
    p.steps = 0;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("steps must be positive, got 0"));
    EXPECT_THAT(params_error(t0_params(), 0, c), HasSubstr("prompt is empty"));
}

TEST(Params, TemperatureAndCfg) {
    const ModelConfig c = tiny_model_config();
    GenerateParams p = t0_params();
    p.temperature = -0.5;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("temperature must be >= 0, got -0.5"));
    p.temperature = std::nan("");
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("temperature"));
    p = t0_params();
    p.cfg_scale = -1.0;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("cfg_scale must be >= 0, got -1"));
}

TEST(Params, MaskIdOutsideVocabulary) {
    const ModelConfig c = tiny_model_config();
    GenerateParams p = t0_params();
    p.mask_id = 320;
    const std::string msg = params_error(p, 39, c);
    EXPECT_THAT(msg, HasSubstr("mask id 320"));
    EXPECT_THAT(msg, HasSubstr("0..319"));
    p.mask_id = -1;
    EXPECT_THAT(params_error(p, 39, c), HasSubstr("mask id -1"));
}

TEST(Params, ParseNames) {
    EXPECT_EQ(parse_remasking("random"), Remasking::random);
    EXPECT_EQ(parse_remasking("low_confidence"), Remasking::low_confidence);
    EXPECT_THAT(error_of([] { parse_remasking("entropy"); }), HasSubstr("'entropy'"));
    EXPECT_EQ(parse_sampler_flavor("llada"), SamplerFlavor::llada);
    EXPECT_THAT(error_of([] { parse_sampler_flavor("dream"); }), HasSubstr("'dream'"));
}

// One row of spec 5.2's worked examples.
struct ScheduleCase {
    int gen_length, block_length, steps;
    int blocks, steps_per_block;
    std::vector<int> per_block;  // k_s of every block (all blocks start fully masked)
};

std::vector<int> repeat(int value, int n) { return std::vector<int>(static_cast<size_t>(n), value); }
std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(Schedule, WorkedExamplesOfSpec52) {
    const std::vector<ScheduleCase> cases = {
        {128, 32, 128, 4, 32, repeat(1, 32)},
        {128, 128, 128, 1, 128, repeat(1, 128)},
        {512, 128, 256, 4, 64, repeat(2, 64)},
        {128, 32, 40, 4, 10, {4, 4, 3, 3, 3, 3, 3, 3, 3, 3}},
        {128, 32, 64, 4, 16, repeat(2, 16)},
        {512, 128, 768, 4, 192, concat(repeat(1, 128), repeat(0, 64))},
        {64, 16, 32, 4, 8, repeat(2, 8)},  // the t0 fixture (meta.json num_transfer_tokens_per_block)
    };
    ModelConfig c = tiny_model_config();
    c.max_sequence_length = 4096;
    for (const ScheduleCase& sc : cases) {
        SCOPED_TRACE(::testing::Message() << "G=" << sc.gen_length << " BL=" << sc.block_length << " steps=" << sc.steps);
        GenerateParams p = t0_params();
        p.gen_length = sc.gen_length;
        p.block_length = sc.block_length;
        p.steps = sc.steps;
        EXPECT_NO_THROW(validate_params(p, 10, c));
        const int blocks = sc.gen_length / sc.block_length;
        ASSERT_EQ(blocks, sc.blocks);
        ASSERT_EQ(sc.steps / blocks, sc.steps_per_block);
        const std::vector<int> k = transfer_schedule(sc.block_length, sc.steps_per_block);
        EXPECT_EQ(k, sc.per_block);
        int sum = 0, forwards = 0;
        for (int b = 0; b < blocks; ++b, forwards += static_cast<int>(k.size()))
            for (int x : k) sum += x;
        EXPECT_EQ(sum, sc.gen_length);   // every position gets unmasked
        EXPECT_EQ(forwards, sc.steps);   // one forward per step, k_s = 0 included
    }
}

TEST(Schedule, PartlyMaskedBlockAndLargerCountsFirst) {
    EXPECT_EQ(transfer_schedule(7, 3), (std::vector<int>{3, 2, 2}));
    EXPECT_EQ(transfer_schedule(0, 4), (std::vector<int>{0, 0, 0, 0}));
    EXPECT_EQ(transfer_schedule(5, 5), (std::vector<int>{1, 1, 1, 1, 1}));
    EXPECT_EQ(transfer_schedule(9, 1), (std::vector<int>{9}));
}

}  // namespace
}  // namespace dlmscope

namespace dlmscope {
namespace {

// LLaDA-8B's shapes: 8.02 B parameters, 14.9 GiB as bf16, 29.9 GiB widened to f32.
ModelConfig llada_8b_shape() {
    ModelConfig c;
    c.d_model = 4096;
    c.n_layers = 32;
    c.n_heads = c.n_kv_heads = 32;
    c.head_dim = 128;
    c.mlp_hidden = 12288;
    c.vocab_size = c.output_width = 126464;
    return c;
}

TEST(Model, RefusesWeightsThatDoNotFitUpFront) {
    const ModelConfig c = llada_8b_shape();
    const size_t stored = static_cast<size_t>(c.n_params()) * 2, gib = size_t(1) << 30;
    const kernels::Backend& blas = kernels::select_backend("openblas");
    LoadOptions wide, native, automatic;
    wide.weights = WeightPrecision::f32;
    native.weights = WeightPrecision::native;
    // f32 widening of 8B on a 24 GiB machine: refused, naming the need and the option that fits.
    const std::string msg = test::message_of([&] { check_weight_memory("/models/llada-8b", c, stored, wide, blas, 24 * gib); });
    EXPECT_THAT(msg, HasSubstr("/models/llada-8b"));
    EXPECT_THAT(msg, HasSubstr("29.9 GiB"));
    EXPECT_THAT(msg, HasSubstr("24.0 GiB"));
    EXPECT_THAT(msg, HasSubstr("--weights native"));
    EXPECT_THAT(msg, HasSubstr("14.9 GiB"));
    // The stored bf16 fits; so does `auto`, which widens only what takes at most a third of memory.
    EXPECT_NO_THROW(check_weight_memory("/models/llada-8b", c, stored, native, blas, 24 * gib));
    EXPECT_NO_THROW(check_weight_memory("/models/llada-8b", c, stored, automatic, blas, 24 * gib));
    // Nothing fits on 12 GiB: the message says what the weights alone need.
    const std::string none = test::message_of([&] { check_weight_memory("/models/llada-8b", c, stored, native, blas, 12 * gib); });
    EXPECT_THAT(none, HasSubstr("the weights need 14.9 GiB"));
    EXPECT_THAT(none, HasSubstr("12.0 GiB"));
    // A packing backend keeps the stored bytes once (packed copy, source pages dropped).
    EXPECT_EQ(plan_weight_memory(c, stored, native, kernels::select_backend("reference")).bytes, stored);
}

}  // namespace
}  // namespace dlmscope
