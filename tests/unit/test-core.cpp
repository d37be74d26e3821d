// Unit tests of src/core: bf16/f16 rounding, dtype widening, .npy files, memory-mapped files, atomic
// writes, resolving the paths that files name; and the tests' own tolerance helpers, which must fail
// on NaN rather than pass it.
//
// Sections: [half] [dtype] [npy] [mmap] [atomic write] [paths] [support]
#include "core/dtype.h"
#include "core/file.h"
#include "core/half.h"
#include "core/mmap.h"
#include "core/npy.h"
#include "support/fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace dlmscope {
namespace {

using ::testing::HasSubstr;
using test::message_of;
namespace fs = std::filesystem;

// ============================================================================ [half]
//
// The oracle is the definition, not the code: between two neighbouring 16-bit values a and b, a float
// below their midpoint narrows to a, one above to b, and the midpoint itself to the one whose last
// bit is 0. Every midpoint of every finite pair is tried, with its float neighbours on either side.

float bits_f32(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t f32_bits(float f) { return std::bit_cast<uint32_t>(f); }

struct HalfFormat {
    const char* name;
    float (*widen)(uint16_t);
    uint16_t (*narrow)(float);
    uint16_t inf;  // the bits of +Inf; every magnitude below it is finite
};

void PrintTo(const HalfFormat& h, std::ostream* os) { *os << h.name; }

const HalfFormat kHalfFormats[] = {{"bf16", bf16_to_f32, f32_to_bf16, 0x7f80}, {"f16", f16_to_f32, f32_to_f16, 0x7c00}};

class HalfRounding : public ::testing::TestWithParam<HalfFormat> {};

TEST_P(HalfRounding, NearestEvenAtEveryMidpoint) {
    const HalfFormat& h = GetParam();
    int bad = 0;
    for (uint32_t m = 0; m + 1 < h.inf && bad < 10; ++m) {
        const uint16_t a = static_cast<uint16_t>(m), b = static_cast<uint16_t>(m + 1);
        const float mid = static_cast<float>((double(h.widen(a)) + double(h.widen(b))) / 2);  // exact: one bit more than the format
        ASSERT_EQ(double(mid) * 2, double(h.widen(a)) + double(h.widen(b))) << std::hex << m;
        const uint16_t even = (m & 1u) ? b : a;
        const float below = std::nextafter(mid, 0.0f), above = std::nextafter(mid, INFINITY);
        for (uint16_t sign : {uint16_t(0), uint16_t(0x8000)}) {
            const float s = sign ? -1.0f : 1.0f;
            const uint16_t got_mid = h.narrow(s * mid), got_below = h.narrow(s * below), got_above = h.narrow(s * above);
            if (got_mid != (sign | even) || got_below != (sign | a) || got_above != (sign | b)) {
                ++bad;
                ADD_FAILURE() << h.name << std::hex << ": between 0x" << (sign | a) << " and 0x" << (sign | b) << " the midpoint "
                              << s * mid << " gave 0x" << got_mid << " (want 0x" << (sign | even) << "), below 0x" << got_below
                              << ", above 0x" << got_above;
            }
        }
    }
}

TEST_P(HalfRounding, EveryValueRoundTrips) {
    const HalfFormat& h = GetParam();
    int bad = 0;
    for (uint32_t u = 0; u <= 0xffff && bad < 10; ++u) {
        const uint16_t x = static_cast<uint16_t>(u);
        const float f = h.widen(x);
        const bool nan = (x & 0x7fff) > h.inf;
        if (nan ? !std::isnan(f) || !std::isnan(h.widen(h.narrow(f))) : h.narrow(f) != x) {
            ++bad;
            ADD_FAILURE() << h.name << std::hex << ": 0x" << u << " -> " << f << " -> 0x" << h.narrow(f);
        }
    }
}

TEST_P(HalfRounding, InfinityAndNaN) {
    const HalfFormat& h = GetParam();
    EXPECT_EQ(h.narrow(INFINITY), h.inf);
    EXPECT_EQ(h.narrow(-INFINITY), h.inf | 0x8000);
    EXPECT_EQ(h.widen(h.inf), INFINITY);
    EXPECT_EQ(h.widen(h.inf | 0x8000), -INFINITY);
    // A NaN stays a NaN, keeping its sign, also when its payload lies only in bits the format drops
    // (truncating 0x7f800001 would give Inf).
    for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0x7fa00000u, 0xffc00000u, 0xff800001u}) {
        const uint16_t x = h.narrow(bits_f32(nan));
        EXPECT_GT(x & 0x7fff, h.inf) << std::hex << nan << " -> " << x;
        EXPECT_EQ(x & 0x8000, (nan >> 16) & 0x8000) << std::hex << nan;
        EXPECT_TRUE(std::isnan(h.widen(x)));
    }
}

