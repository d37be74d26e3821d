// dlmscope capture: .npz archives (a zip of .npy members, stored uncompressed) that numpy.load reads.
//
// Each member is written as "<name>.npy" with a local header, its CRC-32 (zlib) and a central
// directory at the end. Members larger than 4 GiB are refused (no zip64); a step's arrays are far
// smaller. The archive is built in memory and written atomically by the caller.
#pragma once

#include "core/npy.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dlmscope {

class NpzBuilder {
public:
    // Appends one array; `descr` is a numpy dtype string such as "<f4".
    void add(const std::string& name, const std::string& descr, const std::vector<int64_t>& shape, const void* data, size_t nbytes);
    // Finishes the archive (central directory) and returns its bytes.
    const std::vector<uint8_t>& finish();
    size_t size() const { return buf_.size(); }

private:
    struct Entry {
        std::string name;
        uint32_t crc = 0;
        uint32_t size = 0;
        uint32_t offset = 0;
    };
    std::vector<uint8_t> buf_;
    std::vector<Entry> entries_;
    bool finished_ = false;
};

// Reads every member of an .npz written by NpzBuilder or numpy.savez (stored or deflated).
// Throws Error naming the file and member on anything truncated or corrupt.
std::map<std::string, NpyArray> read_npz(const std::string& path);

// Parses one .npz image held in memory (`what` names it in errors); read_npz reads the file into it.
std::map<std::string, NpyArray> parse_npz(const uint8_t* data, size_t size, const std::string& what);

}  // namespace dlmscope
