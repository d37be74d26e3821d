#include "capture/npz.h"

#include "core/error.h"

#include <zlib.h>

#include <cstring>
#include <span>
#include <fstream>
#include <iterator>

namespace dlmscope {

namespace {

void put16(std::vector<uint8_t>& b, uint32_t v) {
    b.push_back(static_cast<uint8_t>(v));
    b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}
uint32_t get16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t get32(const uint8_t* p) { return get16(p) | (get16(p + 2) << 16); }

// Zip's fixed date: 1980-01-01 00:00 (the members carry no meaningful time).
constexpr uint32_t kDosTime = 0, kDosDate = (0 << 9) | (1 << 5) | 1;

}  // namespace

void NpzBuilder::add(const std::string& name, const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                     size_t nbytes) {
    DLM_ASSERT(!finished_);
    const std::string header = npy_header(descr, shape);
    const size_t size = header.size() + nbytes;
    if (size > 0xffffffffu || buf_.size() + size > 0xffffffffu) fail("npz member '{}' is larger than 4 GiB", name);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(header.data()), static_cast<uInt>(header.size()));
    // crc32 takes uInt lengths: feed large buffers in pieces.
    const auto* p = static_cast<const Bytef*>(data);
    for (size_t off = 0; off < nbytes;) {
        const size_t n = std::min<size_t>(nbytes - off, 1u << 30);
        crc = crc32(crc, p + off, static_cast<uInt>(n));
        off += n;
    }
    Entry e{name + ".npy", static_cast<uint32_t>(crc), static_cast<uint32_t>(size), static_cast<uint32_t>(buf_.size())};
    put32(buf_, 0x04034b50);  // local file header
    put16(buf_, 20);          // version needed
    put16(buf_, 0);           // flags
    put16(buf_, 0);           // method: stored
    put16(buf_, kDosTime);
    put16(buf_, kDosDate);
    put32(buf_, e.crc);
    put32(buf_, e.size);
    put32(buf_, e.size);
    put16(buf_, static_cast<uint32_t>(e.name.size()));
    put16(buf_, 0);  // extra length
    buf_.insert(buf_.end(), e.name.begin(), e.name.end());
    buf_.insert(buf_.end(), header.begin(), header.end());
    buf_.insert(buf_.end(), p, p + nbytes);
    entries_.push_back(std::move(e));
}

const std::vector<uint8_t>& NpzBuilder::finish() {
    if (finished_) return buf_;
    const uint32_t cd_start = static_cast<uint32_t>(buf_.size());
    for (const Entry& e : entries_) {
        put32(buf_, 0x02014b50);  // central directory header
        put16(buf_, 20);          // version made by
        put16(buf_, 20);          // version needed
        put16(buf_, 0);
        put16(buf_, 0);
        put16(buf_, kDosTime);
        put16(buf_, kDosDate);
        put32(buf_, e.crc);
        put32(buf_, e.size);
        put32(buf_, e.size);
        put16(buf_, static_cast<uint32_t>(e.name.size()));
        put16(buf_, 0);  // extra
        put16(buf_, 0);  // comment
        put16(buf_, 0);  // disk
        put16(buf_, 0);  // internal attributes
        put32(buf_, 0);  // external attributes
        put32(buf_, e.offset);
        buf_.insert(buf_.end(), e.name.begin(), e.name.end());
    }
    const uint32_t cd_size = static_cast<uint32_t>(buf_.size()) - cd_start;
    put32(buf_, 0x06054b50);  // end of central directory
    put16(buf_, 0);
    put16(buf_, 0);
    put16(buf_, static_cast<uint32_t>(entries_.size()));
    put16(buf_, static_cast<uint32_t>(entries_.size()));
    put32(buf_, cd_size);
    put32(buf_, cd_start);
    put16(buf_, 0);
    finished_ = true;
    return buf_;
}

std::map<std::string, NpyArray> read_npz(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open {}: {}", path, std::strerror(errno));
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_npz(bytes.data(), bytes.size(), path);
}

std::map<std::string, NpyArray> parse_npz(const uint8_t* image, size_t size, const std::string& path) {
    const std::span<const uint8_t> b(image, size);
    // Find the end-of-central-directory record (it may be followed by a comment of up to 64 KiB).
    if (b.size() < 22) fail("{}: truncated .npz (no zip directory)", path);
    size_t eocd = std::string::npos;
    for (size_t i = b.size() - 22 + 1; i-- > 0 && b.size() - i <= 22 + 65535;)
        if (get32(&b[i]) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == std::string::npos) fail("{}: truncated or corrupt .npz (no end of zip directory)", path);
    const uint32_t n = get16(&b[eocd + 10]), cd_size = get32(&b[eocd + 12]), cd_off = get32(&b[eocd + 16]);
    if (static_cast<size_t>(cd_off) + cd_size > eocd) fail("{}: corrupt .npz directory", path);
    std::map<std::string, NpyArray> out;
    size_t p = cd_off;
    for (uint32_t k = 0; k < n; ++k) {
        if (p + 46 > eocd || get32(&b[p]) != 0x02014b50) fail("{}: corrupt .npz directory entry {}", path, k);
        const uint32_t method = get16(&b[p + 10]), crc = get32(&b[p + 16]), csize = get32(&b[p + 20]), usize = get32(&b[p + 24]);
        const uint32_t nlen = get16(&b[p + 28]), xlen = get16(&b[p + 30]), clen = get16(&b[p + 32]), loff = get32(&b[p + 42]);
        if (p + 46 + nlen > eocd) fail("{}: corrupt .npz directory entry {}", path, k);
        std::string name(reinterpret_cast<const char*>(&b[p + 46]), nlen);
        p += 46 + nlen + xlen + clen;
        if (static_cast<size_t>(loff) + 30 > b.size() || get32(&b[loff]) != 0x04034b50) fail("{}: member {} is corrupt", path, name);
        const size_t data = loff + 30 + get16(&b[loff + 26]) + get16(&b[loff + 28]);
        if (data + csize > b.size()) fail("{}: member {} is truncated", path, name);
        std::vector<uint8_t> raw;
        if (method == 0) {
            raw.assign(b.begin() + data, b.begin() + data + csize);
        } else if (method == 8) {
            // Deflate expands at most 1032:1; a larger declared size is a lie that must not allocate.
            if (usize > static_cast<uint64_t>(csize) * 1032 + 64)
                fail("{}: member {} claims {} bytes inflated from {} (corrupt file)", path, name, usize, csize);
            raw.resize(usize);
            z_stream zs{};
            zs.next_in = const_cast<Bytef*>(b.data() + data);
            zs.avail_in = csize;
            zs.next_out = raw.data();
            zs.avail_out = usize;
            if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) fail("{}: cannot inflate member {}", path, name);
            const int rc = inflate(&zs, Z_FINISH);
            inflateEnd(&zs);
            if (rc != Z_STREAM_END) fail("{}: member {} is corrupt (deflate error {})", path, name, rc);
        } else {
            fail("{}: member {} uses zip method {}, which is not supported", path, name, method);
        }
        if (crc32(crc32(0L, Z_NULL, 0), raw.data(), static_cast<uInt>(raw.size())) != crc)
            fail("{}: member {} fails its CRC check (corrupt file)", path, name);
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
        out.emplace(name, parse_npy(raw.data(), raw.size(), path + ":" + name));
    }
    return out;
}

}  // namespace dlmscope