INSTANTIATE_TEST_SUITE_P(Half, HalfRounding, ::testing::ValuesIn(kHalfFormats),
                         [](const ::testing::TestParamInfo<HalfFormat>& i) { return std::string(i.param.name); });

TEST(Half, Bf16KeepsTheF32Exponent) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
    EXPECT_EQ(f32_bits(bf16_to_f32(0x3f81)), 0x3f810000u);
    EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);  // ties to even
    EXPECT_EQ(f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);
    EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808001)), 0x3f81);
    // Overflow: the largest float is above the last midpoint and rounds to Inf.
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
    EXPECT_EQ(f32_to_bf16(bits_f32(0x7f7f7fff)), 0x7f7f);
    // f32 subnormals are bf16 subnormals.
    EXPECT_EQ(f32_to_bf16(bits_f32(0x00010000)), 0x0001);
    EXPECT_EQ(f32_bits(bf16_to_f32(0x0001)), 0x00010000u);
    EXPECT_EQ(f32_to_bf16(bits_f32(0x00008000)), 0x0000);
    EXPECT_EQ(f32_to_bf16(bits_f32(0x80018000)), 0x8002);
    EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
}

TEST(Half, F16RangeAndSubnormals) {
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
    EXPECT_EQ(f16_to_f32(0x3555), 0x1.554p-2f);
    EXPECT_EQ(f32_to_f16(2.0f - 0x1p-12f), 0x4000);  // rounding up carries into the exponent
    // The largest finite value is 65504; 65520 is the midpoint to the next power of two and goes to Inf.
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
    EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
    // Subnormals: 2^-24 is the smallest, 2^-25 the midpoint to zero (ties to even: zero), 2^-14 the
    // smallest normal; anything below half the smallest subnormal is a signed zero.
    EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
    EXPECT_EQ(f16_to_f32(0x03ff), 1023 * 0x1p-24f);
    EXPECT_EQ(f16_to_f32(0x0400), 0x1p-14f);
    EXPECT_EQ(f16_to_f32(0x8200), -0x1p-15f);
    EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);
    EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);
    EXPECT_EQ(f32_to_f16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
    EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);
    EXPECT_EQ(f32_to_f16(2047 * 0x1p-25f), 0x0400);  // the midpoint of the largest subnormal and 2^-14
    EXPECT_EQ(f32_to_f16(0x1p-30f), 0x0000);
    EXPECT_EQ(f32_to_f16(-0x1p-30f), 0x8000);
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

// ============================================================================ [dtype]

TEST(DType, ToF32WidensEveryElement) {
    const std::vector<uint16_t> bf = {0x3f80, 0xc040, 0x0001, 0x7f80, 0xffc1};
    const std::vector<uint16_t> h = {0x3c00, 0xc200, 0x0001, 0x7c00, 0xfe01};
    const std::vector<float> f = {1.0f, -3.0f, 0x1p-24f, INFINITY, 0.5f};
    std::vector<float> out(5, -7.0f);
    to_f32(DType::bf16, bf.data(), 5, out.data());
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(f32_bits(out[i]), f32_bits(bf16_to_f32(bf[i]))) << i;
    to_f32(DType::f16, h.data(), 5, out.data());
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(f32_bits(out[i]), f32_bits(f16_to_f32(h[i]))) << i;
    EXPECT_EQ(out[1], -3.0f);
    EXPECT_TRUE(std::isnan(out[4]));
    to_f32(DType::f32, f.data(), 4, out.data());
    EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 4), (std::vector<float>{1.0f, -3.0f, 0x1p-24f, INFINITY}));
    EXPECT_TRUE(std::isnan(out[4])) << "n = 4 wrote a fifth element";
}

// ============================================================================ [npy]

