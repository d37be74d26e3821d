#include "core/json.h"

#include "core/error.h"
#include "core/file.h"

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
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number too large for a double
        fail("{}: malformed JSON: {}", path, e.what());
    }
}

void write_json_file(const std::string& path, const json& j, int indent) {
    const std::string text = j.dump(indent, ' ', false, json::error_handler_t::replace) + "\n";
    write_file_atomic(path, {{text.data(), text.size()}});
}

}  // namespace dlmscope
