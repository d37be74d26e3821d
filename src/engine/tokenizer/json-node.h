// dlmscope tokenizer (internal): a JSON value that remembers where it came from.
//
// Every error while reading tokenizer.json must name the file and the dotted key path
// ("model.vocab", "pre_tokenizer.pretokenizers[0].pattern.Regex"), so the reader carries both
// along instead of each caller formatting them by hand. No stability guarantee.
#pragma once

#include "core/json.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace dlmscope::tok {

// The largest vocabulary (ordinary + added tokens) accepted: a guard against a corrupt id
// allocating gigabytes for the id tables.
inline constexpr int32_t kMaxVocab = 1 << 24;

class JsonNode {
public:
    JsonNode(const json& value, const std::string& file, std::string path)
        : value_(&value), file_(&file), path_(std::move(path)) {}

    // A required member: fails naming the key when absent.
    JsonNode at(std::string_view key) const;
    // An optional member; absent and null both give nullopt.
    std::optional<JsonNode> find(std::string_view key) const;
    // Element i of an array (the caller checks the size).
    JsonNode at(size_t i) const;

    // Typed reads; each fails naming the key and the value it found.
    const json::object_t& object() const;
    const json::array_t& array() const;
    std::string string() const;
    bool boolean() const;
    int32_t id() const;  // a non-negative 32-bit integer (token ids)

    // Optional boolean member with a default (absent or null -> fallback).
    bool flag(std::string_view key, bool fallback) const;
    bool is_null() const { return value_->is_null(); }
    const json& raw() const { return *value_; }
    const std::string& path() const { return path_; }
    const std::string& file() const { return *file_; }

    // Throws Error "<file>: <path>: <what>".
    [[noreturn]] void fail_here(std::string_view what) const;

private:
    const json* value_;
    const std::string* file_;
    std::string path_;
};

}  // namespace dlmscope::tok
