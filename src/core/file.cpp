#include "core/file.h"

#include "core/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

std::string path_inside(const std::string& dir, const std::string& name, const std::string& source, const std::string& what) {
    namespace fs = std::filesystem;
    const fs::path p(name);
    if (name.empty()) fail("{}: {} is an empty path", source, what);
    if (p.is_absolute() || p.has_root_name() || p.has_root_directory())
        fail("{}: {} is the absolute path '{}'; only paths inside {} are read", source, what, name, dir);
    const fs::path norm = p.lexically_normal();
    if (!norm.empty() && *norm.begin() == "..")
        fail("{}: {} '{}' leaves {} (../); only paths inside it are read", source, what, name, dir);
    return (fs::path(dir) / norm).string();
}

}  // namespace dlmscope
