#include "engine/tokenizer/added-tokens.h"

#include "core/error.h"

#include <algorithm>

namespace dlmscope::tok {

AddedTokens AddedTokens::parse(const JsonNode& list) {
    AddedTokens at;
    at.tokens_.reserve(list.array().size());
    for (size_t i = 0; i < list.array().size(); ++i) {
        const JsonNode node = list.at(i);
        AddedToken t;
        t.id = node.at("id").id();
        if (t.id >= kMaxVocab) node.at("id").fail_here(fmt::format("id {} is implausibly large", t.id));
        t.content = node.at("content").string();
        if (t.content.empty()) node.at("content").fail_here("empty added token");
        t.special = node.flag("special", false);
        t.normalized = node.flag("normalized", !t.special);  // the library's default
        // These change where a token matches (swallowing neighbouring spaces, word boundaries);
        // none of the supported checkpoints uses them, so refuse rather than mis-tokenize.
        for (const char* key : {"lstrip", "rstrip", "single_word"})
            if (node.flag(key, false))
                node.at(key).fail_here(fmt::format("added token '{}' (id {}): {} = true is not supported", t.content,
                                                   t.id, key));
        at.tokens_.push_back(std::move(t));
    }
    for (uint32_t i = 0; i < at.tokens_.size(); ++i) {
        const AddedToken& t = at.tokens_[i];
        Pass& pass = t.normalized ? at.normalized_pass_ : at.raw_pass_;
        pass.by_first_byte[static_cast<uint8_t>(t.content[0])].push_back(i);
        pass.empty = false;
    }
    const auto longer = [&](uint32_t a, uint32_t b) { return at.tokens_[a].content.size() > at.tokens_[b].content.size(); };
    for (Pass* pass : {&at.raw_pass_, &at.normalized_pass_})
        for (auto& bucket : pass->by_first_byte) std::stable_sort(bucket.begin(), bucket.end(), longer);
    return at;
}

void AddedTokens::split_pass(const Pass& pass, bool split_special, std::vector<Segment>& segments) const {
    if (pass.empty) return;
    std::vector<Segment> out;
    out.reserve(segments.size());
    for (const Segment& seg : segments) {
        if (seg.id >= 0) {
            out.push_back(seg);
            continue;
        }
        const std::string_view text = seg.text;
        size_t plain_from = 0;
        for (size_t pos = 0; pos < text.size();) {
            const AddedToken* hit = nullptr;
            for (uint32_t i : pass.by_first_byte[static_cast<uint8_t>(text[pos])]) {
                const AddedToken& t = tokens_[i];
                if (split_special && t.special) continue;
                if (text.substr(pos).starts_with(t.content)) {
                    hit = &t;  // buckets are sorted longest first
                    break;
                }
            }
            if (!hit) {
                ++pos;
                continue;
            }
            if (pos > plain_from) out.push_back({text.substr(plain_from, pos - plain_from), -1});
            out.push_back({text.substr(pos, hit->content.size()), hit->id});
            pos += hit->content.size();
            plain_from = pos;
        }
        if (plain_from < text.size()) out.push_back({text.substr(plain_from), -1});
    }
    segments.swap(out);
}

std::vector<Segment> AddedTokens::split(std::string_view text, bool split_special) const {
    std::vector<Segment> segments;
    if (!text.empty()) segments.push_back({text, -1});
    split_pass(raw_pass_, split_special, segments);
    split_pass(normalized_pass_, split_special, segments);
    return segments;
}

}  // namespace dlmscope::tok