template <typename T>
void expect_npy_round_trip(const fs::path& dir, const std::vector<int64_t>& shape, const std::vector<T>& v) {
    SCOPED_TRACE(::testing::Message() << npy_descr<T>() << " of " << v.size() << " elements, rank " << shape.size());
    const std::string p = (dir / "a.npy").string();
    write_npy(p, shape, v);
    EXPECT_FALSE(fs::exists(p + ".tmp"));
    const NpyArray a = read_npy(p);
    EXPECT_EQ(a.descr, npy_descr<T>());
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.size(), static_cast<int64_t>(v.size()));
    EXPECT_EQ(a.item_size(), sizeof(T));
    ASSERT_EQ(a.data.size(), v.size() * sizeof(T));
    if (!v.empty()) {
        EXPECT_EQ(std::memcmp(a.data.data(), v.data(), a.data.size()), 0);
    }
    // The data starts on a 64-byte boundary (the format's rule, so numpy can map it aligned).
    EXPECT_EQ((fs::file_size(p) - a.data.size()) % 64, 0u);
}

TEST(Npy, EveryDtypeAndShapeRoundTrips) {
    const fs::path dir = test::temp_dir("core-npy");
    for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{}, {0}, {7}, {2, 3}, {2, 0, 3}, {1, 3, 1, 2}}) {
        int64_t n = 1;
        for (int64_t s : shape) n *= s;
        std::vector<float> f(static_cast<size_t>(n));
        std::vector<double> d(f.size());
        std::vector<int32_t> i4(f.size());
        std::vector<int64_t> i8(f.size());
        std::vector<uint16_t> u2(f.size());
        std::vector<uint8_t> u1(f.size());
        for (size_t i = 0; i < f.size(); ++i) {
            f[i] = i == 1 ? NAN : -1.5f * static_cast<float>(i) + 0.25f;
            d[i] = i == 2 ? -INFINITY : 1e300 / static_cast<double>(i + 1);
            i4[i] = static_cast<int32_t>(i) * -100000007;
            i8[i] = (int64_t(1) << 62) - static_cast<int64_t>(i);
            u2[i] = static_cast<uint16_t>(0xfff0 + i);
            u1[i] = static_cast<uint8_t>(250 + i);
        }
        expect_npy_round_trip(dir, shape, f);
        expect_npy_round_trip(dir, shape, d);
        expect_npy_round_trip(dir, shape, i4);
        expect_npy_round_trip(dir, shape, i8);
        expect_npy_round_trip(dir, shape, u2);
        expect_npy_round_trip(dir, shape, u1);
    }
    fs::remove_all(dir);
}

