// dlmscope tokenizer (internal): the "added_tokens" of tokenizer.json and cutting them out
// of the input before pre-tokenization.
//
// Matching follows the library's AddedVocabulary: exact, case-sensitive, leftmost match, the
// longest one when several start at the same byte; first the tokens with normalized = false
// on the raw text, then those with normalized = true on what is left (the same text here,
// since only a null normalizer is supported). lstrip, rstrip and single_word must be false.
// No stability guarantee.
#pragma once

#include "engine/tokenizer/json-node.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dlmscope::tok {

struct AddedToken {
    int32_t id = 0;
    std::string content;
    bool special = false;
    bool normalized = false;
};

// A stretch of input: either plain text (id < 0) or one added token.
struct Segment {
    std::string_view text;
    int32_t id = -1;
};

class AddedTokens {
public:
    // Reads the "added_tokens" array; throws Error naming the token for unsupported flags.
    static AddedTokens parse(const JsonNode& list);

    const std::vector<AddedToken>& all() const { return tokens_; }

    // Cuts text into plain and added-token segments. With split_special, special tokens are
    // not recognised (transformers' split_special_tokens=True); non-special ones still are.
    std::vector<Segment> split(std::string_view text, bool split_special) const;

private:
    // One matching pass over a set of tokens, bucketed by first byte, longest first.
    struct Pass {
        std::array<std::vector<uint32_t>, 256> by_first_byte;  // indices into tokens_
        bool empty = true;
    };
    void split_pass(const Pass& pass, bool split_special, std::vector<Segment>& segments) const;

    std::vector<AddedToken> tokens_;
    Pass raw_pass_;         // normalized = false
    Pass normalized_pass_;  // normalized = true
};

}  // namespace dlmscope::tok
