#include "engine/tokenizer/json-node.h"

#include "core/error.h"

namespace dlmscope::tok {

namespace {

// Long values (a whole vocab) would drown the message; show their start only.
std::string shorten(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    return s;
}

}  // namespace

void JsonNode::fail_here(std::string_view what) const {
    fail("{}: {}: {}", *file_, path_.empty() ? std::string("(top level)") : path_, what);
}

JsonNode JsonNode::at(std::string_view key) const {
    std::string child = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    if (!value_->is_object()) fail_here(fmt::format("expected an object holding key '{}', got {}", key, shorten(*value_)));
    auto it = value_->find(key);
    if (it == value_->end()) fail("{}: missing key '{}'", *file_, child);
    return JsonNode(*it, *file_, std::move(child));
}

std::optional<JsonNode> JsonNode::find(std::string_view key) const {
    if (!value_->is_object()) fail_here(fmt::format("expected an object holding key '{}', got {}", key, shorten(*value_)));
    auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) return std::nullopt;
    return JsonNode(*it, *file_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

JsonNode JsonNode::at(size_t i) const {
    return JsonNode(array().at(i), *file_, fmt::format("{}[{}]", path_, i));
}

const json::object_t& JsonNode::object() const {
    if (!value_->is_object()) fail_here(fmt::format("expected an object, got {}", shorten(*value_)));
    return value_->get_ref<const json::object_t&>();
}

const json::array_t& JsonNode::array() const {
    if (!value_->is_array()) fail_here(fmt::format("expected an array, got {}", shorten(*value_)));
    return value_->get_ref<const json::array_t&>();
}

std::string JsonNode::string() const {
    if (!value_->is_string()) fail_here(fmt::format("expected a string, got {}", shorten(*value_)));
    return value_->get<std::string>();
}

bool JsonNode::boolean() const {
    if (!value_->is_boolean()) fail_here(fmt::format("expected true or false, got {}", shorten(*value_)));
    return value_->get<bool>();
}

int32_t JsonNode::id() const {
    if (!value_->is_number_integer() || value_->get<int64_t>() < 0 || value_->get<int64_t>() > INT32_MAX)
        fail_here(fmt::format("expected a token id (non-negative 32-bit integer), got {}", shorten(*value_)));
    return static_cast<int32_t>(value_->get<int64_t>());
}

bool JsonNode::flag(std::string_view key, bool fallback) const {
    auto v = find(key);
    return v ? v->boolean() : fallback;
}

}  // namespace dlmscope::tok
