// dlmscope core: writing files so that a reader never sees half of one.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>

namespace dlmscope {

// Writes the concatenation of `parts` to path.tmp, then renames it over path. On failure the
// temp file is removed and Error names the path and the system's reason (e.g. "No space left on
// device", "File too large"); whatever was at `path` before stays intact.
struct ConstBuffer {
    const void* data;
    size_t size;
};
void write_file_atomic(const std::string& path, std::initializer_list<ConstBuffer> parts);

}  // namespace dlmscope
