// dlmscope core: writing files so that a reader never sees half of one, and resolving the paths
// that files name.
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

// `name`, a relative path that the file `source` names under `what` (a shard in an index, an array
// in a run manifest), joined to `dir`. A path in a file is data, not permission: an absolute path, or
// one whose lexically normal form leaves `dir` (`../`), is refused with an Error naming the source,
// the key and the value. Symlinks are not resolved: the Hugging Face cache links every snapshot file
// to a blob elsewhere, and such a file stays allowed.
std::string path_inside(const std::string& dir, const std::string& name, const std::string& source, const std::string& what);

}  // namespace dlmscope