TEST(Npy, HeaderIsWhatNumpyWrites) {
    const std::string h = npy_header("<f4", {2, 3});
    EXPECT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    EXPECT_EQ(size_t(uint8_t(h[8])) | size_t(uint8_t(h[9])) << 8, h.size() - 10);
    EXPECT_EQ(h.size() % 64, 0u);
    EXPECT_EQ(h.back(), '\n');
    EXPECT_THAT(h, HasSubstr("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    EXPECT_THAT(npy_header("<i8", {5}), HasSubstr("'shape': (5,)"));  // a 1-tuple keeps its comma
    EXPECT_THAT(npy_header("|u1", {}), HasSubstr("'shape': ()"));
}

TEST(Npy, ConvertingAccessors) {
    const fs::path dir = test::temp_dir("core-npy-convert");
    const std::string p = (dir / "a.npy").string();
    const std::vector<uint16_t> halves = {0x3c00, 0xc000, 0x0001, 0x7c00};
    write_npy(p, "<f2", {2, 2}, halves.data(), halves.size() * 2);
    EXPECT_EQ(read_npy(p).as_f32(), (std::vector<float>{1.0f, -2.0f, 0x1p-24f, INFINITY}));
    write_npy(p, {3}, std::vector<int32_t>{-5, 0, 2147483647});
    EXPECT_EQ(read_npy(p).as_i64(), (std::vector<int64_t>{-5, 0, 2147483647}));
    EXPECT_EQ(read_npy(p).as_f64(), (std::vector<double>{-5.0, 0.0, 2147483647.0}));
    write_npy(p, {2}, std::vector<double>{0.1, -3.0});
    EXPECT_EQ(read_npy(p).as_f32(), (std::vector<float>{0.1f, -3.0f}));
    const std::vector<uint8_t> complex(16, 0);
    write_npy(p, "<c8", {2}, complex.data(), complex.size());
    EXPECT_EQ(read_npy(p).shape, (std::vector<int64_t>{2}));  // read as bytes,
    EXPECT_THAT(message_of([&] { read_npy(p).as_f32(); }), HasSubstr("cannot convert .npy dtype '<c8' to float32"));  // not converted
    fs::remove_all(dir);
}

// A .npy image: magic, version `major`, the header dict (padded like numpy's), then `data`.
std::string npy_image(const std::string& dict, const std::string& data, int major = 1) {
    const size_t prefix = major == 1 ? 10 : 12;
    std::string h = dict;
    h.append((64 - (prefix + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    for (size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
    return out + h + data;
}

std::string npy_error(const std::string& image) {
    return message_of([&] { parse_npy(reinterpret_cast<const uint8_t*>(image.data()), image.size(), "x/a.npy"); });
}

TEST(Npy, ParsesVersion2AndNumpySpacing) {
    const std::string data(24, '\x01');
    const std::string image = npy_image("{'descr':'<i4','fortran_order':False,'shape':(3,2)}", data, 2);
    const NpyArray a = parse_npy(reinterpret_cast<const uint8_t*>(image.data()), image.size(), "x/a.npy");
    EXPECT_EQ(a.descr, "<i4");
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(a.data, std::vector<uint8_t>(24, 1));
}

TEST(Npy, RefusesWhatItCannotRead) {
    const std::string f4x4(16, '\0');
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    ASSERT_EQ(npy_error(npy_image(dict, f4x4)), "(no error)");
    auto with = [&](const std::string& from, const std::string& to) {
        std::string d = dict;
        d.replace(d.find(from), from.size(), to);
        return npy_image(d, f4x4);
    };
    EXPECT_EQ(npy_error(with("False", "True")), "x/a.npy: Fortran-order .npy arrays are not supported");
    EXPECT_EQ(npy_error(with("<f4", ">f4")), "x/a.npy: big-endian .npy arrays are not supported");
    EXPECT_EQ(npy_error("\x93NUMPX" + npy_image(dict, f4x4).substr(6)), "x/a.npy: not a .npy file (bad magic)");
    EXPECT_EQ(npy_error("\x93NUMPY"), "x/a.npy: not a .npy file (bad magic)");
    std::string v4 = npy_image(dict, f4x4);
    v4[6] = 4;
    EXPECT_EQ(npy_error(v4), "x/a.npy: unsupported .npy version 4");
    EXPECT_EQ(npy_error(npy_image(dict, f4x4).substr(0, 40)), "x/a.npy: truncated .npy header");
    EXPECT_EQ(npy_error(npy_image(dict, f4x4.substr(4))), "x/a.npy: truncated .npy data: shape (2, 2) of '<f4' needs more than the 12 bytes the file has");
    EXPECT_EQ(npy_error(with("'shape': (2, 2), ", "")), "x/a.npy: .npy header lacks 'shape'");
    EXPECT_EQ(npy_error(with("'descr': '<f4', ", "")), "x/a.npy: .npy header lacks 'descr'");
    // Shapes that are not sizes, or whose byte count does not fit: refused, never read past the data.
    EXPECT_THAT(npy_error(with("(2, 2)", "[2, 2]")), HasSubstr("x/a.npy: bad shape"));
    EXPECT_THAT(npy_error(with("(2, 2)", "(2, 'a')")), HasSubstr("x/a.npy: bad shape"));
    EXPECT_THAT(npy_error(with("(2, 2)", "(-2, -2)")), HasSubstr("x/a.npy: bad shape"));
    EXPECT_THAT(npy_error(with("(2, 2)", "(4611686018427387904, 4)")), HasSubstr("x/a.npy: .npy shape (4611686018427387904, 4) of '<f4' is too large"));
    EXPECT_THAT(npy_error(with("(2, 2)", "(1048576, 1048576)")), HasSubstr("x/a.npy: truncated .npy data: shape (1048576, 1048576)"));
    // A zero-size array needs no bytes, but its other dimensions may still not overflow a product
    // (found by fuzz-npy: readers multiply them).
    EXPECT_THAT(npy_error(with("(2, 2)", "(4, 9223372036854775807, 0)")), HasSubstr("x/a.npy: .npy shape (4, 9223372036854775807, 0) of '<f4' is too large"));
    const std::string empty = with("(2, 2)", "(3, 0)");
    const NpyArray a = parse_npy(reinterpret_cast<const uint8_t*>(empty.data()), empty.size(), "x/a.npy");
    EXPECT_EQ(a.size(), 0);
    EXPECT_TRUE(a.data.empty());
    EXPECT_THAT(npy_error(with("<f4", "<fx")), HasSubstr("x/a.npy: bad .npy dtype '<fx'"));
    EXPECT_THAT(message_of([] { read_npy("/nonexistent/dlmscope/a.npy"); }),
                HasSubstr("cannot open /nonexistent/dlmscope/a.npy: No such file or directory"));
}

// ============================================================================ [mmap]

void write_text(const fs::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << s;
    ASSERT_TRUE(out.good()) << p;
}

// The file's bytes as of opening it ("" when it cannot be opened).
std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary | std::ios::ate);
    std::string s(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
    in.seekg(0);
    in.read(s.data(), static_cast<std::streamsize>(s.size()));
    return s;
}

std::string mapped(const MappedFile& m) { return std::string(reinterpret_cast<const char*>(m.data()), m.size()); }

TEST(MappedFile, MapsTheWholeFile) {
    const fs::path dir = test::temp_dir("core-mmap");
    std::string text(3 * 4096 + 123, '\0');
    for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 31 + 7);
    write_text(dir / "f", text);
    const MappedFile m((dir / "f").string());
    EXPECT_EQ(m.path(), (dir / "f").string());
    EXPECT_EQ(mapped(m), text);
    // Dropped pages come back from the file when read again.
    release_mapped_range(m.data() + 100, 2 * 4096 + 50);
    EXPECT_EQ(mapped(m), text);
    m.release_pages();
    EXPECT_EQ(mapped(m), text);

    write_text(dir / "empty", "");
    const MappedFile e((dir / "empty").string());
    EXPECT_EQ(e.size(), 0u);
    EXPECT_EQ(e.data(), nullptr);
    e.release_pages();
    fs::remove_all(dir);
}

TEST(MappedFile, MovesOwnership) {
    const fs::path dir = test::temp_dir("core-mmap-move");
    write_text(dir / "a", "first file");
    write_text(dir / "b", "second");
    MappedFile a((dir / "a").string());
    MappedFile b(std::move(a));
    EXPECT_EQ(a.data(), nullptr);
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(mapped(b), "first file");
    b = MappedFile((dir / "b").string());
    EXPECT_EQ(mapped(b), "second");
    EXPECT_EQ(b.path(), (dir / "b").string());
    a = std::move(b);
    EXPECT_EQ(mapped(a), "second");
    EXPECT_EQ(b.data(), nullptr);
    fs::remove_all(dir);
}

TEST(MappedFile, NamesThePathWhenItCannotMap) {
    EXPECT_EQ(message_of([] { MappedFile m("/nonexistent/dlmscope/x.safetensors"); }),
              "cannot open /nonexistent/dlmscope/x.safetensors: No such file or directory");
    const fs::path dir = test::temp_dir("core-mmap-dir");
    EXPECT_EQ(message_of([&] { MappedFile m(dir.string()); }), dir.string() + " is not a regular file");
    fs::remove_all(dir);
}

// ============================================================================ [atomic write]

TEST(WriteFileAtomic, WritesThePartsAndReplacesTheOldFile) {
    const fs::path dir = test::temp_dir("core-atomic");
    const std::string p = (dir / "out.bin").string();
    write_text(p, std::string(10000, 'o'));
    const std::string a = "header", b(5000, '\xff');
    write_file_atomic(p, {{a.data(), a.size()}, {nullptr, 0}, {b.data(), b.size()}, {"!", 1}});
    EXPECT_EQ(read_text(p), a + b + "!");  // all of the new contents, none of the longer old ones
    EXPECT_FALSE(fs::exists(p + ".tmp"));
    write_file_atomic(p, {});
    EXPECT_EQ(fs::file_size(p), 0u);
    fs::remove_all(dir);
}

TEST(WriteFileAtomic, FailureLeavesTheOldFileAndNoTempFile) {
    const fs::path dir = test::temp_dir("core-atomic-fail");
    const std::string p = (dir / "out.bin").string();
    write_text(p, "old contents");
    const std::string big(1 << 20, 'n');
    // The temp file lands on a full device: the write fails with the system's reason.
    fs::create_symlink("/dev/full", p + ".tmp");
    EXPECT_EQ(message_of([&] { write_file_atomic(p, {{big.data(), big.size()}}); }), "cannot write " + p + ": No space left on device");
    EXPECT_EQ(read_text(p), "old contents");
    EXPECT_FALSE(fs::exists(fs::symlink_status(p + ".tmp")));
    // The rename fails (a directory is in the way): the temp file goes, the directory stays.
    const std::string d = (dir / "taken").string();
    fs::create_directories(fs::path(d) / "child");
    EXPECT_THAT(message_of([&] { write_file_atomic(d, {{"x", 1}}); }), HasSubstr("cannot rename " + d + ".tmp to " + d + ": "));
    EXPECT_FALSE(fs::exists(d + ".tmp"));
    EXPECT_TRUE(fs::is_directory(fs::path(d) / "child"));
    // The directory does not exist: nothing is created.
    EXPECT_THAT(message_of([&] { write_file_atomic((dir / "no" / "out.bin").string(), {{"x", 1}}); }),
                HasSubstr("cannot write " + (dir / "no" / "out.bin.tmp").string() + ": No such file or directory"));
    EXPECT_FALSE(fs::exists(dir / "no"));
    fs::remove_all(dir);
}

TEST(WriteFileAtomic, AReaderSeesTheOldFileOrTheNewNeverAPart) {
    // One thread rewrites the file with all-'a' and all-'b' contents of different lengths while this
    // one reads it: every read is one of the two whole files. (Writing in place would show a
    // truncated or half-overwritten file.)
    const fs::path dir = test::temp_dir("core-atomic-race");
    const std::string p = (dir / "out.bin").string();
    const std::string a(300000, 'a'), b(200000, 'b');
    write_file_atomic(p, {{a.data(), a.size()}});
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (int i = 0; i < 200; ++i) {
            const std::string& s = i % 2 ? a : b;
            write_file_atomic(p, {{s.data(), s.size() / 2}, {s.data(), s.size() - s.size() / 2}});
        }
        done = true;
    });
    int reads = 0, bad = 0;
    while (!done || reads == 0) {
        const std::string got = read_text(p);
        ++reads;
        if (got != a && got != b && ++bad <= 3) ADD_FAILURE() << "read " << got.size() << " bytes, neither file";
    }
    writer.join();
    EXPECT_EQ(bad, 0) << "of " << reads << " reads";
    EXPECT_EQ(read_text(p), a);
    fs::remove_all(dir);
}

// ============================================================================ [paths]

TEST(PathInside, RelativePathsInsideTheDirectory) {
    EXPECT_EQ(path_inside("/m", "model-00001-of-00002.safetensors", "index.json", "weight_map['x']"),
              "/m/model-00001-of-00002.safetensors");
    EXPECT_EQ(path_inside("/run", "./arrays/../arrays/step_00001.npz", "run.json", "file"), "/run/arrays/step_00001.npz");
    EXPECT_EQ(path_inside("run", "a/b.npy", "run.json", "file"), "run/a/b.npy");
}

TEST(PathInside, RefusesAbsolutePathsAndEscapes) {
    const std::string abs = message_of([] { path_inside("/m", "/etc/passwd", "/m/index.json", "weight_map['w']"); });
    EXPECT_THAT(abs, HasSubstr("/m/index.json: weight_map['w'] is the absolute path '/etc/passwd'"));
    const std::string up = message_of([] { path_inside("/m", "../secret.safetensors", "/m/index.json", "weight_map['w']"); });
    EXPECT_THAT(up, HasSubstr("'../secret.safetensors' leaves /m"));
    EXPECT_THAT(message_of([] { path_inside("/m", "a/../../b", "f", "k"); }), HasSubstr("leaves"));
    EXPECT_THAT(message_of([] { path_inside("/m", "", "f", "k"); }), HasSubstr("empty path"));
    // Going down and back up stays inside.
    EXPECT_EQ(message_of([] { path_inside("/m", "a/../b", "f", "k"); }), "(no error)");
}

// ============================================================================ [support]

// A NaN (or Inf against Inf) in an output makes max_abs_diff NaN, which fails every
// EXPECT_LT(max_abs_diff(...), tol); worse() folds differences without dropping a NaN.
TEST(TestSupport, DifferencesFailOnNaN) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(test::max_abs_diff({1.0f, 2.0f}, {1.0f, 2.5f}), 0.5);
    EXPECT_TRUE(std::isnan(test::max_abs_diff({1.0f, nan}, {1.0f, 2.0f})));
    EXPECT_TRUE(std::isnan(test::max_abs_diff({inf}, {inf})));
    EXPECT_TRUE(std::isnan(test::worse(0.1, std::nan(""))));
    EXPECT_TRUE(std::isnan(test::worse(std::nan(""), 0.1)));
    EXPECT_EQ(test::worse(0.1, 0.2), 0.2);
    EXPECT_NONFATAL_FAILURE(EXPECT_LT(test::max_abs_diff({nan}, {0.0f}), 1e-5), "max_abs_diff");
}

}  // namespace
}  // namespace dlmscope
