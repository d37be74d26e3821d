// Unit tests of the safetensors reader (engine/checkpoint/safetensors.h) on the tiny checkpoint and
// on corrupt copies of it built at test time (tests/support/checkpoints.h).
//
// Sections:
//   [good]        the tiny checkpoint loads; shard order and sharding do not change a tensor
//   [safetensors] truncated files, lying header lengths and offsets, unknown dtypes
//   [index]       missing tensors and shards, a malformed index
//
// Every bad-input test checks that loading throws dlmscope::Error and that the message names the
// file, the key or the value (product.md section 8).
#include "core/json.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/model/model.h"
#include "support/checkpoints.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dlmscope {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace test;

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

}  // namespace
}  // namespace dlmscope
