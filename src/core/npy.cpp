#include "core/npy.h"

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <type_traits>

namespace dlmscope {

namespace {

// Reads out.size() elements stored as In and casts each, after `to`, to Out.
template <typename In, typename Out, typename To = std::identity>
void read_elements(const uint8_t* p, std::vector<Out>& out, To to = {}) {
    for (size_t i = 0; i < out.size(); ++i) {
        In v;
        std::memcpy(&v, p + sizeof(In) * i, sizeof(In));
        out[i] = static_cast<Out>(to(v));
    }
}

template <typename Out>
std::vector<Out> convert(const NpyArray& a, const char* what) {
    // Floats are never narrowed to integers: a value out of range would be undefined behaviour,
    // and no integer array dlmscope reads (canvas, key_step, steps) is stored as floats.
    const std::string& d = a.descr;
    if (std::is_integral_v<Out> && (d == "<f4" || d == "<f8" || d == "<f2"))
        fail("cannot convert .npy dtype '{}' to {}", d, what);
    std::vector<Out> out(static_cast<size_t>(a.size()));
    const uint8_t* p = a.data.data();
    if (d == "<f4") read_elements<float>(p, out);
    else if (d == "<f8") read_elements<double>(p, out);
    else if (d == "<f2") read_elements<uint16_t>(p, out, f16_to_f32);
    else if (d == "<i8") read_elements<int64_t>(p, out);
    else if (d == "<i4") read_elements<int32_t>(p, out);
    else if (d == "<u2") read_elements<uint16_t>(p, out);
    else if (d == "|u1" || d == "|b1") read_elements<uint8_t>(p, out);
    else fail("cannot convert .npy dtype '{}' to {}", d, what);
    return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

// Bytes per element of a dtype string: byte order, kind, then the size ("<f4" -> 4, "|u1" -> 1); 0 when
// it is not one.
size_t descr_size(const std::string& descr) {
    size_t n = 0;
    const char* end = descr.data() + descr.size();
    if (descr.size() < 3 || std::from_chars(descr.data() + 2, end, n).ptr != end || n == 0 || n > 64) return 0;
    return n;
}

}  // namespace

size_t NpyArray::item_size() const {
    const size_t n = descr_size(descr);
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

    // The header is a Python dict literal; each key's value starts after its colon.
    auto field = [&](const char* key) -> std::string {
        const auto k = header.find(std::string("'") + key + "'");
        if (k == std::string::npos) fail("{}: .npy header lacks '{}'", path, key);
        const auto colon = header.find(':', k);
        const auto start = colon == std::string::npos ? colon : header.find_first_not_of(' ', colon + 1);
        if (start == std::string::npos) fail("{}: .npy header has no value for '{}'", path, key);
        return header.substr(start);
    };
    NpyArray a;
    {
        const std::string d = field("descr");
        const auto close = d.find('\'', 1);
        if (d[0] != '\'' || close == std::string::npos) fail("{}: bad descr in .npy header", path);
        a.descr = d.substr(1, close - 1);
    }
    if (field("fortran_order").rfind("False", 0) != 0) fail("{}: Fortran-order .npy arrays are not supported", path);
    {
        const std::string s = field("shape");
        const auto close = s.find(')');
        if (s[0] != '(' || close == std::string::npos) fail("{}: bad shape in .npy header", path);
        const std::string inner = s.substr(1, close - 1);
        size_t pos = 0;
        while (pos < inner.size()) {
            const auto comma = std::min(inner.find(',', pos), inner.size());
            const auto b = inner.find_first_not_of(' ', pos), e = inner.find_last_not_of(' ', comma - 1);
            if (b < comma) {  // "(3,)" ends in an empty item
                int64_t dim = -1;
                const char* end = inner.data() + e + 1;
                if (std::from_chars(inner.data() + b, end, dim).ptr != end || dim < 0)
                    fail("{}: bad shape {} in .npy header", path, s.substr(0, close + 1));
                a.shape.push_back(dim);
            }
            pos = comma + 1;
        }
    }
    if (a.descr.size() >= 1 && a.descr[0] == '>') fail("{}: big-endian .npy arrays are not supported", path);
    const size_t item = descr_size(a.descr), avail = size - (hstart + hlen);
    if (item == 0) fail("{}: bad .npy dtype '{}'", path, a.descr);
    // The product of the non-zero dimensions, in bytes, must fit in int64, even for a zero-size array:
    // readers multiply a shape's dimensions (numpy refuses such a shape too). So no count below overflows.
    uint64_t product = 1;
    for (int64_t d : a.shape) {
        if (d == 0) continue;
        if (product > static_cast<uint64_t>(INT64_MAX) / item / static_cast<uint64_t>(d))
            fail("{}: .npy shape {} of '{}' is too large", path, shape_text(a.shape), a.descr);
        product *= static_cast<uint64_t>(d);
    }
    // A zero-size array needs no bytes; a scalar, shape (), is one element.
    const uint64_t n = std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end() ? 0 : product;
    if (n * item > avail)
        fail("{}: truncated .npy data: shape {} of '{}' needs more than the {} bytes the file has", path,
             shape_text(a.shape), a.descr, avail);
    const uint8_t* data = bytes + hstart + hlen;
    a.data.assign(data, data + n * item);
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
