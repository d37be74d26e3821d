#include "core/npy.h"

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace dlmscope {

namespace {

template <typename Out>
std::vector<Out> convert(const NpyArray& a, const char* what) {
    const int64_t n = a.size();
    std::vector<Out> out(static_cast<size_t>(n));
    const uint8_t* p = a.data.data();
    const std::string& d = a.descr;
    for (int64_t i = 0; i < n; ++i) {
        if (d == "<f4") { float v; std::memcpy(&v, p + 4 * i, 4); out[i] = static_cast<Out>(v); }
        else if (d == "<f8") { double v; std::memcpy(&v, p + 8 * i, 8); out[i] = static_cast<Out>(v); }
        else if (d == "<f2") { uint16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = static_cast<Out>(f16_to_f32(v)); }
        else if (d == "<i8") { int64_t v; std::memcpy(&v, p + 8 * i, 8); out[i] = static_cast<Out>(v); }
        else if (d == "<i4") { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = static_cast<Out>(v); }
        else if (d == "<u2") { uint16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = static_cast<Out>(v); }
        else if (d == "|u1" || d == "|b1") { out[i] = static_cast<Out>(p[i]); }
        else fail("cannot convert .npy dtype '{}' to {}", d, what);
    }
    return out;
}

// A non-negative decimal integer surrounded by spaces ("3", " 12 "), or -1.
int64_t parse_count(const std::string& s) {
    const size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    if (b == std::string::npos) return -1;
    int64_t v = -1;
    const auto [end, ec] = std::from_chars(s.data() + b, s.data() + e + 1, v);
    return ec == std::errc() && end == s.data() + e + 1 && v >= 0 ? v : -1;
}

// Bytes per element of a dtype string ("<f4" -> 4), or 0 when it is not one.
size_t descr_item_size(const std::string& descr) {
    return descr.size() < 3 ? 0 : static_cast<size_t>(std::max<int64_t>(parse_count(descr.substr(2)), 0));
}

}  // namespace

size_t NpyArray::item_size() const {
    const size_t n = descr_item_size(descr);
    if (n == 0) fail("bad .npy dtype '{}'", descr);
    return n;
}

int64_t NpyArray::size() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

std::vector<float> NpyArray::as_f32() const { return convert<float>(*this, "float32"); }
std::vector<double> NpyArray::as_f64() const { return convert<double>(*this, "float64"); }
std::vector<int64_t> NpyArray::as_i64() const { return convert<int64_t>(*this, "int64"); }

NpyArray read_npy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open {}: {}", path, std::strerror(errno));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_npy(bytes.data(), bytes.size(), path);
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& path) {
    if (size < 10 || std::memcmp(bytes, "\x93NUMPY", 6) != 0) fail("{}: not a .npy file (bad magic)", path);
    const int major = bytes[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = bytes[8] | (bytes[9] << 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) fail("{}: truncated .npy header", path);
        hlen = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (size_t(bytes[11]) << 24);
        hstart = 12;
    } else {
        fail("{}: unsupported .npy version {}", path, major);
    }
    if (hstart + hlen > size) fail("{}: truncated .npy header", path);
    const std::string header(reinterpret_cast<const char*>(bytes) + hstart, hlen);

    auto field = [&](const char* key) -> std::string {
        const auto k = header.find(std::string("'") + key + "'");
        if (k == std::string::npos) fail("{}: .npy header lacks '{}'", path, key);
        auto colon = header.find(':', k);
        auto start = header.find_first_not_of(' ', colon + 1);
        return header.substr(start);
    };
    NpyArray a;
    {
        std::string d = field("descr");
        if (d.empty() || d[0] != '\'') fail("{}: bad descr in .npy header", path);
        a.descr = d.substr(1, d.find('\'', 1) - 1);
    }
    if (field("fortran_order").rfind("False", 0) != 0) fail("{}: Fortran-order .npy arrays are not supported", path);
    {
        std::string s = field("shape");
        const auto close = s.find(')');
        if (s.empty() || s[0] != '(' || close == std::string::npos) fail("{}: bad shape in .npy header", path);
        std::string inner = s.substr(1, close - 1);
        size_t pos = 0;
        while (pos < inner.size()) {
            const auto comma = inner.find(',', pos);
            const std::string tok = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            if (tok.find_first_not_of(' ') != std::string::npos) {
                const int64_t dim = parse_count(tok);
                if (dim < 0) fail("{}: bad shape in .npy header", path);
                a.shape.push_back(dim);
            }
            if (comma == std::string::npos) break;
            pos = comma + 1;
        }
    }
    if (a.descr.size() >= 1 && a.descr[0] == '>') fail("{}: big-endian .npy arrays are not supported", path);
    size_t need = descr_item_size(a.descr);
    if (need == 0) fail("{}: bad .npy dtype '{}'", path, a.descr);
    bool overflow = false;
    for (int64_t s : a.shape) overflow |= __builtin_mul_overflow(need, static_cast<size_t>(s), &need);
    if (overflow) fail("{}: .npy shape ({}) of '{}' holds more bytes than memory can", path, fmt::join(a.shape, ", "), a.descr);
    const size_t data_start = hstart + hlen;
    if (size - data_start < need)
        fail("{}: truncated .npy data: header promises {} bytes, file has {}", path, need, size - data_start);
    a.data.assign(bytes + data_start, bytes + data_start + need);
    return a;
}

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < shape.size(); ++i) {
        dict += std::to_string(shape[i]);
        if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
        if (i + 1 < shape.size()) dict += " ";
    }
    dict += "), }";
    // Pad with spaces so that magic(6)+version(2)+len(2)+dict+'\n' is a multiple of 64.
    size_t total = 10 + dict.size() + 1;
    dict.append((64 - total % 64) % 64, ' ');
    dict += '\n';
    std::string h = "\x93NUMPY";
    h += '\x01';
    h += '\x00';
    h += static_cast<char>(dict.size() & 0xff);
    h += static_cast<char>((dict.size() >> 8) & 0xff);
    return h + dict;
}

void write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes) {
    const std::string header = npy_header(descr, shape);
    write_file_atomic(path, {{header.data(), header.size()}, {data, nbytes}});
}

}  // namespace dlmscope
