// dlmscope core: NumPy .npy files (format 1.0/2.0, C order, little-endian).
//
// The run directory stores every array as .npy so that numpy reads it with no dlmscope code;
// tests read the official fixtures through the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dlmscope {

// An array read from or to be written to a .npy file. `descr` is the numpy dtype string
// ("<f4", "<f8", "<i8", "<i4", "<f2", "|u1", ...); data holds the raw little-endian bytes.
struct NpyArray {
    std::string descr;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;

    int64_t size() const;        // number of elements
    size_t item_size() const;    // bytes per element, from descr

    // Converting accessors; throw Error when the dtype cannot be converted.
    std::vector<float> as_f32() const;
    std::vector<double> as_f64() const;
    std::vector<int64_t> as_i64() const;
};

// Reads a whole .npy file; throws Error naming the file on anything malformed or truncated.
NpyArray read_npy(const std::string& path);

// Parses one .npy image held in memory (`what` names it in errors).
NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& what);

// The header bytes (magic, version, dict, padding to 64 bytes) of a .npy file.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape);

// Writes an .npy file atomically (temp file + rename). Throws Error on write failure.
void write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes);

template <typename T> const char* npy_descr();
template <> inline const char* npy_descr<float>() { return "<f4"; }
template <> inline const char* npy_descr<double>() { return "<f8"; }
template <> inline const char* npy_descr<int32_t>() { return "<i4"; }
template <> inline const char* npy_descr<int64_t>() { return "<i8"; }
template <> inline const char* npy_descr<uint16_t>() { return "<u2"; }
template <> inline const char* npy_descr<uint8_t>() { return "|u1"; }

template <typename T>
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<T>& v) {
    write_npy(path, npy_descr<T>(), shape, v.data(), v.size() * sizeof(T));
}

}  // namespace dlmscope
