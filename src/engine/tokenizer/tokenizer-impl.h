// dlmscope tokenizer (internal): the state behind Tokenizer, shared by tokenizer.cpp and
// chat-template.cpp. No stability guarantee.
#pragma once

#include "engine/tokenizer/added-tokens.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/pretokenize.h"
#include "engine/tokenizer/tokenizer.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace dlmscope {

struct Tokenizer::Impl {
    std::string file;  // the tokenizer.json path, for error messages
    tok::AddedTokens added;
    tok::PreTokenizer pre;
    tok::Bpe bpe;
    std::vector<int32_t> added_at;  // by id: index into added.all(), or -1 for model tokens
    std::unordered_map<std::string, int32_t> added_ids;  // content -> id
    int32_t size = 0;               // 1 + the largest id of vocab and added tokens

    const tok::AddedToken* added_token(int32_t id) const {
        return id >= 0 && id < size && added_at[id] >= 0 ? &added.all()[added_at[id]] : nullptr;
    }
};

}  // namespace dlmscope
