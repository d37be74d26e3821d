// dlmscope core: JSON helpers (nlohmann::json) with errors that name the file and key.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace dlmscope {

using json = nlohmann::json;

// Parses a whole JSON file; throws Error naming the path (and the parser's position) on failure.
json read_json_file(const std::string& path);

// Writes JSON atomically (temp file + rename), so a reader never sees half a file.
void write_json_file(const std::string& path, const json& j, int indent = 2);

}  // namespace dlmscope
