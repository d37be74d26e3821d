// dlmscope core: read-only memory-mapped files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dlmscope {

// A read-only mapping of a whole file. Move-only; unmaps on destruction.
// Throws Error naming the path when the file cannot be opened or mapped.
class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Drops the mapped pages from memory (they are re-read from the file if touched again):
    // called once the weights have been widened into their own buffers.
    void release_pages() const;

private:
    void reset();
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

// Drops the pages lying wholly inside [p, p + n) of a read-only file mapping from memory (they are
// re-read from the file if touched again): a weight packed into its own buffer gives back its source.
void release_mapped_range(const void* p, size_t n);

}  // namespace dlmscope
