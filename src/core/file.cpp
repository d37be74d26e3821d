#include "core/file.h"

#include "core/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace dlmscope {

void write_file_atomic(const std::string& path, std::initializer_list<ConstBuffer> parts) {
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail("cannot write {}: {}", tmp, std::strerror(errno));
    bool ok = true;
    int err = 0;
    for (const ConstBuffer& b : parts) {
        if (b.size == 0) continue;
        if (std::fwrite(b.data, 1, b.size, f) != b.size) {
            ok = false;
            err = errno;
            break;
        }
    }
    if (std::fflush(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (std::fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        std::remove(tmp.c_str());
        fail("cannot write {}: {}", path, std::strerror(err ? err : EIO));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        std::remove(tmp.c_str());
        fail("cannot rename {} to {}: {}", tmp, path, std::strerror(err));
    }
}

}  // namespace dlmscope
