#include "core/json.h"

#include "core/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dlmscope {

json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open {}: {}", path, std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return json::parse(ss.str());
    } catch (const json::parse_error& e) {
        fail("{}: malformed JSON: {}", path, e.what());
    }
}

void write_json_file(const std::string& path, const json& j, int indent) {
    const std::string tmp = path + ".tmp";
    const std::string text = j.dump(indent, ' ', false, json::error_handler_t::replace) + "\n";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail("cannot write {}: {}", tmp, std::strerror(errno));
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int e = errno;
    if (std::fclose(f) != 0 || !ok) {
        std::remove(tmp.c_str());
        fail("cannot write {}: {}", tmp, std::strerror(e ? e : EIO));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename {} to {}: {}", tmp, path, std::strerror(errno));
}

}  // namespace dlmscope
